public import PrefixCore

/// A prefix saved by Li & Liang's `PrefixTuning` module (`torch.save` of its state dict): per
/// section an embedding `wte.weight [Pn, d]` and the reparameterisation MLP `control_trans`
/// (`Linear(d, mid) -> tanh -> Linear(mid, L*2*d)`), whose output PEFT's own layout splits into
/// each layer's keys and values. The seq2seq module adds `wte_enc` / `control_trans_enc` (encoder
/// self-attention) and `wte2` / `control_trans2` (decoder cross-attention) beside the decoder's
/// `wte` / `control_trans`.
///
/// The tensors are given PrefixKit's names for a prefix MLP (PEFT's: `embedding.weight`,
/// `transform.0.*`, `transform.2.*`), one set per section.
public struct LiLiangCheckpoint: Sendable {
    /// Each section's MLP, under PrefixKit's names.
    public var sections: [PrefixSection: [NamedTensor]]
    /// The prefix before the module's own names (`""`, or e.g. `module.`), as found.
    public var keyPrefix: String

    /// The module's names for each section: embedding, MLP.
    static let names: [(PrefixSection, String, String)] = [
        (.decoder, "wte", "control_trans"), (.encoder, "wte_enc", "control_trans_enc"), (.cross, "wte2", "control_trans2"),
    ]

    /// The file's own name of `section`'s tensor `ours` (`embedding.weight` -> `wte_enc.weight`).
    public func originalName(_ ours: String, section: PrefixSection) -> String {
        guard let (_, wte, mlp) = Self.names.first(where: { $0.0 == section }) else { return ours }
        let theirs =
            ours.hasPrefix("embedding.")
            ? wte + ours.dropFirst("embedding".count)
            : ours.hasPrefix("transform.")
                ? mlp + ours.dropFirst("transform".count) : ours
        return keyPrefix + theirs
    }

    /// Recognises Li & Liang's names among `tensors` (name -> tensor), or returns nil.
    ///
    /// - Throws: ``FormatError`` `.missingKey` for a section with some of its tensors but not all.
    public static func recognise(_ tensors: [String: Tensor], path: String) throws(FormatError) -> LiLiangCheckpoint? {
        guard let embedding = tensors.keys.sorted().first(where: { $0 == "wte.weight" || $0.hasSuffix(".wte.weight") }) else { return nil }
        let keyPrefix = String(embedding.dropLast("wte.weight".count))
        guard tensors[keyPrefix + "control_trans.0.weight"] != nil else { return nil }
        var sections: [PrefixSection: [NamedTensor]] = [:]
        for (section, wte, mlp) in names {
            let wanted = [
                ("embedding.weight", "\(wte).weight"), ("transform.0.weight", "\(mlp).0.weight"), ("transform.0.bias", "\(mlp).0.bias"),
                ("transform.2.weight", "\(mlp).2.weight"), ("transform.2.bias", "\(mlp).2.bias"),
            ]
            let found = wanted.compactMap { ours, theirs in tensors[keyPrefix + theirs].map { NamedTensor(ours, $0) } }
            if found.isEmpty { continue }
            guard found.count == wanted.count else {
                let missing = wanted.filter { tensors[keyPrefix + $0.1] == nil }.map { keyPrefix + $0.1 }
                throw FormatError(
                    .missingKey, "a Li & Liang prefix with part of its \(section.rawValue) MLP: no \(missing.joined(separator: ", "))",
                    path: path,
                    member: missing.first)
            }
            sections[section] = found
        }
        return LiLiangCheckpoint(sections: sections, keyPrefix: keyPrefix)
    }
}
