import Foundation
import PrefixCompute
import PrefixCore
import PrefixFormats
import PrefixStore

/// An AdapterHub (`adapters`) prefix-tuning adapter: its locations' prefixes as the
/// checkpoint's sections, on the one stored (or given) base they fit.
struct AdapterHubFormat: CheckpointFormat {
    let listing = FormatListing("adapterhub", "AdapterHub prefix-tuning adapter", .directory)

    func detect(_ path: String) -> Bool { AdapterHubPrefix.detect(path) }

    func importSource(_ source: ImportSource, into store: Store, progress: ProgressHandler?) throws -> ImportReport {
        let (path, options) = (source.path, source.options)
        let adapter = try AdapterHubPrefix(path: path)
        let width =
            adapter.mlp?.first { $0.name == "transform.2.bias" }?.tensor.shape.dimensions.first
            ?? adapter.flat.map { $0.shape.elementCount / adapter.prefixLength }
        let target = try Importer.resolveBase(store, options.base) { config in
            width == config.numLayers * 2 * config.tokenDim && (adapter.sections.count == 1 || config.encoderLayers != nil)
        }
        let content = try Self.adapterHubContent(adapter, config: target.config, path: path)
        let kinds = adapter.sections.keys.map { $0 == .decoder ? "self" : $0.rawValue }.sorted().joined(separator: ", ")
        return try Importer.finish(
            store, target: target, content: content, source: path, format: "adapterhub",
            detected:
                "AdapterHub prefix-tuning adapter '\(adapter.name)' (\(kinds); \(adapter.mlp == nil ? "flat" : "MLP materialised to keys/values, kept"); inputs at positions 0, 1, ...)",
            options: options, progress: progress)
    }
}

extension AdapterHubFormat {
    /// An AdapterHub adapter's content: each location's MLP materialised (or its flat parameters
    /// split), `self_prefix` as the decoder section, `encoder_prefix` and `cross_prefix` as the
    /// encoder and cross sections; the inputs at positions 0, 1, ... (adapters joins the keys and
    /// values inside attention, positions untouched).
    static func adapterHubContent(_ adapter: AdapterHubPrefix, config: ModelConfig, path: String) throws -> CheckpointContent {
        if adapter.sections.count > 1, config.encoderLayers == nil {
            throw FormatError(
                .inconsistent, "an AdapterHub encoder-decoder prefix (encoder_prefix, cross_prefix) on the one-stack \(config.family) base",
                path: path)
        }
        func layers(_ parameters: AdapterHubPrefix.Parameters, _ section: PrefixSection) throws -> CheckpointContent {
            var sectionConfig = config
            if section == .encoder { sectionConfig.numLayers = config.encoderLayers ?? config.numLayers }
            if let mlp = parameters.mlp { return try PrefixMLP.keyValues(mlp, config: sectionConfig, dtype: .f32) }
            guard let flat = parameters.flat else { throw FormatError(.missingKey, "no prefix parameters", path: path) }
            let rows = sectionConfig.numLayers * 2 * sectionConfig.tokenDim
            guard flat.shape.elementCount == adapter.prefixLength * rows else {
                throw FormatError(
                    .inconsistent,
                    "the \(section.rawValue) control_trans holds \(flat.shape.elementCount) values; prefix_length \(adapter.prefixLength) x \(rows) expected",
                    path: path, member: "control_trans")
            }
            let matrix = try Tensor(
                dtype: flat.dtype, shape: Shape([adapter.prefixLength, rows]), bytes: flat.withUnsafeBytes { Array($0) })
            do {
                var content = CheckpointContent(
                    form: .kv, prefixLength: adapter.prefixLength,
                    layers: try FlatKVLayout.split(
                        matrix, layers: sectionConfig.numLayers, kvHeads: sectionConfig.prefixKVHeads, headDim: sectionConfig.headDim))
                content.mlp = [NamedTensor("flat.control_trans", flat)]
                return content
            } catch {
                throw FormatError(.inconsistent, "\(error)", path: path, member: "control_trans")
            }
        }
        guard let own = adapter.sections[.decoder] else { throw FormatError(.missingKey, "no self_prefix", path: path) }
        var content = try layers(own, .decoder)
        for section in [PrefixSection.encoder, .cross] {
            guard let parameters = adapter.sections[section] else { continue }
            let part = try layers(parameters, section)
            if section == .encoder { content.encoderLayers = part.layers } else { content.crossLayers = part.layers }
            content.mlp += part.mlp.map { NamedTensor("\(section.rawValue).\($0.name)", $0.tensor) }
        }
        content.positions = PositionConvention(prefixStart: 0, inputStart: 0)
        return content
    }
}
