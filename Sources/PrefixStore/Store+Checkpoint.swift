import Foundation
import GRDB
public import PrefixCore

extension Store {
    /// Saves a checkpoint on a stored base. Only its prefix (and MLP and probe) tensors are
    /// written, and of those only the ones not already stored.
    ///
    /// The checkpoint becomes visible in one catalog transaction after its blob is durable.
    ///
    /// - Parameters:
    ///   - content: the per-layer prefix and optional MLP and probe.
    ///   - spec: name, step, base, parent, tags and provenance.
    ///   - progress: called after each tensor with the bytes processed so far.
    /// - Returns: the stored checkpoint and what the save wrote.
    /// - Throws: ``StorageError`` `.invalidArgument` when the content does not fit the base
    ///   (layer count, shapes, dtypes, names); `.notFound` for an unknown base or parent;
    ///   `.alreadyExists` for a taken `(name, step)`; `.storeLocked`; `.io`.
    @discardableResult
    public func saveCheckpoint(
        _ content: CheckpointContent, as spec: CheckpointSpec,
        progress: ProgressHandler? = nil
    ) throws(StorageError) -> CheckpointSaveResult {
        let reference = "\(spec.name)@\(spec.step)"
        do {
            try Names.validate(name: spec.name, kind: "checkpoint name")
            for tag in spec.tags { try Names.validate(name: tag, kind: "tag") }
            for item in content.mlp + content.probe + content.head { try Names.validate(tensorName: item.name) }
        } catch {
            throw StorageError(.invalidArgument, error.description, reference: reference, underlying: error)
        }
        guard spec.step >= 0 else { throw StorageError(.invalidArgument, "step must be non-negative", reference: reference) }
        let baseInfo = try base(spec.base)
        try Store.validate(content, against: baseInfo.config, reference: reference)

        let lock = try writerLock()
        defer { withExtendedLifetime(lock) {} }
        let parentID: Int64? = try spec.parent.map { parent throws(StorageError) in try checkpoint(parent).id }
        if try read({ db in
            try Int.fetchOne(db, sql: "SELECT 1 FROM checkpoint WHERE name = ? AND step = ?", arguments: [spec.name, spec.step])
        }) != nil {
            throw StorageError(.alreadyExists, "a checkpoint with this name and step already exists", reference: reference)
        }

        let layerCount = content.layers.count
        var pending: [PendingTensor] = []
        var roles: [(role: String, name: String, layer: Int?, section: PrefixSection?)] = []
        // An encoder-decoder's sections are named (`decoder.layer_00.key`, `/prefix/decoder/...`);
        // a decoder's or an encoder's one section keeps the plain names it always had.
        let sectioned = baseInfo.config.encoderLayers != nil
        for section in PrefixSection.allCases {
            let layers = content.layers(section)
            for (layer, prefix) in layers.enumerated() {
                let label = (sectioned ? section.rawValue + "." : "") + layerLabel(layer, layerCount: layers.count)
                let path = "/prefix/" + label.replacingOccurrences(of: ".", with: "/")
                for part in prefix.parts {
                    let name = part.suffix.isEmpty ? label : "\(label).\(part.suffix)"
                    let dataset = part.suffix.isEmpty ? path : "\(path)/\(part.suffix)"
                    pending.append(PendingTensor(key: name, dataset: dataset, tensor: LazyTensor(NamedTensor(name, part.tensor))))
                    roles.append(("prefix", name, layer, section))
                }
            }
        }
        for item in content.mlp {
            pending.append(PendingTensor(key: "mlp.\(item.name)", dataset: "/mlp/\(item.name)", tensor: LazyTensor(item)))
            roles.append(("mlp", item.name, nil, nil))
        }
        for item in content.probe {
            pending.append(PendingTensor(key: "probe.\(item.name)", dataset: "/probe/\(item.name)", tensor: LazyTensor(item)))
            roles.append(("probe", item.name, nil, nil))
        }
        for item in content.head {
            pending.append(PendingTensor(key: "head.\(item.name)", dataset: "/head/\(item.name)", tensor: LazyTensor(item)))
            roles.append(("head", item.name, nil, nil))
        }

        let batch = try writeBatch(pending, progress: progress)
        let id: Int64
        do {
            id = try write { db -> Int64 in
                let ids = try batch.insert(db)
                var record = CheckpointRecord(
                    id: nil, name: spec.name, step: spec.step, baseFingerprint: baseInfo.fingerprint, parentId: parentID,
                    form: content.form.rawValue, prefixLength: content.prefixLength, numLayers: layerCount,
                    prefixStart: content.positions.prefixStart, inputStart: content.positions.inputStart,
                    hasMlp: !content.mlp.isEmpty, probeMeta: content.probeMeta, createdAt: Store.timestamp(),
                    sourceFormat: spec.provenance.sourceFormat, sourcePath: spec.provenance.sourcePath,
                    toolVersion: spec.provenance.toolVersion, taskType: content.task?.rawValue, prefixLayout: content.layout.rawValue,
                    encoderLayers: content.encoderLayers.count, crossLayers: content.crossLayers.count,
                    encoderPrefixStart: content.encoderPositions.prefixStart, encoderInputStart: content.encoderPositions.inputStart,
                    provenanceDetail: spec.provenance.detailJSON)
                try record.insert(db)
                let checkpointID = record.id ?? -1
                for tag in Set(spec.tags) { try CheckpointTagRecord(checkpointId: checkpointID, tag: tag).insert(db) }
                for (ordinal, (role, tensorID)) in zip(roles, ids).enumerated() {
                    try CheckpointTensorRecord(
                        checkpointId: checkpointID, role: role.role, name: role.name,
                        layer: role.layer, ordinal: ordinal, tensorId: tensorID, section: role.section?.rawValue
                    ).insert(db)
                }
                FaultInjection.point("save checkpoint: catalog rows inserted, before commit")
                return checkpointID
            }
        } catch {
            discard(batch)
            if error.code == .database, let db = error.underlying as? DatabaseError, db.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                throw StorageError(.alreadyExists, "a checkpoint with this name and step already exists", reference: reference)
            }
            throw error
        }
        FaultInjection.point("save checkpoint: committed")
        // After the commit: a manifest never describes rows that were not committed. Best
        // effort: the save stands without it, and check lists checkpoints that lack one.
        try? writeCheckpointManifest(id)
        let info = try read { db in try Store.checkpointInfo(db, id: id) }
        return CheckpointSaveResult(checkpoint: info, summary: batch.summary)
    }

    /// Checks that `content` fits a base with `config`.
    static func validate(_ content: CheckpointContent, against config: ModelConfig, reference: String) throws(StorageError) {
        func fail(_ message: String, tensor: String? = nil) -> StorageError {
            StorageError(.invalidArgument, message, reference: reference, tensor: tensor)
        }
        let pn = content.prefixLength
        guard pn > 0 else { throw fail("prefix length must be positive, found \(pn)") }
        guard content.layers.count == config.numLayers else {
            let blocks = config.encoderLayers == nil ? "layers" : "decoder blocks"
            throw fail("the base has \(config.numLayers) \(blocks) but the checkpoint holds \(content.layers.count) prefixes")
        }
        try validateSections(content, against: config, reference: reference)
        guard content.positions.prefixStart >= 0, content.positions.inputStart >= 0 else {
            throw fail("positions must be non-negative")
        }
        for (section, layers) in PrefixSection.allCases.map({ ($0, content.layers($0)) }) {
            for (layer, prefix) in layers.enumerated() {
                let label = (section == .decoder ? "" : section.rawValue + ".") + layerLabel(layer, layerCount: layers.count)
                guard prefix.form == content.form else {
                    throw fail("layer is in \(prefix.form) form but the checkpoint is \(content.form)", tensor: label)
                }
                let expected = config.prefixShape(prefix.form, prefixLength: pn)
                for part in prefix.parts {
                    let name = part.suffix.isEmpty ? label : "\(label).\(part.suffix)"
                    guard part.tensor.dtype.isFloatingPoint else {
                        throw fail("prefix tensors must be floating point, found \(part.tensor.dtype)", tensor: name)
                    }
                    guard part.tensor.shape.dimensions == expected else {
                        throw fail("expected shape \(expected), found \(part.tensor.shape)", tensor: name)
                    }
                }
            }
        }
        if !content.head.isEmpty {
            guard let task = content.task, task.hasHead else {
                throw fail("a task head needs a task with one (SEQ_CLS, TOKEN_CLS), found \(content.task?.rawValue ?? "none")")
            }
            do {
                _ = try Architectures.named(config.family).checkedHead(task, config: config, tensors: content.head)
            } catch {
                throw fail("the \(task) head does not fit the \(config.family) base: \(error.message)", tensor: error.field)
            }
        }
    }

    /// Checks an encoder-decoder's sections and layout against `config`: only an encoder-decoder
    /// has encoder or cross-attention layers (one per encoder block, one per decoder block), and
    /// PEFT's layout has neither.
    static func validateSections(_ content: CheckpointContent, against config: ModelConfig, reference: String) throws(StorageError) {
        func fail(_ message: String) -> StorageError { StorageError(.invalidArgument, message, reference: reference) }
        guard let encoderBlocks = config.encoderLayers else {
            guard content.layout == .direct, content.encoderLayers.isEmpty, content.crossLayers.isEmpty else {
                throw fail(
                    "the \(config.family) base has one stack: encoder, cross-attention and PEFT encoder-decoder prefixes need an encoder-decoder"
                )
            }
            return
        }
        if content.layout == .peftSeq2Seq, !content.encoderLayers.isEmpty || !content.crossLayers.isEmpty {
            throw fail("PEFT's encoder-decoder layout feeds only decoder self-attention: it holds no encoder or cross-attention section")
        }
        if !content.encoderLayers.isEmpty, content.encoderLayers.count != encoderBlocks {
            throw fail(
                "the base's encoder has \(encoderBlocks) blocks but the encoder section holds \(content.encoderLayers.count) prefixes")
        }
        if !content.crossLayers.isEmpty, content.crossLayers.count != config.numLayers {
            throw fail(
                "the base's decoder has \(config.numLayers) blocks but the cross section holds \(content.crossLayers.count) prefixes")
        }
        if !content.crossLayers.isEmpty, content.form != .kv {
            throw fail("a cross-attention prefix is keys and values: a hidden-form checkpoint cannot hold one")
        }
        guard content.encoderPositions.prefixStart >= 0, content.encoderPositions.inputStart >= 0 else {
            throw fail("encoder positions must be non-negative")
        }
    }

    /// Every stored checkpoint, by name then step.
    ///
    /// - Throws: ``StorageError`` on a catalog failure.
    public func checkpoints() throws(StorageError) -> [CheckpointInfo] {
        try read { db in
            try Int64.fetchAll(db, sql: "SELECT id FROM checkpoint ORDER BY name, step").map { try Store.checkpointInfo(db, id: $0) }
        }
    }

    /// The other steps of `name`: the `limit` nearest to `step` (excluding it), nearest first,
    /// the earlier step first at equal distance.
    ///
    /// - Throws: ``StorageError`` on a catalog failure.
    public func checkpoints(named name: String, nearestTo step: Int, limit: Int) throws(StorageError) -> [CheckpointInfo] {
        try read { db in
            try Int64.fetchAll(
                db,
                sql: "SELECT id FROM checkpoint WHERE name = ? AND step != ? ORDER BY abs(step - ?), step LIMIT ?",
                arguments: [name, step, step, max(0, limit)]
            ).map { try Store.checkpointInfo(db, id: $0) }
        }
    }

    /// The checkpoint a reference names: `NAME` (its latest step) or `NAME@STEP`.
    ///
    /// - Throws: ``StorageError`` `.notFound`.
    public func checkpoint(_ reference: String) throws(StorageError) -> CheckpointInfo {
        try read { db in try Store.resolveCheckpoint(db, reference) }
    }

    /// The checkpoint a reference names, or `nil` when the store has none by that reference: the
    /// question "is it there?" without hiding a catalog that cannot be read.
    ///
    /// - Throws: ``StorageError`` for anything but `.notFound` (a damaged or hostile catalog).
    public func checkpointIfPresent(_ reference: String) throws(StorageError) -> CheckpointInfo? {
        do {
            return try checkpoint(reference)
        } catch  where error.code == .notFound {
            return nil
        }
    }

    static func resolveCheckpoint(_ db: Database, _ reference: String) throws -> CheckpointInfo {
        let parts = reference.split(separator: "@", omittingEmptySubsequences: false)
        let id: Int64?
        if parts.count == 2, let step = Int(parts[1]) {
            id = try Int64.fetchOne(db, sql: "SELECT id FROM checkpoint WHERE name = ? AND step = ?", arguments: [String(parts[0]), step])
        } else if parts.count == 1 {
            id = try Int64.fetchOne(db, sql: "SELECT id FROM checkpoint WHERE name = ? ORDER BY step DESC LIMIT 1", arguments: [reference])
        } else {
            throw StorageError(
                .notFound, "malformed checkpoint reference '\(Names.printable(reference))' (expected NAME or NAME@STEP)",
                reference: reference)
        }
        guard let id else {
            let name = String(parts[0])
            throw StorageError(
                .notFound, "no checkpoint '\(Names.printable(reference))' in the store" + (try suggestion(db, name: name)),
                reference: reference)
        }
        return try checkpointInfo(db, id: id)
    }

    /// What to try instead of the missing checkpoint `reference` (`": run1 has steps 10, 20"`,
    /// `"; did you mean 'run1'?"`), or `""`.
    public func suggestion(forCheckpoint reference: String) -> String {
        let name = String(reference.split(separator: "@", omittingEmptySubsequences: false).first ?? "")
        return (try? read { db in try Store.suggestion(db, name: name) }) ?? ""
    }

    /// What to try instead of a missing checkpoint: the steps its name has, else the nearest
    /// names (edit distance), else nothing.
    static func suggestion(_ db: Database, name: String) throws -> String {
        let steps = try Int.fetchAll(db, sql: "SELECT step FROM checkpoint WHERE name = ? ORDER BY step", arguments: [name])
        if !steps.isEmpty {
            let shown =
                steps.count > 12 ? steps.prefix(6).map(String.init) + ["..."] + steps.suffix(5).map(String.init) : steps.map(String.init)
            return ": \(Names.printable(name)) has step\(steps.count == 1 ? "" : "s") \(shown.joined(separator: ", "))"
        }
        let names = try String.fetchAll(db, sql: "SELECT DISTINCT name FROM checkpoint")
        let near = names.map { ($0, editDistance($0, name)) }.filter { $0.1 <= max(2, name.count / 3) }.sorted {
            ($0.1, $0.0) < ($1.1, $1.0)
        }
        guard !near.isEmpty else { return names.isEmpty ? " (the store holds no checkpoint)" : "" }
        return "; did you mean \(near.prefix(3).map { "'\($0.0)'" }.joined(separator: ", "))?"
    }

    /// Levenshtein distance, for names (short strings).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, y) in b.enumerated() { current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)) }
            previous = current
        }
        return previous[b.count]
    }

    static func checkpointInfo(_ db: Database, id: Int64) throws -> CheckpointInfo {
        guard let record = try CheckpointRecord.fetchOne(db, key: id), let form = PrefixForm(rawValue: record.form),
            let layout = PrefixLayout(rawValue: record.prefixLayout)
        else {
            throw StorageError(.corruptCatalog, "checkpoint row \(id) is missing or has an unknown form or prefix layout")
        }
        let parent = try record.parentId.flatMap { parentID in
            try Row.fetchOne(db, sql: "SELECT name, step FROM checkpoint WHERE id = ?", arguments: [parentID])
        }.map { row -> String in
            let name: String = row["name"]
            let step: Int = row["step"]
            return "\(name)@\(step)"
        }
        let tags = try String.fetchAll(db, sql: "SELECT tag FROM checkpoint_tag WHERE checkpoint_id = ? ORDER BY tag", arguments: [id])
        let hasProbe =
            try Int.fetchOne(
                db, sql: "SELECT 1 FROM checkpoint_tensor WHERE checkpoint_id = ? AND role = 'probe' LIMIT 1",
                arguments: [id]) != nil
        var provenance = Provenance(sourceFormat: record.sourceFormat, sourcePath: record.sourcePath, toolVersion: record.toolVersion)
        provenance.read(detail: record.provenanceDetail)
        let bytes =
            try Int64.fetchOne(
                db,
                sql:
                    "SELECT coalesce(sum(t.byte_length), 0) FROM checkpoint_tensor ct JOIN tensor t ON t.id = ct.tensor_id WHERE ct.checkpoint_id = ?",
                arguments: [id]) ?? 0
        return CheckpointInfo(
            id: id, name: record.name, step: record.step, baseFingerprint: record.baseFingerprint,
            parent: parent, tags: tags, form: form, prefixLength: record.prefixLength,
            numLayers: record.numLayers,
            positions: PositionConvention(prefixStart: record.prefixStart, inputStart: record.inputStart),
            hasMLP: record.hasMlp, hasProbe: hasProbe, task: record.taskType.map(TaskType.init(rawValue:)), createdAt: record.createdAt,
            provenance: provenance,
            layout: layout, encoderLayers: record.encoderLayers, crossLayers: record.crossLayers,
            encoderPositions: PositionConvention(prefixStart: record.encoderPrefixStart, inputStart: record.encoderInputStart),
            byteCount: bytes)
    }
}
