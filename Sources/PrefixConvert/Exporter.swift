import Foundation
public import PrefixCompute
public import PrefixCore
public import PrefixFormats
public import PrefixStore

/// The formats a checkpoint or base exports to.
public enum ExportFormat: String, Sendable, CaseIterable, Codable {
    /// A Hugging Face model directory (the base, for a checkpoint its base).
    case hf
    /// A PEFT prefix-tuning adapter directory.
    case peft
    /// Prefix tensors in safetensors.
    case safetensors
    /// Prefix tensors in NumPy .npz.
    case npz
}

/// What an export wrote.
public struct ExportReport: Sendable, Codable {
    /// The format.
    public var format: ExportFormat
    /// What was exported (`NAME@STEP` or `base:FP`).
    public var reference: String
    /// Where.
    public var path: String
    /// The files written (relative to `path` for directories).
    public var files: [String]
    /// Bytes written.
    public var bytesWritten: Int64
    /// How the prefix was converted, if it was (e.g. hidden to key/value for PEFT).
    public var conversion: String?
}

/// Exports checkpoints and bases from a store.
public enum Exporter {
    /// Exports `reference` as `format` to `out`, which must not exist yet (it is written under a
    /// temporary name and moved into place).
    ///
    /// - Parameters:
    ///   - store: the store to export from.
    ///   - reference: a checkpoint (`NAME`, `NAME@STEP`) or, for `hf`, a base (`base:FP`, alias).
    ///   - format: what to write.
    ///   - out: the file or directory to write: it must not exist unless `force`, and may not lie
    ///     inside the store.
    ///   - dtype: narrow (or widen) float tensors to this dtype; nothing changes when nil.
    ///   - maxShardSize: for `hf`, the largest shard in bytes (sharded with an index when exceeded).
    ///   - verify: check the digest of every tensor that leaves the store, while it is copied
    ///     (on another core for the base's tensors); a mismatch fails the export and nothing is
    ///     written.
    ///   - force: replace an existing `out`, once the new export is complete.
    ///   - progress: called with the bytes written so far (`hf`).
    /// - Returns: what was written, and where.
    /// - Throws: ``PrefixStore/StorageError`` (unknown reference, an existing destination, one
    ///   inside the store: usage; `.digestMismatch`), ``PrefixFormats/FormatError`` (a dtype the
    ///   format cannot hold, I/O; a digest mismatch as its `cause`), ``PrefixCompute/ComputeError``.
    public static func run(
        _ store: Store, reference: String, format: ExportFormat, out: String, dtype: DType? = nil,
        maxShardSize: Int? = nil, verify: Bool = true, force: Bool = false, progress: ((Int64) -> Void)? = nil
    ) throws -> ExportReport {
        let destination = Store.normalizePath(out)
        let absolute = URL(fileURLWithPath: destination).standardizedFileURL.resolvingSymlinksInPath().path
        let storePath = URL(fileURLWithPath: store.directory).standardizedFileURL.resolvingSymlinksInPath().path
        guard absolute != storePath, !absolute.hasPrefix(storePath + "/") else {
            throw StorageError(.invalidArgument, "the destination is inside the store: export to a path outside it", path: destination)
        }
        let exists = FileManager.default.fileExists(atPath: destination)
        if exists, !force {
            throw StorageError(.alreadyExists, "the destination exists already: pass --force to replace it", path: destination)
        }
        let parent = Paths.parent(destination)
        let name = (destination as NSString).lastPathComponent
        removeStaleTemporaries(in: parent.isEmpty ? "." : parent, for: name)
        let temporary = (parent.isEmpty ? "." : parent) + "/.\(name).tmp-\(getpid())"
        try? FileManager.default.removeItem(atPath: temporary)
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        var report: ExportReport
        do {
            report = try write(
                store, reference: reference, format: format, destination: destination, temporary: temporary, dtype: dtype,
                maxShardSize: maxShardSize, verify: verify, progress: progress)
        } catch let error as FormatError {
            // Damage found in the store is reported as such, not as a write failure.
            if let damage = error.cause as? StorageError, damage.code == .digestMismatch || damage.code == .structureMismatch {
                throw damage
            }
            throw error
        }
        do {
            // Replaced only once the new export is complete (`force`).
            if exists { try FileManager.default.removeItem(atPath: destination) }
            try FileManager.default.moveItem(atPath: temporary, toPath: destination)
        } catch {
            throw FormatError(.io, "cannot move the export into place: \(error.localizedDescription)", path: destination)
        }
        report.path = destination
        return report
    }

