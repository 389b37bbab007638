import Foundation
public import PrefixCore

/// A prefix-tuning adapter saved by AdapterHub's `adapters` package (`model.save_adapter`):
/// `adapter_config.json` with `"architecture": "prefix_tuning"`, and `pytorch_adapter.bin` (a
/// `torch.save` pickle, read without executing it) whose
/// `...prefix_tuning.prefix_tunings.<name>.self_prefix.*` tensors are either an MLP (`wte`,
/// `control_trans.{0,2}`: Linear -> tanh -> Linear) or, with `flat: true`, one
/// `control_trans [Pn * L * 2 * d]`; split into keys and values as PEFT splits its own. The
/// per-layer copies the file also holds under `h.<i>.attn...pool` are the same module. An
/// encoder-decoder's adapter adds `encoder_prefix` (encoder self-attention) and `cross_prefix`
/// (decoder cross-attention) beside `self_prefix` (decoder self-attention).
public struct AdapterHubPrefix: Sendable {
    /// `prefix_length`.
    public var prefixLength: Int
    /// The adapter's name.
    public var name: String
    /// One location's parameters: the MLP under PrefixKit's names (`embedding.weight`,
    /// `transform.*`), or the flat parameters (`flat: true`), `[Pn * L * 2 * d]`.
    public struct Parameters: Sendable {
        /// The MLP, or nil for flat parameters.
        public var mlp: [NamedTensor]?
        /// The flat parameters, or nil for an MLP.
        public var flat: Tensor?
    }

    /// Each section's parameters: `self_prefix` feeds (decoder) self-attention, and in an
    /// encoder-decoder `encoder_prefix` the encoder's self-attention and `cross_prefix` the
    /// decoder's cross-attention.
    public var sections: [PrefixSection: Parameters]
    /// The self-attention MLP, or nil for `flat`.
    public var mlp: [NamedTensor]? { sections[.decoder]?.mlp }
    /// The self-attention's flat parameters.
    public var flat: Tensor? { sections[.decoder]?.flat }

    /// Whether `path` is an AdapterHub prefix-tuning adapter directory.
    public static func detect(_ path: String) -> Bool {
        // Sized before it is read: a huge (or sparse) config is not read whole just to detect it.
        guard let data = try? InputFile.read(path + "/adapter_config.json", limit: 1 << 20, what: "adapter_config.json"),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let config = object["config"] as? [String: Any]
        else { return false }
        return config["architecture"] as? String == "prefix_tuning"
    }

    /// Reads the adapter at `path`.
    ///
    /// - Throws: ``FormatError`` `.unsupportedFeature` for what PrefixKit does not compute (gating,
    ///   layers left out, a non-tanh MLP, encoder or cross prefixes), `.missingKey` for tensors
    ///   the config promises, and what ``TorchCheckpoint`` refuses.
    public init(path: String) throws(FormatError) {
        let configPath = try InputFile.contained(path, "adapter_config.json")
        let data = [UInt8](try InputFile.read(configPath, limit: 1 << 20, what: "adapter_config.json"))
        guard let object = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any],
            let config = object["config"] as? [String: Any], config["architecture"] as? String == "prefix_tuning"
        else { throw FormatError(.malformedJSON, "not an AdapterHub prefix-tuning config", path: configPath) }
        func refuse(_ why: String, _ field: String) -> FormatError {
            FormatError(.unsupportedFeature, why, path: configPath, member: field)
        }
        guard let length = config["prefix_length"] as? Int, (1...65_536).contains(length) else {
            throw FormatError(.inconsistent, "prefix_length must be an integer in 1...65536", path: configPath, member: "prefix_length")
        }
        if config["use_gating"] as? Bool == true {
            throw refuse("gated prefix tuning (use_gating) is not computed by PrefixKit", "use_gating")
        }
        if let left = config["leave_out"] as? [Any], !left.isEmpty {
            throw refuse("layers left out of the prefix (leave_out) are not supported: every block takes its prefix", "leave_out")
        }
        if let activation = config["non_linearity"] as? String, activation.lowercased() != "tanh" {
            throw refuse("a prefix MLP with \(activation); PrefixKit's is tanh", "non_linearity")
        }
        let name = object["name"] as? String ?? ""
        let weights = path + "/pytorch_adapter.bin"
        guard FileManager.default.fileExists(atPath: weights) else {
            throw FormatError(.missingKey, "no pytorch_adapter.bin", path: path)
        }
        let checkpoint = try TorchCheckpoint(path: try InputFile.contained(path, "pytorch_adapter.bin"))
        var found: [PrefixSection: [String: Tensor]] = [:]
        for entry in checkpoint.entries {
            for (marker, section) in [(".self_prefix.", PrefixSection.decoder), (".encoder_prefix.", .encoder), (".cross_prefix.", .cross)]
            where entry.name.contains(".prefix_tunings.\(name)\(marker)") {
                guard let range = entry.name.range(of: marker) else { continue }
                let suffix = String(entry.name[range.upperBound...])
                // The pool's module and its per-layer references hold the same tensors: the first is kept.
                if found[section]?[suffix] == nil { found[section, default: [:]][suffix] = try checkpoint.tensor(entry) }
            }
        }
        guard let own = found[.decoder], !own.isEmpty else {
            throw FormatError(
                .missingKey, "pytorch_adapter.bin holds no prefix_tunings.\(name).self_prefix tensors", path: weights,
                member: "prefix_tunings.\(name)")
        }
        prefixLength = length
        self.name = name
        let isFlat = config["flat"] as? Bool == true
        func parameters(_ own: [String: Tensor], _ section: PrefixSection) throws(FormatError) -> Parameters {
            if isFlat {
                guard let flat = own["control_trans"] else {
                    throw FormatError(
                        .missingKey, "a flat \(section.rawValue) prefix without its control_trans", path: weights, member: "control_trans")
                }
                return Parameters(mlp: nil, flat: flat)
            }
            let wanted = [
                ("embedding.weight", "wte.weight"), ("transform.0.weight", "control_trans.0.weight"),
                ("transform.0.bias", "control_trans.0.bias"),
                ("transform.2.weight", "control_trans.2.weight"), ("transform.2.bias", "control_trans.2.bias"),
            ]
            var tensors: [NamedTensor] = []
            for (ours, theirs) in wanted {
                guard let t = own[theirs] else {
                    throw FormatError(.missingKey, "the \(section.rawValue) prefix MLP lacks \(theirs)", path: weights, member: theirs)
                }
                tensors.append(NamedTensor(ours, t))
            }
            return Parameters(mlp: tensors, flat: nil)
        }
        var sections: [PrefixSection: Parameters] = [:]
        for (section, tensors) in found { sections[section] = try parameters(tensors, section) }
        self.sections = sections
    }
}
