import Foundation
import PrefixCore
import PrefixFormats
import PrefixStore

/// Prefix tensors in a `.npz` or `.safetensors` file, in hidden or key/value form (or PEFT's
/// flat key/value tensor with `--layout flat-kv`).
struct PrefixFileFormat: CheckpointFormat {
    let listing = FormatListing("prefix-file", "prefix tensor file", .file, readsStandalone: true)

    func detect(_ path: String) -> Bool { PrefixFile.detect(path) }

    func importSource(_ source: ImportSource, into store: Store, progress: ProgressHandler?) throws -> ImportReport {
        let path = source.path
        var options = source.options
        if !options.flatKV { try CheckpointFormats.refuseDirectoryFile(path) }
        // Sized for the base when it is known before reading: a prefix larger than any that
        // base could take is refused before it is inflated.
        let known: [ModelConfig]? =
            try? options.base.map { [try Importer.resolveBase(store, $0) { _ in true }.config] } ?? store.bases().map(\.config)
        let cap = known.map { configs in configs.map(PrefixFile.maxBytes(for:)).max() ?? PrefixFile.maxBytes } ?? PrefixFile.maxBytes
        let contents = try PrefixFile.read(path: path, maxBytes: cap)
        let target = try Importer.resolveBase(store, options.base) { config in
            (try? PrefixFile.content(
                contents, path: path, flat: options.flatKV, tensor: options.tensor, layers: config.numLayers,
                kvHeads: config.prefixKVHeads, headDim: config.headDim, encoderLayers: config.encoderLayers)) != nil
        }
        let content = try Importer.fitting(options.base) {
            try PrefixFile.content(
                contents, path: path, flat: options.flatKV, tensor: options.tensor, layers: target.config.numLayers,
                kvHeads: target.config.prefixKVHeads, headDim: target.config.headDim, encoderLayers: target.config.encoderLayers)
        }
        if let fingerprint = contents.metadata["base_fingerprint"], let base = target.base, !base.fingerprint.hasPrefix(fingerprint),
            !fingerprint.isEmpty, options.base == nil
        {
            throw FormatError(
                .inconsistent,
                "the file was exported from base \(fingerprint.prefix(12)), not \(base.shortReference); pass --base to override",
                path: path)
        }
        if options.binding == nil {
            let named = contents.metadata["base_fingerprint"].map { !$0.isEmpty && target.base?.fingerprint.hasPrefix($0) == true }
            options.binding = options.base != nil ? .explicit : named == true ? .fingerprint : .shape
        }
        // An adapter config carried by the file (one PrefixKit wrote from an adapter), kept when it describes the prefix.
        if let text = contents.metadata[PrefixFile.peftConfigKey],
            let config = try? PEFTAdapter.parseConfig(Array(text.utf8), path: path),
            config.disagreement(with: content.layers, layout: content.layout) == nil
        {
            (options.adapterConfig, options.adapterBaseModel) = (text, config.baseModelNameOrPath)
        }
        let format = path.hasSuffix(".npz") ? "npz" : "safetensors"
        let detected =
            "\(format) prefix, \(options.flatKV ? "flat key/value layout" : content.form == .hidden ? "hidden form" : "key/value form")"
        return try Importer.finish(
            store, target: target, content: content, source: path, format: format, detected: detected, options: options,
            progress: progress)
    }

    func standalone(_ path: String) throws -> StandalonePrefix? {
        try CheckpointFormats.refuseDirectoryFile(path)
        let contents = try PrefixFile.read(path: path)
        let (content, encoderDecoder) = try PrefixFile.standalone(contents, path: path)
        return StandalonePrefix(
            content: content, encoderDecoder: encoderDecoder, baseFingerprint: contents.metadata["base_fingerprint"],
            peftConfig: contents.metadata[PrefixFile.peftConfigKey])
    }

    let fuzzEntries = [
        FuzzEntry("npy") { bytes, _ in _ = try NPY.decode(bytes).tensor?.doubles().count },
        FuzzEntry("npz") { bytes, scratch in _ = try NPZ.read(path: FuzzEntry.file(bytes, scratch, "input.npz")) },
    ]
}
