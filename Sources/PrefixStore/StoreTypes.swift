import Foundation
public import PrefixCore

/// How a checkpoint was bound to its base at import: what was compared before saying that the
/// prefix belongs to those weights.
public enum BaseBinding: String, Sendable, Codable, Hashable {
    /// The base the source names (an adapter's `base_model_name_or_path`, a local directory or a
    /// local Hugging Face cache entry) was read and fingerprinted: the same weights.
    case fingerprint
    /// A stored base whose provenance names the same Hub repository as the adapter's base
    /// (the weights were not compared).
    case provenance
    /// The user named the base (`--base`).
    case explicit
    /// Chosen because its shapes fit (`--base-by-shape`): the weights were not compared.
    case shape
}

/// Where a base or checkpoint came from.
public struct Provenance: Sendable, Codable, Hashable {
    /// The format it was read from (`demo`, `hf`, `peft`, `npz`, `safetensors`, `api`, ...).
    public var sourceFormat: String
    /// The file or directory it was read from, if any.
    public var sourcePath: String?
    /// The PrefixKit version that saved it.
    public var toolVersion: String
    /// The training run step it is, with what the trainer logged up to it (HF Trainer runs).
    public var training: TrainingRecord?
    /// The Hugging Face Hub repository it was read from (`ORG/NAME`, from the local cache).
    public var repository: String?
    /// The commit of that repository.
    public var revision: String?
    /// A PEFT adapter's own `base_model_name_or_path`, kept for exporting it back.
    public var baseModelNameOrPath: String?
    /// The adapter's `adapter_config.json` as it was read (a PEFT adapter, or a prefix file
    /// carrying one as `peft_config`), written back verbatim when the checkpoint exports to PEFT.
    public var adapterConfig: String?
    /// How a checkpoint was bound to its base (nil for bases, and checkpoints saved before it
    /// was recorded).
    public var baseBinding: BaseBinding?

    /// Creates a provenance record (the tool version defaults to this build's).
    public init(
        sourceFormat: String, sourcePath: String? = nil, toolVersion: String = PrefixKitVersion.current, training: TrainingRecord? = nil
    ) {
        self.sourceFormat = sourceFormat
        self.sourcePath = sourcePath
        self.toolVersion = toolVersion
        self.training = training
    }

