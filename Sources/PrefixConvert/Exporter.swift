import Foundation
import PrefixCompute
public import PrefixCore
import PrefixFormats
public import PrefixStore
import PrefixStoreRules

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
    /// The base an `hf` export of `reference` writes: the base itself (`base:FP` or an alias), or
    /// the base a checkpoint reference is on.
    ///
    /// - Throws: ``PrefixStore/StorageError`` `.notFound` when neither names anything.
    public static func base(for reference: String, in store: Store) throws(StorageError) -> BaseInfo {
        if !reference.hasPrefix("base:"), let checkpoint = try store.checkpointIfPresent(reference) {
            return try store.base("base:" + checkpoint.baseFingerprint)
        }
        return try store.base(reference)
    }

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
        try place(out, force: force, outside: store.directory) { destination, temporary in
            do {
                return try write(
                    store, reference: reference, format: format, destination: destination, temporary: temporary, dtype: dtype,
                    maxShardSize: maxShardSize, verify: verify, progress: progress)
            } catch let error as FormatError {
                // Damage found in the store is reported as such, not as a write failure.
                if let damage = error.cause as? StorageError, damage.code == .digestMismatch || damage.code == .structureMismatch {
                    throw damage
                }
                throw error
            }
        }
    }

    /// Runs `write` on a temporary path beside `out` and moves what it wrote into place: `out`
    /// must not exist unless `force` (then it is replaced once the new output is complete), and
    /// may not lie inside the store at `outside`. Nothing is left behind when `write` throws.
    ///
    /// - Throws: ``PrefixStore/StorageError`` `.invalidArgument` (inside the store),
    ///   `.alreadyExists`; ``PrefixFormats/FormatError`` `.io` when the move fails; what `write` throws.
    static func place(
        _ out: String, force: Bool, outside store: String?, write: (_ destination: String, _ temporary: String) throws -> ExportReport
    ) throws -> ExportReport {
        let destination = Store.normalizePath(out)
        if let store {
            // Resolved through every link, also for a destination that does not exist yet.
            if Paths.isInside(destination, store) {
                throw StorageError(.invalidArgument, "the destination is inside the store: export to a path outside it", path: destination)
            }
        }
        let exists = FileManager.default.fileExists(atPath: destination)
        if exists, !force {
            throw StorageError(.alreadyExists, "the destination exists already: pass --force to replace it", path: destination)
        }
        let parent = Paths.parent(destination)
        let name = (destination as NSString).lastPathComponent
        removeStaleTemporaries(in: parent.isEmpty ? "." : parent, for: name)
        let temporary = (parent.isEmpty ? "." : parent) + "/.\(name).tmp-\(getpid())"
        Leftovers.discard(temporary)
        defer { Leftovers.discard(temporary) }
        var report = try write(destination, temporary)
        do {
            // Replaced only once the new output is complete (`force`).
            if exists { try FileManager.default.removeItem(atPath: destination) }
            try FileManager.default.moveItem(atPath: temporary, toPath: destination)
        } catch {
            throw FormatError(.io, "cannot move the output into place: \(error.localizedDescription)", path: destination)
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
            let base = try base(for: reference, in: store)
            report = try exportHF(
                store, base: base, to: temporary, dtype: dtype, maxShardSize: maxShardSize, verify: verify, progress: progress)
        case .peft:
            let info = try store.checkpoint(reference)
            let adapter = try peftAdapter(store, info, verify: verify)
            try PEFTAdapter.write(
                layers: adapter.layers.map { convert($0, dtype) }, configJSON: adapter.configJSON,
                head: adapter.head.map { NamedTensor($0.name, convert($0.tensor, dtype)) }, to: temporary)
            report = ExportReport(
                format: .peft, reference: info.reference, path: destination, files: ["adapter_config.json", "adapter_model.safetensors"],
                bytesWritten: try size(of: temporary), conversion: adapter.conversion)
        case .safetensors, .npz:
            let info = try store.checkpoint(reference)
            var content = try store.load(info, verify: verify)
            content.layers = content.layers.map { convert($0, dtype) }
            content.mlp = content.mlp.map { NamedTensor($0.name, convert($0.tensor, dtype)) }
            content.head = content.head.map { NamedTensor($0.name, convert($0.tensor, dtype)) }
            let base = try store.base("base:" + info.baseFingerprint)
            var (tensors, metadata) = PrefixFile.entries(
                content, baseFingerprint: info.baseFingerprint, sectioned: base.config.encoderLayers != nil)
            // What writing the file back to PEFT needs without the base: the adapter config.
            if let config = try peftConfig(info, content, base) { metadata.append((PrefixFile.peftConfigKey, config)) }
            try PrefixFile.write(tensors, metadata: metadata, to: temporary, format: format == .npz ? .npz : .safetensors)
            report = ExportReport(
                format: format, reference: info.reference, path: destination, files: [(destination as NSString).lastPathComponent],
                bytesWritten: try size(of: temporary), conversion: nil)
        }
        return report
    }

    /// `config.json` describing the weights written: with `dtype`, its `dtype` / `torch_dtype`
    /// (whichever it has; `torch_dtype` when it has neither) names that dtype, as transformers
    /// spells it. Without `dtype` the file is kept byte for byte.
    ///
    /// - Throws: ``PrefixFormats/FormatError`` `.inconsistent` when the stored text is not a JSON
    ///   object (a dtype cannot be named in it).
    static func configJSON(_ text: String, dtype: DType?) throws -> String {
        let names: [DType: String] = [.f64: "float64", .f32: "float32", .f16: "float16", .bf16: "bfloat16"]
        guard let dtype, let name = names[dtype] else { return text }
        guard var object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw FormatError(.inconsistent, "the stored config.json is not a JSON object: its dtype cannot be set", member: "config.json")
        }
        let keys = ["dtype", "torch_dtype"].filter { object[$0] != nil }
        for key in keys.isEmpty ? ["torch_dtype"] : keys { object[key] = name }
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
            + "\n"
    }

    /// Writes a base as an HF model directory: config.json, model.safetensors (or shards and an
    /// index), and the non-weight files it was imported with.
    static func exportHF(
        _ store: Store, base: BaseInfo, to directory: String, dtype: DType?, maxShardSize: Int?,
        verify: Bool, progress: ((Int64) -> Void)?
    ) throws -> ExportReport {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(try Self.configJSON(base.configJSON, dtype: dtype).utf8).write(to: URL(fileURLWithPath: directory + "/config.json"))
        var files = ["config.json"]
        let entries = try store.tensorEntries(of: base)
        let items = entries.map { (entry: TensorEntry) -> SafetensorsWriter.Item in
            let target = dtype.flatMap { entry.dtype.isFloatingPoint ? $0 : nil } ?? entry.dtype
            // Uncompressed, same-dtype tensors are copied from the blob file inside the kernel.
            // Only a blob that opens as a regular file inside the store is copied by path.
            let range =
                target == entry.dtype
                ? entry.fileOffset.flatMap { offset in (try? store.blobFilePath(entry)).map { (path: $0, offset: Int(offset)) } } : nil
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
            // `files(of:)` refuses names that are not one plain component; checked again here,
            // where the name becomes a path.
            guard !file.name.isEmpty, !file.name.contains("/"), file.name != ".", file.name != ".." else {
                throw StorageError(
                    .hostileStore, "refused: base file name '\(TerminalText.escape(file.name))' is not a single file name",
                    finding: .hostileValue)
            }
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
            Leftovers.discard(parent + "/" + entry)
        }
    }

    /// The bytes of the files at `path`: a file's size, or the sum over a directory's files.
    ///
    /// - Throws: Foundation's error for a path that cannot be listed or measured.
    static func size(of path: String) throws -> Int64 {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if isDirectory.boolValue {
            return try FileManager.default.contentsOfDirectory(atPath: path).reduce(Int64(0)) { $0 + (try size(of: path + "/" + $1)) }
        }
        return Int64(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0)
    }
}

extension Exporter {
    /// The bytes under `path` (a file, or a directory's files), for progress totals: 0 (a bar
    /// with no total) when they cannot be measured, which the read that follows then reports.
    public static func sourceSize(_ path: String) -> Int64 { (try? size(of: path)) ?? 0 }
}