    /// Writes the export at `temporary`.
    private static func write(
        _ store: Store, reference: String, format: ExportFormat, destination: String, temporary: String,
        dtype: DType?, maxShardSize: Int?, verify: Bool, progress: ((Int64) -> Void)?
    ) throws -> ExportReport {
        let report: ExportReport
        switch format {
        case .hf:
            let base =
                reference.hasPrefix("base:") || (try? store.checkpoint(reference)) == nil
                ? try store.base(reference) : try store.base("base:" + store.checkpoint(reference).baseFingerprint)
            report = try exportHF(
                store, base: base, to: temporary, dtype: dtype, maxShardSize: maxShardSize, verify: verify, progress: progress)
        case .peft:
            let info = try store.checkpoint(reference)
            var conversion: String?
            var content = try store.load(info, verify: verify)
            let head = content.head.map { NamedTensor($0.name, convert($0.tensor, dtype)) }
            if info.form == .hidden {
                content = try store.stack(for: info, verify: verify).keyValuePrefix()
                conversion = "hidden -> key/value (exact: norm, key/value projections, RoPE at 0..<Pn; computed in f64)"
            }
            let base = try store.base("base:" + info.baseFingerprint)
            // The task PEFT loads the adapter for: the stored one, else the family's plain use.
            let recipe = try? Architectures.recipe(for: base.config)
            let bidirectional = recipe?.isBidirectional ?? false
            let task =
                info.task ?? (recipe?.isEncoderDecoder == true ? .seq2seqLM : bidirectional ? .featureExtraction : .causalLM)
            if content.layout != .peftSeq2Seq, recipe?.isEncoderDecoder == true {
                let (stored, note) = try peftLayers(fromDirect: content, reference: info.reference)
                content.layers = stored
                content.layout = .peftSeq2Seq
                conversion = [conversion, note].compactMap { $0 }.joined(separator: "; ")
            }
            let layers = content.layers.map { convert($0, dtype) }
            try PEFTAdapter.write(
                layers: layers, hiddenSize: base.config.hiddenSize, baseModel: Self.peftBaseModel(info, base), task: task,
                head: head, layout: content.layout, to: temporary)
            report = ExportReport(
                format: .peft, reference: info.reference, path: destination, files: ["adapter_config.json", "adapter_model.safetensors"],
                bytesWritten: directorySize(temporary), conversion: conversion)
        case .safetensors, .npz:
            let info = try store.checkpoint(reference)
            var content = try store.load(info, verify: verify)
            content.layers = content.layers.map { convert($0, dtype) }
            content.mlp = content.mlp.map { NamedTensor($0.name, convert($0.tensor, dtype)) }
            content.head = content.head.map { NamedTensor($0.name, convert($0.tensor, dtype)) }
            let sectioned = try store.base("base:" + info.baseFingerprint).config.encoderLayers != nil
            let (tensors, metadata) = PrefixFile.entries(content, baseFingerprint: info.baseFingerprint, sectioned: sectioned)
            if format == .safetensors {
                try SafetensorsWriter.write(tensors, metadata: metadata, to: temporary)
            } else {
                if let odd = tensors.first(where: { NPYHeader.descr(for: $0.tensor.dtype) == nil }) {
                    throw FormatError(
                        .unsupportedDType,
                        "NumPy cannot hold \(odd.tensor.dtype) (tensor \(odd.name)): export with --dtype f32, or to safetensors")
                }
                let meta =
                    "{" + metadata.map { "\"\($0.key)\": \(Int($0.value) != nil ? $0.value : "\"\($0.value)\"")" }.joined(separator: ", ")
                    + "}"
                try NPZ.write(tensors.map { ($0.name, .tensor($0.tensor)) } + [("meta", .strings([meta], shape: []))], to: temporary)
            }
            report = ExportReport(
                format: format, reference: info.reference, path: destination, files: [(destination as NSString).lastPathComponent],
                bytesWritten: Int64((try? FileManager.default.attributesOfItem(atPath: temporary)[.size] as? Int) ?? 0), conversion: nil)
        }
        return report
    }