    /// The details beyond format, path and version, as the catalog keeps them (JSON), or nil.
    var detailJSON: String? {
        let detail = Detail(
            training: training, repository: repository, revision: revision, baseModelNameOrPath: baseModelNameOrPath,
            adapterConfig: adapterConfig, baseBinding: baseBinding)
        guard detail != Detail() else { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(detail)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Reads the catalog's details back (unreadable details are left out, not fatal).
    mutating func read(detail json: String?) {
        guard let json, let detail = try? JSONDecoder().decode(Detail.self, from: Data(json.utf8)) else { return }
        (training, repository, revision, baseModelNameOrPath, adapterConfig, baseBinding) = (
            detail.training, detail.repository, detail.revision, detail.baseModelNameOrPath, detail.adapterConfig, detail.baseBinding
        )
    }

    private struct Detail: Codable, Equatable {
        var training: TrainingRecord?
        var repository: String?, revision: String?, baseModelNameOrPath: String?, adapterConfig: String?
        var baseBinding: BaseBinding?
    }
}

/// The identity of a checkpoint being saved.
public struct CheckpointSpec: Sendable {
    /// The checkpoint's name.
    public var name: String
    /// Its step; `(name, step)` is unique in a store.
    public var step: Int
    /// The base it applies to: `base:FP`, a fingerprint prefix, or an alias.
    public var base: String
    /// The parent checkpoint (`NAME` or `NAME@STEP`), if any.
    public var parent: String?
    /// Free-form tags.
    public var tags: [String]
    /// Where it came from.
    public var provenance: Provenance

    /// Creates a spec.
    public init(
        name: String, step: Int, base: String, parent: String? = nil, tags: [String] = [],
        provenance: Provenance = Provenance(sourceFormat: "api")
    ) {
        self.name = name
        self.step = step
        self.base = base
        self.parent = parent
        self.tags = tags
        self.provenance = provenance
    }
}

/// A stored base, as listed.
public struct BaseInfo: Sendable, Codable, Hashable {
    /// The fingerprint (64 hex digits).
    public var fingerprint: String
    /// The alias given at import, if any.
    public var alias: String?
    /// The configuration.
    public var config: ModelConfig
    /// The original `config.json`.
    public var configJSON: String
    /// When it was saved (ISO 8601, UTC).
    public var createdAt: String
    /// Where it came from.
    public var provenance: Provenance
    /// How many tensors it has.
    public var tensorCount: Int
    /// Their total size in bytes.
    public var byteCount: Int64

    /// `base:` and the first 12 digits of the fingerprint.
    public var shortReference: String { "base:" + fingerprint.prefix(12) }
}

/// A stored checkpoint, as listed.
public struct CheckpointInfo: Sendable, Codable, Hashable {
    /// The catalog's row id.
    public var id: Int64
    /// The name.
    public var name: String
    /// The step.
    public var step: Int
    /// The base fingerprint.
    public var baseFingerprint: String
    /// The parent, as `NAME@STEP`, if any.
    public var parent: String?
    /// The tags.
    public var tags: [String]
    /// The prefix form.
    public var form: PrefixForm
    /// `Pn`.
    public var prefixLength: Int
    /// The number of layers.
    public var numLayers: Int
    /// The position convention.
    public var positions: PositionConvention
    /// Whether the reparameterisation MLP is stored.
    public var hasMLP: Bool
    /// Whether a probe is stored.
    public var hasProbe: Bool
    /// The task it was trained for (PEFT's `task_type`), if known; `SEQ_CLS` and `TOKEN_CLS`
    /// checkpoints hold their task head.
    public var task: TaskType?
    /// When it was saved (ISO 8601, UTC).
    public var createdAt: String
    /// Where it came from.
    public var provenance: Provenance
    /// Which stored layers reach which blocks (``PrefixCore/PrefixLayout/direct`` unless a PEFT
    /// encoder-decoder adapter).
    public var layout: PrefixLayout = .direct
    /// The encoder section's layer count (0: none).
    public var encoderLayers = 0
    /// The cross-attention section's layer count (0: none).
    public var crossLayers = 0
    /// Where the encoder's prefix and input rows sit.
    public var encoderPositions = PositionConvention(prefixStart: 0, inputStart: 0)
    /// The bytes of its tensors (prefix, MLP, head, probe; a tensor shared with other
    /// checkpoints counts in each).
    public var byteCount: Int64 = 0
    /// Whether the checkpoint names its prefix sections (its base is an encoder-decoder).
    public var hasSections: Bool { layout != .direct || encoderLayers > 0 || crossLayers > 0 }

    /// What the prefix of an encoder-decoder's checkpoint reaches (see
    /// ``PrefixCore/PrefixLayout/reach(stored:blocks:encoderSection:crossSection:)``); empty for
    /// one stack.
    public func sectionNotes(encoderDecoder: Bool) -> [String] {
        guard encoderDecoder else { return [] }
        return layout.reach(stored: numLayers, blocks: numLayers, encoderSection: encoderLayers, crossSection: crossLayers)
    }

    /// `NAME@STEP`.
    public var reference: String { "\(name)@\(step)" }
}

/// A stored tensor's catalog entry: identity, integrity data and where its bytes are.
public struct TensorEntry: Sendable, Codable, Hashable {
    /// The name within its owner (`layer_03.key`, `h.0.attn.c_attn.weight`, `layer_00.input`).
    public var name: String
    /// `prefix`, `mlp`, `probe`, `head` or `base`.
    public var role: String
    /// The layer, for prefix tensors.
    public var layer: Int?
    /// The element type.
    public var dtype: DType
    /// The dimensions.
    public var shape: [Int]
    /// The byte count.
    public var byteCount: Int64
    /// The SHA-256 of the bytes (lowercase hex).
    public var sha256: String
    /// The blob file, relative to the store directory.
    public var blobPath: String
    /// The HDF5 dataset path inside the blob.
    public var dataset: String
    /// The byte offset of a contiguous dataset's data in the blob file.
    public var fileOffset: Int64?
    /// The section, for prefix tensors of an encoder-decoder (the decoder's otherwise).
    public var section: PrefixSection? = nil
}

/// What a save did.
public struct SaveSummary: Sendable, Codable, Hashable {
    /// Tensors whose bytes were written.
    public var tensorsWritten: Int
    /// Tensors that were already stored (same digest, dtype and shape) and were only referenced.
    public var tensorsReused: Int
    /// Bytes written.
    public var bytesWritten: Int64
    /// Bytes not written thanks to deduplication.
    public var bytesReused: Int64
    /// The blob file written, if any (relative to the store).
    public var blobPath: String?
}

/// The outcome of ``Store/saveBase(_:alias:provenance:progress:)``.
public struct BaseSaveResult: Sendable {
    /// The stored base.
    public var base: BaseInfo
    /// `false` when the same base was already stored (nothing was written).
    public var created: Bool
    /// What the save did.
    public var summary: SaveSummary
}

/// The outcome of ``Store/saveCheckpoint(_:as:progress:)``.
public struct CheckpointSaveResult: Sendable {
    /// The stored checkpoint.
    public var checkpoint: CheckpointInfo
    /// What the save did.
    public var summary: SaveSummary
}
