import Foundation
public import PrefixCore

/// A P-tuning v2 model saved whole (`BertPrefixForSequenceClassification` and its kin): one HF
/// directory whose weights hold the frozen base (`bert.*`, `roberta.*` ...), the prefix encoder
/// (`prefix_encoder.embedding.weight [Pn, L*2*d]`, or with `prefix_projection` an embedding
/// `[Pn, d]` and the MLP `prefix_encoder.trans.{0,2}`), and the task head (`classifier.*`). The
/// prefix encoder's output is split as PEFT splits `prompt_embeddings`.
public struct PTuningV2Checkpoint: Sendable {
    /// The prefix encoder's tensors by their names in the file.
    public var prefixEncoder: [String: HFModelDirectory.Item]
    /// The task head's tensors, named without `classifier.`'s owner (`classifier.weight`).
    public var head: [HFModelDirectory.Item]
    /// The task the architecture names (sequence or token classification).
    public var task: TaskType
    /// The base's tensors: everything else.
    public var base: [HFModelDirectory.Item]

    /// Recognises P-tuning v2's names in `directory`, or returns nil.
    ///
    /// - Throws: ``FormatError`` `.inconsistent` for a prefix encoder whose architecture names no
    ///   task P-tuning v2 trains.
    public static func recognise(_ directory: HFModelDirectory, configJSON: String) throws(FormatError) -> PTuningV2Checkpoint? {
        guard directory.tensors.contains(where: { $0.name == "prefix_encoder.embedding.weight" }) else { return nil }
        let task: TaskType
        if configJSON.contains("TokenClassification") {
            task = .tokenClassification
        } else if configJSON.contains("MultipleChoice") {
            throw FormatError(
                .inconsistent, "a P-tuning v2 model for multiple choice, which PrefixKit has no head for", path: directory.path,
                member: "architectures")
        } else {
            task = .sequenceClassification
        }
        var prefix: [String: HFModelDirectory.Item] = [:], head: [HFModelDirectory.Item] = [], base: [HFModelDirectory.Item] = []
        for item in directory.tensors {
            if item.name.hasPrefix("prefix_encoder.") {
                prefix[item.name] = item
            } else if item.name.hasPrefix("classifier.") {
                head.append(item)
            } else {
                base.append(item)
            }
        }
        return PTuningV2Checkpoint(prefixEncoder: prefix, head: head, task: task, base: base)
    }

    /// The prefix encoder's MLP under PrefixKit's names (`embedding.weight`, `transform.*`), when
    /// it has one (`prefix_projection`); nil for the flat embedding.
    public func mlp() throws -> [NamedTensor]? {
        guard prefixEncoder["prefix_encoder.trans.0.weight"] != nil else { return nil }
        return try prefixEncoder.sorted { $0.key < $1.key }.map { name, item in
            NamedTensor(
                name.replacingOccurrences(of: "prefix_encoder.trans.", with: "transform.")
                    .replacingOccurrences(of: "prefix_encoder.embedding.", with: "embedding."), try item.load())
        }
    }
}
