public import PrefixCore
public import PrefixStore

/// The outcome of one check.
public enum CheckStatus: String, Sendable, Codable {
    case pass, fail, skip
}

/// What a check's result rests on: how independent of PrefixKit the evidence is.
public enum EvidenceKind: String, Sendable, Codable, CaseIterable {
    /// SQLite integrity, blob files and tensor digests.
    case integrity
    /// Shapes, dtypes, layer count and fingerprints against the base's config.
    case structure
    /// Reference activations computed by another tool (a `--reference` file or a stored probe).
    case independentReference = "independent_reference"
    /// Reference activations PrefixKit itself computed (`prefixkit forward`, `demo`): they catch
    /// changes since they were made, not a composition PrefixKit gets wrong.
    case sameEngine = "same_engine"
    /// PrefixKit against itself on a deterministic probe (f32 against f64): finds numerical
    /// trouble, never a wrong composition.
    case selfConsistency = "self_consistency"
    /// Exported, read back with the import readers, compared.
    case roundTrip = "round_trip"
}

/// A checkpoint's overall verdict.
public enum Verdict: String, Sendable, Codable {
    /// No check failed and the composition was checked against independent evidence.
    case pass
    /// A check failed.
    case fail
    /// No check failed, but nothing independent of PrefixKit checked the composition.
    case unverified

    /// The verdict as the human summary prints it.
    public var label: String { rawValue.uppercased() }
}

/// Where the reference activations a composition was checked against came from.
public struct CompositionEvidence: Sendable, Codable, Hashable {
    /// How independent the evidence is.
    public var kind: EvidenceKind
    /// `reference FILE`, `stored probe`, or `none`.
    public var source: String
    /// The tool the reference's `meta` names, when it names one.
    public var tool: String?
    /// Layers checked per layer against the reference, and layers it does not cover.
    public var layersChecked: [Int]
    /// The layers a reference does not cover.
    public var layersUnchecked: [Int]
    /// Whether the end-to-end check (inputs -> final) passed against the reference.
    public var endToEndChecked: Bool
    /// An encoder-decoder's encoder layers checked per layer (``layersChecked`` are its
    /// decoder's); `nil` for one stack.
    public var encoderLayersChecked: [Int]?
    /// An encoder-decoder's encoder layers the reference does not cover.
    public var encoderLayersUnchecked: [Int]?
    /// How the checkpoint was bound to its base at import (nil when not recorded): whether the
    /// base's weights are the ones the prefix was trained on was compared (`fingerprint`),
    /// assumed from a repository name (`provenance`) or shapes (`shape`), or named (`explicit`).
    public var baseBinding: BaseBinding?

    /// Creates the evidence record of a composition check.
    public init(
        kind: EvidenceKind, source: String, tool: String?, layersChecked: [Int] = [], layersUnchecked: [Int] = [],
        endToEndChecked: Bool = false
    ) {
        self.kind = kind
        self.source = source
        self.tool = tool
        self.layersChecked = layersChecked
        self.layersUnchecked = layersUnchecked
        self.endToEndChecked = endToEndChecked
    }

    /// Whether `tool` (from a reference's `meta`) names PrefixKit itself.
    static func isPrefixKit(_ tool: String?) -> Bool {
        guard let tool = tool?.lowercased() else { return false }
        return tool.hasPrefix("prefixkit")
    }
}

/// What a check examined: the `check` field of every report, spelled as the reports spell it.
public enum CheckKind: String, Sendable, Codable, Hashable, CaseIterable, CustomStringConvertible {
    /// SQLite integrity, foreign keys and schema version.
    case catalog
    /// Every blob's digests (or sizes and structure, `--quick`).
    case blobs
    /// Layer count, shapes, dtypes, `Pn` and the base's fingerprint.
    case structure
    /// Whether the reference itself can be used (its inputs, its layer count).
    case reference
    /// A checkpoint's verdict, as one check (JUnit and HTML).
    case verdict
    /// The LM or task head's output, real rows.
    case logits
    /// An encoder's pooler output.
    case pooler
    /// From the inputs to the final hidden state.
    case endToEnd = "end-to-end"
    /// The reference's prefix rows against the checkpoint's `P^l`.
    case prefixRows = "prefix-rows"
    /// The prefix exported to a format and read back.
    case roundTrip = "round-trip"
    /// f32 against f64 on a deterministic probe (no reference).
    case selfConsistency = "self-consistency"
    /// One block on the reference's own input rows, with the checkpoint's prefix.
    case teacherForced = "teacher-forced"

