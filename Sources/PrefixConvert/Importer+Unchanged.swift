import PrefixCore
import PrefixStore

extension Importer {
    /// The latest step of `name` when it holds `content` on `base` already (the same form, `Pn`,
    /// positions, layout and tensors, bit for bit), so that importing it again without `--step`
    /// writes nothing; nil when the content is new.
    ///
    /// - Throws: ``PrefixStore/StorageError`` `.invalidArgument` when it is the same prefix but
    ///   `--tag` or `--parent` says something the stored step does not: that is a new step, and
    ///   needs `--step`.
    static func unchanged(_ store: Store, name: String, base: BaseInfo, content: CheckpointContent, options: ImportOptions) throws
        -> CheckpointInfo?
    {
        guard let latest = try store.checkpointIfPresent(name), latest.baseFingerprint == base.fingerprint, latest.form == content.form,
            latest.prefixLength == content.prefixLength
        else { return nil }
        // A step that no longer reads back as saved is no reason to skip the import.
        guard var stored = try? store.load(latest, verify: true) else { return nil }
        (stored.probe, stored.probeMeta) = ([], nil)
        var candidate = content
        for item in [\CheckpointContent.mlp, \CheckpointContent.head] {
            stored[keyPath: item].sort { $0.name < $1.name }
            candidate[keyPath: item].sort { $0.name < $1.name }
        }
        guard stored == candidate else { return nil }
        let parent = try options.parent.map { try store.checkpoint($0).reference }
        var differences: [String] = []
        if !options.tags.isEmpty, Set(options.tags) != Set(latest.tags) {
            differences.append("tags \(latest.tags.isEmpty ? "none" : latest.tags.joined(separator: ", "))")
        }
        if let parent, parent != latest.parent { differences.append("parent \(latest.parent ?? "none")") }
        guard differences.isEmpty else {
            throw StorageError(
                .invalidArgument,
                "\(latest.reference) holds this prefix already, with \(differences.joined(separator: " and ")): to store it again under the new --tag/--parent, pass --step N (the next free step is \(latest.step + 1))",
                reference: latest.reference)
        }
        return latest
    }
}
