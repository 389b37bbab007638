import Foundation
import PrefixCompute
import PrefixCore
import PrefixStore

/// Structural checks: the checkpoint's shapes, dtypes and layer count against its base's
/// config, one `Pn` throughout, and the base's fingerprint recomputed from its tensors' digests.
enum Structure {
    static func checks(_ store: Store, _ info: CheckpointInfo) -> [CheckResult] {
        var problems: [String] = []
        do {
            let base = try store.base("base:" + info.baseFingerprint)
            let config = base.config
            if info.numLayers != config.numLayers {
                problems.append("the checkpoint has \(info.numLayers) layers, its base \(config.numLayers)")
            }
            let expected = config.prefixShape(info.form, prefixLength: info.prefixLength)
            let entries = try store.tensorEntries(of: info).filter { $0.role == "prefix" }
            let perLayer = info.form == .hidden ? 1 : 2
            if info.encoderLayers > 0, info.encoderLayers != config.encoderLayers {
                problems.append("the encoder section has \(info.encoderLayers) layers, the base's encoder \(config.encoderLayers ?? 0)")
            }
            if info.crossLayers > 0, info.crossLayers != config.numLayers {
                problems.append("the cross section has \(info.crossLayers) layers, the base's decoder \(config.numLayers)")
            }
            for (section, layers) in [(PrefixSection.encoder, info.encoderLayers), (.cross, info.crossLayers), (.decoder, info.numLayers)] {
                let count = entries.filter { ($0.section ?? .decoder) == section }.count
                if count != layers * (section == .cross ? 2 : perLayer) {
                    problems.append(
                        "\(count) \(section == .decoder ? "" : section.rawValue + "-section ")prefix tensors for \(layers) layers")
                }
            }
            for entry in entries {
                if entry.shape != expected { problems.append("\(entry.name) is \(entry.shape), expected \(expected)") }
                if !entry.dtype.isFloatingPoint { problems.append("\(entry.name) is \(entry.dtype)") }
            }
            if Set(entries.map { info.form == .hidden ? $0.shape.first ?? -1 : ($0.shape.count == 3 ? $0.shape[1] : -1) }).count > 1 {
                problems.append("Pn differs between layers")
            }
            let baseEntries = try store.tensorEntries(of: base)
            let recomputed = try Store.baseFingerprint(config: config, entries: baseEntries)
            if recomputed != base.fingerprint {
                problems.append("the base's fingerprint does not match its tensors (recomputed \(recomputed.prefix(12)))")
            }
            _ = try PrefixStack.checkWeights(
                config: config,
                infos: Dictionary(
                    baseEntries.map { ($0.name, TensorInfo(dtype: $0.dtype, shape: $0.shape)) },
                    uniquingKeysWith: { a, _ in a }))
        } catch {
            problems.append("\(error)")
        }
        return [
            CheckResult(
                check: .structure, status: problems.isEmpty ? .pass : .fail,
                message: problems.isEmpty ? "layer count, shapes, dtypes, Pn and base fingerprint OK" : problems.joined(separator: "; "),
                fix: problems.isEmpty ? nil : "re-import the checkpoint on the base it was trained with", evidence: .structure)
        ]
    }
}