    /// The name reports use (`teacher-forced`), wherever the kind is printed.
    public var description: String { rawValue }
}

/// One check's result (a check per layer for per-layer checks).
public struct CheckResult: Sendable, Codable, Hashable {
    /// What was checked.
    public var check: CheckKind
    /// The layer, for per-layer checks.
    public var layer: Int?
    /// An encoder-decoder's stack the layer belongs to (`encoder`, `decoder`); `nil` for one stack.
    public var section: PrefixSection?
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
    /// The rows the checkpoint implies the layer's input has.
    public var expectedRowsIn: Int?
    /// Rows in the reference's output, and what the checkpoint implies.
    public var rowsOut: Int?
    /// The rows the checkpoint implies the layer's output has (`N`).
    public var expectedRowsOut: Int?
    /// What to try, for failures.
    public var fix: String?
    /// What the result rests on.
    public var evidence: EvidenceKind
    /// What the check was of, beyond its place: the format of a round trip (`npz`, `peft`, ...).
    public var subject: String?
    /// The seconds the check took, where it was timed on its own (per-layer composition checks,
    /// each round trip).
    public var seconds: Double?

    /// Where the check looked, for names and tables: `layer 3`, `encoder layer 3`, `decoder`;
    /// `nil` for a whole-model check of one stack.
    public var place: String? {
        switch (section, layer) {
        case (let section?, let layer?): "\(section.rawValue) layer \(layer)"
        case (nil, let layer?): "layer \(layer)"
        case (let section?, nil): section.rawValue
        case (nil, nil): nil
        }
    }