    /// `config.json` describing the weights written: with `dtype`, its `dtype` / `torch_dtype`
    /// (whichever it has; `torch_dtype` when it has neither) names that dtype, as transformers
    /// spells it. Without `dtype` the file is kept byte for byte.
    static func configJSON(_ text: String, dtype: DType?) -> String {
        let names: [DType: String] = [.f64: "float64", .f32: "float32", .f16: "float16", .bf16: "bfloat16"]
        guard let dtype, let name = names[dtype],
            var object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        else { return text }
        let keys = ["dtype", "torch_dtype"].filter { object[$0] != nil }
        for key in keys.isEmpty ? ["torch_dtype"] : keys { object[key] = name }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) else { return text }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// What an exported adapter names as its base (`base_model_name_or_path`): the adapter's own
    /// value where it had one, else the Hub repository the base came from, else the base's
    /// absolute path (so that PEFT finds it offline), else its alias.
    static func peftBaseModel(_ info: CheckpointInfo, _ base: BaseInfo) -> String? {
        info.provenance.baseModelNameOrPath ?? base.provenance.repository
            ?? base.provenance.sourcePath.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? base.alias
    }

    /// The layers of PEFT's encoder-decoder layout that compute what a direct-layout checkpoint
    /// does: decoder block i's prefix at stored layer 2i mod L, exact or refused.
    ///
    /// - Throws: ``PrefixStore/StorageError`` `.invalidArgument` saying why no PEFT adapter
    ///   computes the checkpoint: an encoder or cross-attention section (PEFT has neither), or two
    ///   blocks that PEFT's layout feeds from one stored layer holding different prefixes.
    public static func peftLayers(fromDirect content: CheckpointContent, reference: String) throws -> (layers: [LayerPrefix], note: String)
    {
        func refuse(_ why: String) -> StorageError {
            StorageError(.invalidArgument, "no PEFT adapter computes this checkpoint: \(why)", reference: reference)
        }
        if !content.encoderLayers.isEmpty {
            throw refuse("it has an encoder prefix (\(content.encoderLayers.count) layers), and PEFT runs the encoder unprefixed")
        }
        if !content.crossLayers.isEmpty {
            throw refuse(
                "it has a cross-attention prefix (\(content.crossLayers.count) layers), and PEFT's cross-attention pair is dropped by transformers' cache"
            )
        }
        let count = content.layers.count
        let (stored, conflict) = PrefixLayout.peftStored(forBlocks: content.layers)
        if let (a, b) = conflict {
            throw refuse(
                "PEFT's encoder-decoder layout feeds decoder blocks \(a) and \(b) from one stored layer (2i mod \(count) = \(2 * a % count)), but their prefixes differ"
            )
        }
        let unread = stored.indices.filter { stored[$0] == nil }
        guard let first = content.layers.first else { throw refuse("it has no layers") }
        // Layers no block reads (even L): zeros of the same shape, as no computation sees them.
        let zeros = LayerPrefix.kv(
            key: try Tensor(zeros: first.parts[0].tensor.dtype, shape: first.parts[0].tensor.shape),
            value: try Tensor(zeros: first.parts[1].tensor.dtype, shape: first.parts[1].tensor.shape))
        var note = "direct -> PEFT's seq2seq layout (exact: decoder block i's prefix written at stored layer 2i mod \(count))"
        if !unread.isEmpty {
            note += "; stored layers \(unread.map(String.init).joined(separator: ", ")) are read by no block: written as zeros"
        }
        return (stored.map { $0 ?? zeros }, note)
    }

