public import PrefixCore

/// semantics' tolerances on `e = max|A-R| / max(max|R|, 1e-30)`, by the dtype the candidate was
/// computed in.
public struct Tolerances: Sendable, Codable, Hashable {
    /// Per layer, teacher-forced.
    public var perLayer: Double
    /// End to end.
    public var endToEnd: Double

    /// Creates tolerances.
    public init(perLayer: Double, endToEnd: Double) {
        self.perLayer = perLayer
        self.endToEnd = endToEnd
    }

    /// The documented defaults: f64 1e-12 / 1e-10, f32 1e-5 / 1e-4, f16 5e-3 / 2e-2,
    /// bf16 3e-2 / 1e-1 (anything else: the f32 row).
    public static func `for`(computeDType: String) -> Tolerances {
        switch computeDType {
        case "f64", "float64": Tolerances(perLayer: 1e-12, endToEnd: 1e-10)
        case "f16", "float16": Tolerances(perLayer: 5e-3, endToEnd: 2e-2)
        case "bf16", "bfloat16": Tolerances(perLayer: 3e-2, endToEnd: 1e-1)
        default: Tolerances(perLayer: 1e-5, endToEnd: 1e-4)
        }
    }
}

/// A known way of getting prefix-tuning wrong, which the verifier can name.
public enum BugClass: String, Sendable, Codable, CaseIterable {
    case keptPrefixPositions = "kept_prefix_positions"
    case keptFirstN = "kept_first_n"
    case prefixAppendedOrIgnored = "prefix_appended_or_ignored"
    case reusedPreviousPrefix = "reused_previous_prefix"
    case prefixOutputsCarried = "prefix_outputs_carried"
    case layerOffByOne = "layer_off_by_one"
    case keyValueSwapped = "kv_swapped"
    case unrotatedKeys = "unrotated_keys"
    case inputsAtWrongPosition = "inputs_at_wrong_position"
    case wrongBase = "wrong_base"
    case unknown

    /// What the evidence means.
    public var explanation: String {
        switch self {
        case .keptPrefixPositions: "prefix positions were not discarded"
        case .keptFirstN: "the first N rows of the block output were kept instead of the last N"
        case .prefixAppendedOrIgnored: "the prefix was appended after the inputs or ignored (the two are the same in a causal model)"
        case .reusedPreviousPrefix: "the layer used the previous layer's prefix P^{l-1}"
        case .prefixOutputsCarried: "the prefix rows' outputs Y^{l-1}[0..<Pn] were fed on instead of P^l"
        case .layerOffByOne: "the layer used the next layer's prefix P^{l+1}"
        case .keyValueSwapped: "the prefix keys and values are swapped"
        case .unrotatedKeys: "the prefix keys were not rotated (RoPE at positions 0..<Pn)"
        case .inputsAtWrongPosition: "the inputs sit at positions 0..<N instead of the checkpoint's convention (Pn, Pn+1, ...)"
        case .wrongBase: "the reference was computed with other base weights"
        case .unknown: "no known bug explains the difference"
        }
    }

    /// What to change.
    public var fix: String {
        switch self {
        case .keptPrefixPositions: "pass on only Y^l[Pn ..< Pn+N], the last N rows of each block's output"
        case .keptFirstN: "slice the last N rows, Y^l[Pn ..< Pn+N], not Y^l[0 ..< N]"
        case .prefixAppendedOrIgnored: "prepend the prefix: H^l = [P^l ; Hbar^l]"
        case .reusedPreviousPrefix, .layerOffByOne: "index the prefix by the block's own layer: block l takes P^l"
        case .prefixOutputsCarried: "prepend the layer's own trainable P^l; the prefix rows' outputs are discarded"
        case .keyValueSwapped: "keep PEFT's order: index 2l is the key, 2l+1 the value"
        case .unrotatedKeys: "rotate converted prefix keys with RoPE at positions 0..<Pn"
        case .inputsAtWrongPosition: "place the inputs at Pn, Pn+1, ... (PEFT offsets position_ids by num_virtual_tokens)"
        case .wrongBase: "verify against the base the reference was computed with, or recompute the reference"
        case .unknown: "dump per-layer activations (exchange format) to find the first layer that differs"
        }
    }
}

/// The outcome of one check.
public enum CheckStatus: String, Sendable, Codable {
    case pass, fail, skip
}

/// One check's result (a check per layer for per-layer checks).
public struct CheckResult: Sendable, Codable, Hashable {
    /// `catalog`, `blobs`, `structure`, `prefix-rows`, `teacher-forced`, `end-to-end`, `logits`,
    /// `self-consistency`, `round-trip`.
    public var check: String
    /// The layer, for per-layer checks.
    public var layer: Int?
    /// The verdict.
    public var status: CheckStatus
    /// What was found.
    public var message: String
    /// `max|A - R|` over the compared rows.
    public var maxAbsError: Double?
    /// semantics' relative error.
    public var relativeError: Double?
    /// The tolerance it was held to.
    public var tolerance: Double?
    /// Rows in `H^l` in the reference, and what the checkpoint implies.
    public var rowsIn: Int?
    public var expectedRowsIn: Int?
    /// Rows in the reference's output, and what the checkpoint implies.
    public var rowsOut: Int?
    public var expectedRowsOut: Int?
    /// What to try, for failures.
    public var fix: String?