    /// Creates a check result.
    public init(
        check: CheckKind, layer: Int? = nil, section: PrefixSection? = nil, status: CheckStatus, message: String,
        maxAbsError: Double? = nil,
        relativeError: Double? = nil, tolerance: Double? = nil, rowsIn: Int? = nil, expectedRowsIn: Int? = nil,
        rowsOut: Int? = nil, expectedRowsOut: Int? = nil, fix: String? = nil, evidence: EvidenceKind
    ) {
        self.evidence = evidence
        self.check = check
        self.layer = layer
        self.section = section
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

/// Everything verified about one checkpoint.
public struct CheckpointVerification: Sendable, Codable {
    /// The checkpoint, `NAME@STEP`.
    public var checkpoint: String
    /// Where the composition's reference came from (`--reference` path, `stored probe`, `none`).
    public var reference: String
    /// The precision the candidate was recomputed in (`f64`, `f32`).
    public var computeDType: ComputeDType
    /// The tolerances composition checks against a reference are held to (the summary prints
    /// them only when such checks ran; every check carries the tolerance it used).
    public var tolerances: Tolerances
    /// Every check run, in order.
    public var checks: [CheckResult]
    /// The known bug that explains a failure, if one does.
    public var diagnosis: Diagnosis?
    /// A reference whose shapes no known bug explains (exit 3).
    public var unexplainedReference: Bool
    /// What the composition checks rest on.
    public var evidence: CompositionEvidence
    /// What the user must know about this checkpoint's family (PEFT's no-op on DistilBERT).
    public var notes: [String] = []
    /// The seconds its verification took (structure, composition, round trip).
    public var seconds: Double?
    /// Its (decoder) layers and an encoder-decoder's encoder layers, for the report's chart.
    public var layerCount: Int?, encoderLayerCount: Int?
    /// No check failed (the composition may still be unverified: read ``verdict``).
    public var passed: Bool { !checks.contains { $0.status == .fail } && !unexplainedReference }
    /// Pass only with independent evidence for the composition; unverified without it.
    public var verdict: Verdict {
        guard passed else { return .fail }
        return unverifiedReason == nil ? .pass : .unverified
    }
    /// Why the verdict is not a pass although no check failed.
    public var unverifiedReason: String? {
        switch evidence.kind {
        case .independentReference:
            if !evidence.endToEndChecked && !evidence.layersUnchecked.isEmpty {
                return
                    "\(evidence.encoderLayersChecked == nil ? "" : "decoder ")layer(s) \(evidence.layersUnchecked.map(String.init).joined(separator: ", ")) not covered by the reference, and no end-to-end check"
            }
            if !evidence.endToEndChecked, let unchecked = evidence.encoderLayersUnchecked, !unchecked.isEmpty {
                return
                    "encoder layer(s) \(unchecked.map(String.init).joined(separator: ", ")) not covered by the reference, and no end-to-end check"
            }
            if evidence.layersChecked.isEmpty && !evidence.endToEndChecked { return "the reference covers no layer and has no 'final'" }
            return nil
        case .sameEngine:
            return evidence.source == "stored probe" ? "probe from the same engine" : "reference from the same engine"
        case .selfConsistency:
            return "no reference: self-consistency only"
        case .integrity, .structure, .roundTrip:
            return "structure only"
        }
    }

    /// What to do about a verdict other than PASS, the same in every report (terminal, JSON,
    /// JUnit, HTML): the diagnosis' fix or the first failed check's, or how to get independent
    /// evidence for an unverified composition.
    public var fix: String? {
        switch verdict {
        case .pass: nil
        case .unverified: Self.unverifiedFix
        case .fail: diagnosis?.fix ?? checks.first { $0.status == .fail && $0.fix != nil }?.fix
        }
    }

    /// How an unverified composition gets independent evidence.
    public static let unverifiedFix =
        "give an independent reference (--reference FILE.npz, e.g. from `prefixkit reference BASE ADAPTER --out FILE.npz`) or store one with `prefixkit probe add`"

    enum CodingKeys: String, CodingKey {
        case checkpoint, reference, computeDType = "computeDtype", tolerances, checks, diagnosis, unexplainedReference, passed
        case evidence, verdict, unverifiedReason, fix, notes, seconds, layerCount, encoderLayerCount
    }

    /// Encodes the verification with its derived fields (`passed`, `verdict`).
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
        try c.encode(evidence, forKey: .evidence)
        try c.encode(verdict, forKey: .verdict)
        try c.encodeIfPresent(unverifiedReason, forKey: .unverifiedReason)
        try c.encodeIfPresent(fix, forKey: .fix)
        if !notes.isEmpty { try c.encode(notes, forKey: .notes) }
        try c.encodeIfPresent(seconds, forKey: .seconds)
        try c.encodeIfPresent(layerCount, forKey: .layerCount)
        try c.encodeIfPresent(encoderLayerCount, forKey: .encoderLayerCount)
    }

    /// Decodes a verification written by ``encode(to:)``.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        checkpoint = try c.decode(String.self, forKey: .checkpoint)
        reference = try c.decode(String.self, forKey: .reference)
        computeDType = try c.decode(ComputeDType.self, forKey: .computeDType)
        tolerances = try c.decode(Tolerances.self, forKey: .tolerances)
        checks = try c.decode([CheckResult].self, forKey: .checks)
        diagnosis = try c.decodeIfPresent(Diagnosis.self, forKey: .diagnosis)
        unexplainedReference = try c.decode(Bool.self, forKey: .unexplainedReference)
        evidence = try c.decode(CompositionEvidence.self, forKey: .evidence)
        notes = try c.decodeIfPresent([String].self, forKey: .notes) ?? []
        seconds = try c.decodeIfPresent(Double.self, forKey: .seconds)
        layerCount = try c.decodeIfPresent(Int.self, forKey: .layerCount)
        encoderLayerCount = try c.decodeIfPresent(Int.self, forKey: .encoderLayerCount)
    }

