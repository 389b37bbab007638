import Foundation
import PrefixCompute
public import PrefixCore
import PrefixFormats
import PrefixRuntime
public import PrefixStore

/// Options of an import.
public struct ImportOptions: Sendable {
    /// The checkpoint name (default: the source's file or directory name).
    public var name: String?
    /// The checkpoint step (default: 0 for a new name, else the latest step + 1).
    public var step: Int?
    /// The parent checkpoint.
    public var parent: String?
    /// Tags.
    public var tags: [String] = []
    /// The base: an HF model directory (imported if new) or `base:FP` / alias.
    public var base: String?
    /// The alias of a base imported from an HF directory.
    public var alias: String?
    /// Read one flat tensor in PEFT's layout.
    public var flatKV = false
    /// The flat tensor's name.
    public var tensor: String?
    /// The training run step this is (set for each step of a Trainer run import).
    public var training: TrainingRecord?
    /// Bind an adapter to the one stored base whose shapes fit when nothing it says about its
    /// base can be matched (`--base-by-shape`): its weights are then never compared.
    public var baseByShape = false
    /// How the base was bound (set by the import; a Trainer run's later steps, bound to the
    /// base the first step found, keep the first step's binding).
    var binding: BaseBinding?
    /// The Hub repository and commit the source came from (`hf:` sources), for provenance.
    var hub: (repository: String, commit: String)?
    /// A PEFT adapter's own `base_model_name_or_path`, for provenance.
    var adapterBaseModel: String?
    /// The `adapter_config.json` the source carried, kept to export it back verbatim.
    var adapterConfig: String?

    /// Options with every default.
    public init() {}
}

/// What an import did.
public struct ImportReport: Sendable, Codable {
    /// What the source was detected as.
    public var detected: String
    /// The source path.
    public var source: String
    /// The base (imported now or found).
    public var base: BaseInfo
    /// How the checkpoint was bound to its base (nil when no checkpoint was created).
    public var baseBinding: BaseBinding?
    /// Whether this import read the base's weights and fingerprinted them (an HF directory or
    /// cache entry): only then is a stored base "the same weights".
    public var baseCompared: Bool?
    /// Whether the base was written by this import.
    public var baseCreated: Bool
    /// The checkpoint created, if the source was a prefix.
    public var checkpoint: CheckpointInfo?
    /// Source tensors or files left out, with the reason.
    public var skipped: [String]
    /// Bytes written to the store.
    public var bytesWritten: Int64
    /// What the user must know about the imported checkpoint (PEFT's no-op on DistilBERT).
    public var notes: [String] = []
    /// A Trainer run's steps imported now, in order (``checkpoint`` is the last of them).
    public var steps: [CheckpointInfo]?
    /// A Trainer run's steps that were stored already, and left as they are.
    public var existingSteps: [Int]?
    /// Whether the prefix was stored already as the name's latest step (same base, form, Pn,
    /// positions and tensors): nothing was written, and ``checkpoint`` is that step.
    public var unchanged: Bool?
}

/// Imports HF model directories, PEFT adapters and prefix files into a store.
public enum Importer {
    /// Imports `source` into `store`. Nothing is written unless the whole import succeeds: the
    /// source, the base and their agreement are all checked before the first write.
    ///
    /// - Throws: ``PrefixFormats/FormatError`` for unreadable or inconsistent sources (naming
    ///   the file and field), ``PrefixCompute/ComputeError`` for weights that do not fit the
    ///   architecture, ``PrefixStore/StorageError`` for store failures and usage mistakes.
    public static func run(
        _ store: Store, source: String, options: ImportOptions = ImportOptions(),
        progress: ProgressHandler? = nil
    ) throws -> ImportReport {
        var path = Store.normalizePath(source)
        var options = options
        var linkRoot: String?
        if let reference = try HubCacheReference.parse(source) {
            // The local Hugging Face cache, offline: the snapshot, whose files link into the repository's blobs.
            let snapshot = try reference.resolve()
            (path, linkRoot, options.hub) = (snapshot.path, snapshot.repositoryFolder, (reference.repository, snapshot.commit))
        }
        let format = try CheckpointFormats.detect(path)
        return try format.importSource(ImportSource(path: path, linkRoot: linkRoot, options: options), into: store, progress: progress)
    }

    /// A base to attach a checkpoint to, with a directory not yet imported.
    struct Target {
        /// The stored base, or nil while `pending` is not imported yet.
        var base: BaseInfo?
        var config: ModelConfig
        var pending: HFModelDirectory?
        /// The Hub repository and commit of `pending`, when it came from the cache.
        var hub: (repository: String, commit: String)?
    }