    public init(check: String, layer: Int? = nil, status: CheckStatus, message: String, maxAbsError: Double? = nil,
                relativeError: Double? = nil, tolerance: Double? = nil, rowsIn: Int? = nil, expectedRowsIn: Int? = nil,
                rowsOut: Int? = nil, expectedRowsOut: Int? = nil, fix: String? = nil) {
        self.check = check
        self.layer = layer
        self.status = status
        self.message = message
        self.maxAbsError = maxAbsError
        self.relativeError = relativeError
        self.tolerance = tolerance
        self.rowsIn = rowsIn
        self.expectedRowsIn = expectedRowsIn
        self.rowsOut = rowsOut
        self.expectedRowsOut = expectedRowsOut
        self.fix = fix
    }
}

/// A candidate explanation and how well it fits.
public struct CandidateFit: Sendable, Codable, Hashable {
    public var bug: BugClass
    public var relativeError: Double
}

/// The known bug the evidence matches best, where it first appears.
public struct Diagnosis: Sendable, Codable, Hashable {
    public var bug: BugClass
    public var layer: Int?
    public var summary: String
    public var relativeError: Double?
    public var fix: String
    public var candidates: [CandidateFit]
}

/// Everything verified about one checkpoint.
public struct CheckpointVerification: Sendable, Codable {
    public var checkpoint: String
    public var reference: String
    public var computeDType: String
    public var tolerances: Tolerances
    public var checks: [CheckResult]
    public var diagnosis: Diagnosis?
    /// A reference whose shapes no known bug explains (exit 3).
    public var unexplainedReference: Bool
    public var passed: Bool { !checks.contains { $0.status == .fail } && !unexplainedReference }

    enum CodingKeys: String, CodingKey {
        case checkpoint, reference, computeDType = "computeDtype", tolerances, checks, diagnosis, unexplainedReference, passed
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(checkpoint, forKey: .checkpoint)
        try c.encode(reference, forKey: .reference)
        try c.encode(computeDType, forKey: .computeDType)
        try c.encode(tolerances, forKey: .tolerances)
        try c.encode(checks, forKey: .checks)
        try c.encodeIfPresent(diagnosis, forKey: .diagnosis)
        try c.encode(unexplainedReference, forKey: .unexplainedReference)
        try c.encode(passed, forKey: .passed)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        checkpoint = try c.decode(String.self, forKey: .checkpoint)
        reference = try c.decode(String.self, forKey: .reference)
        computeDType = try c.decode(String.self, forKey: .computeDType)
        tolerances = try c.decode(Tolerances.self, forKey: .tolerances)
        checks = try c.decode([CheckResult].self, forKey: .checks)
        diagnosis = try c.decodeIfPresent(Diagnosis.self, forKey: .diagnosis)
        unexplainedReference = try c.decode(Bool.self, forKey: .unexplainedReference)
    }

    init(checkpoint: String, reference: String, computeDType: String, tolerances: Tolerances, checks: [CheckResult],
         diagnosis: Diagnosis?, unexplainedReference: Bool) {
        self.checkpoint = checkpoint
        self.reference = reference
        self.computeDType = computeDType
        self.tolerances = tolerances
        self.checks = checks
        self.diagnosis = diagnosis
        self.unexplainedReference = unexplainedReference
    }
}

/// A whole `verify` run.
public struct VerificationReport: Sendable, Codable {
    public var store: String
    public var startedAt: String
    public var toolVersion: String
    public var catalog: [CheckResult]
    public var checkpoints: [CheckpointVerification]
    public var recorded: Bool
    public var recordNote: String?
    public var shard: String?
    /// Seconds spent per phase: `catalog`, `structure`, `per_layer` (teacher-forced and prefix
    /// rows), `end_to_end`, `self_consistency`, `round_trip`.
    public var timings: [String: Double] = [:]
    public var passed: Bool { !catalog.contains { $0.status == .fail } && checkpoints.allSatisfy(\.passed) }
    /// 0 pass, 1 a finding, 3 a reference no known bug explains.
    public var exitCode: Int32 {
        if checkpoints.contains(where: \.unexplainedReference) { return 3 }
        return passed ? 0 : 1
    }

    enum CodingKeys: String, CodingKey {
        case store, startedAt, toolVersion, catalog, checkpoints, recorded, recordNote, shard, passed, exitCode, timings
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(store, forKey: .store)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(toolVersion, forKey: .toolVersion)
        try c.encode(catalog, forKey: .catalog)
        try c.encode(checkpoints, forKey: .checkpoints)
        try c.encode(recorded, forKey: .recorded)
        try c.encodeIfPresent(recordNote, forKey: .recordNote)
        try c.encodeIfPresent(shard, forKey: .shard)
        try c.encode(passed, forKey: .passed)
        try c.encode(exitCode, forKey: .exitCode)
        try c.encode(timings, forKey: .timings)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        store = try c.decode(String.self, forKey: .store)
        startedAt = try c.decode(String.self, forKey: .startedAt)
        toolVersion = try c.decode(String.self, forKey: .toolVersion)
        catalog = try c.decode([CheckResult].self, forKey: .catalog)
        checkpoints = try c.decode([CheckpointVerification].self, forKey: .checkpoints)
        recorded = try c.decode(Bool.self, forKey: .recorded)
        recordNote = try c.decodeIfPresent(String.self, forKey: .recordNote)
        shard = try c.decodeIfPresent(String.self, forKey: .shard)
        timings = try c.decodeIfPresent([String: Double].self, forKey: .timings) ?? [:]
    }

    init(store: String, startedAt: String, toolVersion: String, catalog: [CheckResult], checkpoints: [CheckpointVerification],
         recorded: Bool, recordNote: String?, shard: String?) {
        self.store = store
        self.startedAt = startedAt
        self.toolVersion = toolVersion
        self.catalog = catalog
        self.checkpoints = checkpoints
        self.recorded = recorded
        self.recordNote = recordNote
        self.shard = shard
    }
}
