import Foundation
public import PrefixCore

/// A Hugging Face model directory: `config.json`, `model.safetensors` or a sharded set
/// (`model.safetensors.index.json` + shards), else PyTorch's `pytorch_model.bin` or its sharded
/// set (`pytorch_model.bin.index.json`), read by ``TorchCheckpoint`` without executing
/// anything; and non-weight files (tokenizer, generation config, vocab...). Tensors are read
/// lazily from the memory-mapped files.
///
/// Hostile directories are refused: shard names with path separators or `..`, symbolic links
/// out of the directory, weight maps that disagree with the shards, and everything
/// ``TorchCheckpoint`` refuses.
public struct HFModelDirectory: Sendable {
    /// One tensor and where it is.
    public struct Item: Sendable {
        /// The tensor's name in the file.
        public var name: String
        /// Its element type.
        public var dtype: DType
        /// Its shape.
        public var shape: [Int]
        let read: @Sendable () throws(FormatError) -> Tensor
        let drop: @Sendable () -> Void

        /// A tensor of a safetensors file.
        init(_ file: SafetensorsFile, _ entry: SafetensorsFile.Entry) {
            (name, dtype, shape) = (entry.name, entry.dtype, entry.shape)
            read = { () throws(FormatError) in try file.tensor(entry) }
            drop = { file.release(entry) }
        }

        /// A tensor of a PyTorch checkpoint.
        init(_ file: TorchCheckpoint, _ entry: TorchCheckpoint.Entry) {
            (name, dtype, shape) = (entry.name, entry.dtype, entry.shape)
            read = { () throws(FormatError) in try file.tensor(entry) }
            drop = { file.release(entry) }
        }

        /// The tensor, borrowing the mapped bytes where it can.
        public func load() throws -> Tensor { try read() }

        /// Lets the kernel drop the pages of a tensor already consumed (streaming imports).
        public func release() { drop() }
    }