    /// Imports an HF directory as a base, after checking its weights against the architecture.
    static func importBase(
        _ store: Store, _ directory: HFModelDirectory, alias: String?, hub: (repository: String, commit: String)? = nil,
        progress: ProgressHandler?
    ) throws -> (BaseSaveResult, [String]) {
        let infos = Dictionary(
            directory.tensors.map { ($0.name, TensorInfo(dtype: $0.dtype, shape: $0.shape)) }, uniquingKeysWith: { a, _ in a })
        let buffers = Set(try PrefixStack.checkWeights(config: directory.config, infos: infos).filter { !$0.hasSuffix("lm_head.weight") })
        let tensors = directory.tensors.filter { !buffers.contains($0.name) }.map { item in
            LazyTensor(
                name: item.name, dtype: item.dtype, shape: (try? Shape(item.shape)) ?? [], load: { try item.load() },
                release: { item.release() })
        }
        var files: [BaseFile] = []
        for name in directory.files {
            let bytes = try InputFile.read(directory.path + "/" + name, limit: HFModelDirectory.maxFileSize)
            files.append(BaseFile(name: name, bytes: [UInt8](bytes)))
        }
        let result = try store.saveBase(
            config: directory.config, configJSON: directory.configJSON, tensors: tensors, files: files,
            weightsMetadata: directory.weightsMetadata, alias: alias,
            provenance: {
                var provenance = Provenance(sourceFormat: "hf", sourcePath: Importer.absolute(directory.path))
                (provenance.repository, provenance.revision) = (hub?.repository, hub?.commit)
                return provenance
            }(), progress: progress)
        let skipped = buffers.sorted().map { "\($0) (known non-parameter buffer)" } + directory.skipped.map { "\($0.name) (\($0.reason))" }
        return (result, skipped)
    }

    /// Refuses an adapter whose config disagrees with the base, naming the field.
    static func check(_ adapter: PEFTAdapter.Config, against config: ModelConfig, adapterPath: String) throws {
        let path = adapterPath + "/adapter_config.json"
        let encoderDecoder = config.encoderLayers != nil
        if encoderDecoder != (adapter.numTransformerSubmodules == 2) {
            throw FormatError(
                .inconsistent,
                encoderDecoder
                    ? "num_transformer_submodules is \(adapter.numTransformerSubmodules) but the \(config.family) base is an encoder-decoder, for which PEFT writes 2"
                    : "num_transformer_submodules is 2 (an encoder-decoder adapter) but the \(config.family) base has one stack",
                path: path, member: "num_transformer_submodules")
        }
        if encoderDecoder, adapter.numLayers != config.numLayers {
            throw FormatError(
                .inconsistent,
                "num_layers is \(adapter.numLayers) but the base's decoder has \(config.numLayers) blocks: PEFT's encoder-decoder layout maps decoder block i to stored layer 2i mod num_layers, which transformers' cache only fills for as many blocks as stored layers",
                path: path, member: "num_layers")
        }
        if adapter.numLayers != config.numLayers {
            throw FormatError(
                .inconsistent, "num_layers is \(adapter.numLayers) but the base has \(config.numLayers) layers", path: path,
                member: "num_layers")
        }
        if adapter.numAttentionHeads != config.prefixKVHeads {
            let hint = try Architectures.named(config.family).adapterHeadsHint(config, adapterHeads: adapter.numAttentionHeads)
            throw FormatError(
                .inconsistent,
                "num_attention_heads is \(adapter.numAttentionHeads) but the base's cache holds \(config.prefixKVHeads) key/value heads"
                    + (hint.map { ": " + $0 } ?? ""),
                path: path, member: "num_attention_heads")
        }
        if adapter.tokenDim != config.tokenDim {
            throw FormatError(
                .inconsistent,
                "token_dim is \(adapter.tokenDim) but the base's key/value width is \(config.prefixKVHeads) x head_dim \(config.headDim) = \(config.tokenDim)",
                path: path, member: "token_dim")
        }
    }