    /// Writes a base as an HF model directory: config.json, model.safetensors (or shards and an
    /// index), and the non-weight files it was imported with.
    static func exportHF(
        _ store: Store, base: BaseInfo, to directory: String, dtype: DType?, maxShardSize: Int?,
        verify: Bool, progress: ((Int64) -> Void)?
    ) throws -> ExportReport {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(Self.configJSON(base.configJSON, dtype: dtype).utf8).write(to: URL(fileURLWithPath: directory + "/config.json"))
        var files = ["config.json"]
        let entries = try store.tensorEntries(of: base)
        let items = entries.map { (entry: TensorEntry) -> SafetensorsWriter.Item in
            let target = dtype.flatMap { entry.dtype.isFloatingPoint ? $0 : nil } ?? entry.dtype
            // Uncompressed, same-dtype tensors are copied from the blob file inside the kernel.
            let range =
                target == entry.dtype ? entry.fileOffset.map { (path: store.directory + "/" + entry.blobPath, offset: Int($0)) } : nil
            let owner = base.shortReference
            // Copied ranges are hashed from the page cache on another core while earlier tensors
            // are copied; loaded tensors are hashed as they are read.
            var check: (@Sendable () throws -> Void)?
            if verify {
                check = { () throws -> Void in _ = try store.load(entry, verify: true, owner: owner) }
            }
            return SafetensorsWriter.Item(name: entry.name, dtype: target, shape: entry.shape, fileRange: range, verify: check) {
                Exporter.convert(try store.load(entry, verify: verify, owner: owner), dtype)
            }
        }
        let metadata = try store.weightsMetadata(of: base) ?? [("format", "pt")]
        var written: Int64 = 0
        let total = items.reduce(0) { $0 + $1.shape.reduce($1.dtype.byteWidth, *) }
        if let maxShardSize, total > maxShardSize {
            var shards: [[SafetensorsWriter.Item]] = [[]]
            var size = 0
            for item in items {
                let bytes = item.shape.reduce(item.dtype.byteWidth, *)
                if size + bytes > maxShardSize, !(shards.last ?? []).isEmpty {
                    shards.append([])
                    size = 0
                }
                shards[shards.count - 1].append(item)
                size += bytes
            }
            var weightMap: [String: String] = [:]
            for (i, shard) in shards.enumerated() {
                let name = String(format: "model-%05d-of-%05d.safetensors", i + 1, shards.count)
                written += try SafetensorsWriter.write(shard, metadata: metadata, to: directory + "/" + name) { progress?(written + $0) }
                for item in shard { weightMap[item.name] = name }
                files.append(name)
            }
            let map = weightMap.keys.sorted().map { "    \(SerdeJSON.quoted($0)): \(SerdeJSON.quoted(weightMap[$0] ?? ""))" }.joined(
                separator: ",\n")
            let index = "{\n  \"metadata\": {\n    \"total_size\": \(total)\n  },\n  \"weight_map\": {\n\(map)\n  }\n}\n"
            try Data(index.utf8).write(to: URL(fileURLWithPath: directory + "/model.safetensors.index.json"))
            files.append("model.safetensors.index.json")
        } else {
            written = try SafetensorsWriter.write(items, metadata: metadata, to: directory + "/model.safetensors") { progress?($0) }
            files.append("model.safetensors")
        }
        for file in try store.files(of: base, verify: verify) {
            try Data(file.bytes).write(to: URL(fileURLWithPath: directory + "/" + file.name))
            files.append(file.name)
        }
        return ExportReport(
            format: .hf, reference: base.shortReference, path: directory, files: files, bytesWritten: written, conversion: nil)
    }

    static func convert(_ layer: LayerPrefix, _ dtype: DType?) -> LayerPrefix {
        switch layer {
        case .hidden(let p): .hidden(convert(p, dtype))
        case .kv(let k, let v): .kv(key: convert(k, dtype), value: convert(v, dtype))
        }
    }

    static func convert(_ tensor: Tensor, _ dtype: DType?) -> Tensor {
        guard let dtype, tensor.dtype.isFloatingPoint, [.f64, .f32, .f16, .bf16].contains(dtype), tensor.dtype != dtype else {
            return tensor
        }
        return tensor.converted(to: dtype)
    }

    /// Removes what an export of `name` killed before its end left in `parent`: `.NAME.tmp-PID`
    /// whose process no longer runs. Only that exact hidden name is touched.
    static func removeStaleTemporaries(in parent: String, for name: String) {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] {
            // Only the hidden name an export gives its work in progress.
            let prefix = ".\(name).tmp-"
            guard entry.hasPrefix(prefix), let pid = Int32(entry.dropFirst(prefix.count)), pid > 0, pid != getpid() else { continue }
            // Alive (or not ours to signal): leave it.
            if kill(pid, 0) == 0 || errno == EPERM { continue }
            try? FileManager.default.removeItem(atPath: parent + "/" + entry)
        }
    }

    static func directorySize(_ path: String) -> Int64 {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.reduce(Int64(0)) {
            $0 + Int64((try? FileManager.default.attributesOfItem(atPath: path + "/" + $1)[.size] as? Int) ?? 0)
        }
    }
}

extension Exporter {
    /// The bytes under `path` (a file, or a directory's files), for progress totals.
    public static func sourceSize(_ path: String) -> Int64 {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return 0 }
        if isDirectory.boolValue { return directorySize(path) }
        return Int64((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
    }
}