    /// Extensions of weight formats PrefixKit does not read (pickles and others): never loaded.
    static let foreignWeights = [".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".gguf", ".onnx", ".pkl"]
    /// The largest non-weight file kept (tokenizers are a few MB; each kept file is read whole).
    public static let maxFileSize = 64 << 20
    /// The largest shard index read.
    public static let maxIndexBytes = 16 << 20
    /// The most tensors a shard index may map.
    public static let maxIndexEntries = 100_000
    /// The most non-weight bytes kept per directory.
    public static let maxFilesTotal = 256 << 20

    /// The directory.
    public let path: String
    /// The parsed configuration.
    public let config: ModelConfig
    /// `config.json` as it is.
    public let configJSON: String
    /// Every tensor, in file order.
    public let tensors: [Item]
    /// The `__metadata__` of the (first) safetensors file.
    public let weightsMetadata: [(key: String, value: String)]?
    /// Non-weight files kept with the base.
    public let files: [String]
    /// Files left out, with the reason.
    public let skipped: [(name: String, reason: String)]
    /// Whether the weights were sharded.
    public let sharded: Bool
    /// Whether the weights were PyTorch pickles (`pytorch_model.bin`), read without executing them.
    public let pickled: Bool

    /// Whether `path` looks like an HF model directory.
    public static func detect(_ path: String) -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: path + "/config.json")
            && (fm.fileExists(atPath: path + "/model.safetensors") || fm.fileExists(atPath: path + "/model.safetensors.index.json")
                || fm.fileExists(atPath: path + "/pytorch_model.bin") || fm.fileExists(atPath: path + "/pytorch_model.bin.index.json"))
    }

    /// Opens the directory at `path`.
    ///
    /// - Throws: ``FormatError``: `.io`, `.unsafePath`, `.inconsistent`, `.missingKey`, and the
    ///   errors of ``SafetensorsFile``, ``TorchCheckpoint`` (`.pickleRefused` ...) and ``HFConfig``.
    /// Opens the directory at `path`, whose files may be links anywhere inside `linkRoot` (a Hub
    /// cache snapshot's point into its repository's `blobs/`); by default inside `path` itself.
    public init(path: String, linkRoot: String? = nil) throws(FormatError) {
        self.path = path
        let root = linkRoot ?? path
        (config, configJSON) = try HFConfig.read(path: try InputFile.contained(path, "config.json", root: root))
        let fm = FileManager.default
        let index = path + "/model.safetensors.index.json"
        var weightFiles: Set<String> = []
        var skipped: [(name: String, reason: String)] = []
        let pickledIndex = path + "/pytorch_model.bin.index.json"
        if fm.fileExists(atPath: index) {
            let (items, shards, metadata) = try HFModelDirectory.readSharded(
                directory: path, index: try InputFile.contained(path, "model.safetensors.index.json", root: root), pickled: false,
                root: root)
            tensors = items
            weightFiles = shards.union(["model.safetensors.index.json"])
            weightsMetadata = metadata
            (sharded, pickled) = (true, false)
        } else if fm.fileExists(atPath: path + "/model.safetensors") {
            let file = try SafetensorsFile(path: try InputFile.contained(path, "model.safetensors", root: root))
            tensors = file.entries.map { Item(file, $0) }
            weightsMetadata = file.metadata
            weightFiles = ["model.safetensors"]
            (sharded, pickled) = (false, false)
        } else if fm.fileExists(atPath: pickledIndex) {
            let (items, shards, _) = try HFModelDirectory.readSharded(
                directory: path, index: try InputFile.contained(path, "pytorch_model.bin.index.json", root: root), pickled: true, root: root
            )
            tensors = items
            weightFiles = shards.union(["pytorch_model.bin.index.json"])
            weightsMetadata = nil
            (sharded, pickled) = (true, true)
        } else if fm.fileExists(atPath: path + "/pytorch_model.bin") {
            let file = try TorchCheckpoint(path: try InputFile.contained(path, "pytorch_model.bin", root: root))
            tensors = file.entries.map { Item(file, $0) }
            skipped += file.skipped.map { ("pytorch_model.bin: \($0)", "not a tensor") }
            weightsMetadata = nil
            weightFiles = ["pytorch_model.bin"]
            (sharded, pickled) = (false, true)
        } else {
            throw FormatError(
                .missingKey, "no model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json",
                path: path)
        }
        var files: [String] = []
        var kept = 0
        for name in (try? fm.contentsOfDirectory(atPath: path))?.sorted() ?? [] where !weightFiles.contains(name) && name != "config.json" {
            var isDirectory: ObjCBool = false
            let full = path + "/" + name
            if name.hasPrefix(".") { continue }
            if fm.fileExists(atPath: full, isDirectory: &isDirectory), isDirectory.boolValue {
                skipped.append((name, "a directory")); continue
            }
            if HFModelDirectory.foreignWeights.contains(where: { name.hasSuffix($0) }) || name.hasSuffix(".safetensors") {
                skipped.append((name, "weights in a format PrefixKit does not read (never unpickled)"))
                continue
            }
            guard (try? InputFile.contained(path, name, root: root)) != nil else {
                skipped.append((name, "a link out of the directory")); continue
            }
            let size: Int
            do { size = try InputFile.requireRegular(full) } catch {
                skipped.append((name, error.code == .notARegularFile ? "not a regular file (\(error.message))" : "unreadable"))
                continue
            }
            if size > HFModelDirectory.maxFileSize { skipped.append((name, "larger than \(HFModelDirectory.maxFileSize) bytes")); continue }
            if kept + size > HFModelDirectory.maxFilesTotal {
                skipped.append((name, "past \(HFModelDirectory.maxFilesTotal) bytes of non-weight files")); continue
            }
            kept += size
            files.append(name)
        }
        self.files = files
        self.skipped = skipped
    }

    /// The same directory with only the tensors `isIncluded` keeps (a whole-model file's base part).
    public func keeping(_ isIncluded: (Item) -> Bool) -> HFModelDirectory {
        HFModelDirectory(copying: self, tensors: tensors.filter(isIncluded))
    }

    private init(copying other: HFModelDirectory, tensors: [Item]) {
        (path, config, configJSON, weightsMetadata) = (other.path, other.config, other.configJSON, other.weightsMetadata)
        (files, skipped, sharded, pickled) = (other.files, other.skipped, other.sharded, other.pickled)
        self.tensors = tensors
    }

    private static func readSharded(directory: String, index: String, pickled: Bool, root: String) throws(FormatError)
        -> (items: [Item], shards: Set<String>, metadata: [(key: String, value: String)]?)
    {
        // The largest real indexes (a few thousand tensors) are a few hundred KB.
        let data = [UInt8](try InputFile.read(index, limit: HFModelDirectory.maxIndexBytes, what: "the shard index"))
        let json: JSONValue
        do { json = try BoundedJSON.parse(data) } catch {
            var error = error
            error.path = index
            throw error
        }
        guard case .object(let top) = json, case .object(let map)? = top.first(where: { $0.key == "weight_map" })?.value else {
            throw FormatError(.malformedJSON, "the shard index has no weight_map object", path: index)
        }
        var shardOf: [String: String] = [:]
        var checked = Set<String>()
        for (name, value) in map {
            if shardOf.count >= HFModelDirectory.maxIndexEntries {
                throw FormatError(
                    .tooManyTensors, "the shard index maps more than \(HFModelDirectory.maxIndexEntries) tensors", path: index)
            }
            guard case .string(let shard) = value else {
                throw FormatError(.malformedJSON, "weight_map values must be file names", path: index, member: name)
            }
            // Each shard's path is resolved once, however many tensors name it.
            if !checked.contains(shard) {
                checked.insert(shard)
                if checked.count > 65_536 {
                    throw FormatError(.tooManyTensors, "the shard index names more than 65536 shard files", path: index)
                }
                _ = try InputFile.contained(directory, shard, root: root)
            }
            shardOf[name] = shard
        }
        var items: [Item] = []
        var metadata: [(key: String, value: String)]?
        for shard in Set(shardOf.values).sorted() {
            let shardItems: [Item]
            if pickled {
                let file = try TorchCheckpoint(path: try InputFile.contained(directory, shard, root: root))
                shardItems = file.entries.map { Item(file, $0) }
            } else {
                let file = try SafetensorsFile(path: try InputFile.contained(directory, shard, root: root))
                if metadata == nil { metadata = file.metadata }
                shardItems = file.entries.map { Item(file, $0) }
            }
            for item in shardItems {
                guard shardOf[item.name] == shard else {
                    throw FormatError(
                        .inconsistent, "tensor is in \(shard) but the index maps it to \(shardOf[item.name] ?? "nothing")", path: index,
                        member: item.name)
                }
                items.append(item)
            }
        }
        let present = Set(items.map(\.name))
        if let missing = shardOf.keys.sorted().first(where: { !present.contains($0) }) {
            throw FormatError(
                .inconsistent, "the index maps the tensor to \(shardOf[missing] ?? "?"), which does not hold it", path: index,
                member: missing)
        }
        return (items, Set(shardOf.values), metadata)
    }
}