    init(
        checkpoint: String, reference: String, computeDType: ComputeDType, tolerances: Tolerances, checks: [CheckResult],
        diagnosis: Diagnosis?, unexplainedReference: Bool, evidence: CompositionEvidence
    ) {
        self.checkpoint = checkpoint
        self.reference = reference
        self.computeDType = computeDType
        self.tolerances = tolerances
        self.checks = checks
        self.diagnosis = diagnosis
        self.unexplainedReference = unexplainedReference
        self.evidence = evidence
    }
}

/// A whole `verify` run.
public struct VerificationReport: Sendable, Codable {
    /// The store's path.
    public var store: String
    /// When the run started (ISO 8601, UTC).
    public var startedAt: String
    /// The PrefixKit version that ran it.
    public var toolVersion: String
    /// The store-wide checks (catalog integrity, blobs).
    public var catalog: [CheckResult]
    /// One verification per checkpoint.
    public var checkpoints: [CheckpointVerification]
    /// Whether the verdicts were recorded in the catalog.
    public var recorded: Bool
    /// Why they were not recorded, if they were not.
    public var recordNote: String?
    /// The layer shard this run covered (`INDEX/COUNT`), if any.
    public var shard: String?
    /// Whether an unverified checkpoint fails the run (`--require-reference`).
    public var requireReference = false
    /// The blobs whose structure and digests the run checked (paths relative to the store):
    /// those the verified checkpoints and their bases read, and no others.
    public var blobsCovered: [String] = []
    /// Seconds spent per phase: `catalog`, `structure`, `per_layer` (teacher-forced and prefix
    /// rows), `end_to_end`, `self_consistency`, `round_trip`.
    public var timings: [String: Double] = [:]
    /// No check failed anywhere (some checkpoints may still be unverified: read ``verdict``).
    public var passed: Bool { !catalog.contains { $0.status == .fail } && checkpoints.allSatisfy(\.passed) }
    /// Fail if anything failed, else unverified if any checkpoint is, else pass.
    public var verdict: Verdict {
        if !passed { return .fail }
        return checkpoints.contains { $0.verdict == .unverified } ? .unverified : .pass
    }
    /// 0 pass or unverified, 1 a finding (or unverified with ``requireReference``), 3 a
    /// reference no known bug explains.
    public var exitCode: Int32 {
        if checkpoints.contains(where: \.unexplainedReference) { return 3 }
        switch verdict {
        case .pass: return 0
        case .fail: return 1
        case .unverified: return requireReference ? 1 : 0
        }
    }

    enum CodingKeys: String, CodingKey {
        case store, startedAt, toolVersion, catalog, checkpoints, recorded, recordNote, shard, passed, exitCode, timings
        case verdict, requireReference, blobsCovered
    }

    /// Encodes the report with its derived fields (`passed`, `exit_code`, `verdict`).
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
        try c.encode(verdict, forKey: .verdict)
        try c.encode(requireReference, forKey: .requireReference)
        try c.encode(exitCode, forKey: .exitCode)
        try c.encode(timings, forKey: .timings)
        try c.encode(blobsCovered, forKey: .blobsCovered)
    }

    /// Decodes a report written by ``encode(to:)``.
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
        requireReference = try c.decodeIfPresent(Bool.self, forKey: .requireReference) ?? false
        timings = try c.decodeIfPresent([String: Double].self, forKey: .timings) ?? [:]
        blobsCovered = try c.decodeIfPresent([String].self, forKey: .blobsCovered) ?? []
    }

    init(
        store: String, startedAt: String, toolVersion: String, catalog: [CheckResult], checkpoints: [CheckpointVerification],
        recorded: Bool, recordNote: String?, shard: String?
    ) {
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