    /// Saves the base if it is new, then the checkpoint; removes a base created here if the
    /// checkpoint cannot be saved.
    static func finish(
        _ store: Store, target: Target, content: CheckpointContent, source: String, format: String, detected: String,
        options: ImportOptions, progress: ProgressHandler?
    ) throws -> ImportReport {
        let name = options.name ?? defaultName(source)
        try Names.validate(name: name, kind: "checkpoint name")
        var step = options.step ?? 0
        if options.step == nil, let latest = try store.checkpointIfPresent(name)?.step {
            guard latest < Int.max else {
                throw StorageError(
                    .invalidArgument, "the latest step of '\(name)' is \(latest), so there is no next step: pass --step",
                    reference: "\(name)@\(latest)")
            }
            step = latest + 1
        }
        if try store.checkpointIfPresent("\(name)@\(step)") != nil {
            throw StorageError(.alreadyExists, "a checkpoint with this name and step already exists", reference: "\(name)@\(step)")
        }
        if let parent = options.parent { _ = try store.checkpoint(parent) }
        try StoreValidation.validate(content, config: target.config)
        var created: BaseSaveResult?
        var skipped: [String] = []
        let base: BaseInfo
        if let existing = target.base {
            base = existing
        } else if let directory = target.pending {
            let (result, skippedHere) = try importBase(store, directory, alias: options.alias, hub: target.hub, progress: progress)
            base = result.base
            created = result.created ? result : nil
            skipped = skippedHere
        } else {
            throw StorageError(.notFound, "no base for the checkpoint")
        }
        if options.step == nil, created == nil,
            let latest = try unchanged(store, name: name, base: base, content: content, options: options)
        {
            return ImportReport(
                detected: detected, source: source, base: base, baseCreated: false, checkpoint: latest, skipped: skipped,
                bytesWritten: 0, notes: [], unchanged: true)
        }
        do {
            // A head that reads the pooler needs a base that has one (BERT saved for token
            // classification has none).
            if !content.head.isEmpty, content.task?.hasHead == true {
                let stack = try PrefixStack(
                    config: base.config, weights: StoredBaseTensors(store: store, base: base), prefix: PrefixSource(content))
                if let head = try stack.taskHead(), head.recipe.input == .pooler, !stack.hasPooler {
                    throw ComputeError(
                        .missingWeight, "the \(head.recipe.task) head reads the pooler, which base \(base.shortReference) lacks",
                        tensor: "pooler.dense.weight")
                }
            }
            let saved = try store.saveCheckpoint(
                content,
                as: CheckpointSpec(
                    name: name, step: step, base: "base:" + base.fingerprint, parent: options.parent,
                    tags: options.tags,
                    provenance: {
                        var provenance = Provenance(sourceFormat: format, sourcePath: Importer.absolute(source), training: options.training)
                        (provenance.repository, provenance.revision) = (options.hub?.repository, options.hub?.commit)
                        (provenance.baseModelNameOrPath, provenance.adapterConfig) = (options.adapterBaseModel, options.adapterConfig)
                        provenance.baseBinding =
                            options.binding ?? (options.base != nil ? .explicit : target.pending != nil ? .fingerprint : .shape)
                        return provenance
                    }()),
                progress: progress)
            let note = format == "peft" ? try Architectures.named(base.config.family).peftNote : nil
            var report = ImportReport(
                detected: detected, source: source, base: base, baseCreated: created != nil, checkpoint: saved.checkpoint,
                skipped: skipped, bytesWritten: (created?.summary.bytesWritten ?? 0) + saved.summary.bytesWritten,
                notes: note.map { [$0] } ?? [])
            report.baseBinding = saved.checkpoint.provenance.baseBinding
            report.baseCompared = target.pending != nil
            return report
        } catch {
            if created != nil { _ = try? store.delete("base:" + base.fingerprint) }
            throw error
        }
    }

    /// A checkpoint name from a path: its last component without extension, invalid characters
    /// replaced by `-`.
    static func defaultName(_ path: String) -> String {
        var name = (path as NSString).lastPathComponent
        for ext in [".safetensors", ".npz"] where name.hasSuffix(ext) { name.removeLast(ext.count) }
        let cleaned = String(
            name.unicodeScalars.map { s in
                ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s) || "._+-".unicodeScalars.contains(s)
                    ? Character(s) : "-"
            }
        ).trimmingCharacters(in: CharacterSet(charactersIn: "-."))
        return cleaned.isEmpty ? "checkpoint" : String(cleaned.prefix(Names.maxNameLength))
    }
}

/// Checks of checkpoint content that do not need a store.
enum StoreValidation {
    static func validate(_ content: CheckpointContent, config: ModelConfig) throws {
        let expected = config.prefixShape(content.form, prefixLength: content.prefixLength)
        guard content.prefixLength <= config.maxPositions else {
            throw FormatError(
                .inconsistent, "the prefix has \(content.prefixLength) vectors, more than the base's \(config.maxPositions) positions",
                member: "Pn")
        }
        guard content.layers.count == config.numLayers else {
            throw FormatError(.inconsistent, "the prefix has \(content.layers.count) layers, the base \(config.numLayers)")
        }
        for (l, layer) in content.layers.enumerated() {
            for part in layer.parts where part.tensor.shape.dimensions != expected {
                let label = layerLabel(l, layerCount: content.layers.count) + (part.suffix.isEmpty ? "" : ".\(part.suffix)")
                throw FormatError(.inconsistent, "prefix tensor is \(part.tensor.shape), the base needs \(expected)", member: label)
            }
        }
    }
}

extension Importer {
    /// Runs `body`, the check that a prefix fits its base; when the user named that base
    /// (`--base`), a misfit is a usage error (exit 2), like "no stored base fits", not bad input.
    static func fitting<T>(_ base: String?, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as FormatError where base != nil && error.code == .inconsistent {
            throw StorageError(
                .invalidArgument,
                "--base \(base ?? "") does not fit this prefix: \(error.message)\(error.member.map { " (field \($0))" } ?? "")",
                path: error.path)
        }
    }

    /// `path` made absolute (provenance records where a source was, wherever it is read from).
    static func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
}
