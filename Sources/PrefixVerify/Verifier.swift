import Foundation
import PrefixCompute
import PrefixConvert
import PrefixCore
import PrefixFormats
import PrefixRuntime
public import PrefixStore

/// Options of a verification.
public struct VerifyOptions: Sendable {
    /// The checkpoints to verify (`NAME`, `NAME@STEP`); every checkpoint when empty.
    public var checkpoints: [String] = []
    /// A reference in the exchange format (exactly one checkpoint); otherwise each checkpoint's
    /// stored probe, otherwise a deterministic self-consistency probe.
    public var reference: String?
    /// Sample digests instead of checking every one.
    public var quick = false
    /// Round-trip the base too (once per base), not only the prefix.
    public var fullRoundTrip = false
    /// Skip the round trip.
    public var skipRoundTrip = false
    /// Override the tolerances.
    public var tolerances: Tolerances?
    /// The precision PrefixKit recomputes in (`f32` or `f64`); by default f64 when the
    /// reference was computed in f64 (or there is none), else f32.
    public var computeDType: ComputeDType?
    /// Independent per-layer checks run this many at once.
    public var jobs = 1
    /// This job's share of checkpoints (or of layers, with one checkpoint): `(index, count)`.
    public var shard: (index: Int, count: Int)?
    /// Record the result in the catalog.
    public var record = true
    /// Count a checkpoint whose composition nothing independent checked as a finding (exit 1).
    public var requireReference = false
    /// Where libhdf5 reads the blobs' metadata during the blob checks.
    public var blobIsolation: BlobIsolation = .inProcess
    /// Told what is being verified as the work goes on: each checkpoint's stages, and each
    /// layer checked against a reference.
    public var progress: (@Sendable (VerifyProgress) -> Void)?

    /// Options with every default.
    public init() {}
}

/// Where a verification is: which checkpoint, which stage, how many layers are done.
public struct VerifyProgress: Sendable {
    /// The checkpoint (`NAME@STEP`), or nil during the store-wide catalog and blob checks.
    public var checkpoint: String?
    /// Its place among the selected checkpoints (1-based) and their count.
    public var index: Int, count: Int
    /// `catalog`, `composition`, `round trip`.
    public var stage: String
    /// The layers checked so far and the layers to check, during a composition check.
    public var layersDone: Int?, layers: Int?
}

/// Verifies checkpoints: catalog, blobs, structure, composition against reference activations
/// (naming the bug when it fails), round trip; and records the result.
public enum Verifier {
    /// Runs every check on the selected checkpoints.
    ///
    /// - Throws: ``PrefixStore/StorageError`` `.notFound` for an unknown checkpoint (usage),
    ///   ``PrefixFormats/FormatError`` for a reference that cannot be read, and usage errors.
    public static func run(_ store: Store, options: VerifyOptions = VerifyOptions()) throws -> VerificationReport {
        let started = Store.timestamp()
        var selected = try options.checkpoints.isEmpty ? store.checkpoints() : options.checkpoints.map { try store.checkpoint($0) }
        if selected.isEmpty {
            throw StorageError(
                .invalidArgument, "the store holds no checkpoints: nothing to verify (import one first)", path: store.directory)
        }
        if options.reference != nil, selected.count != 1 {
            throw StorageError(.invalidArgument, "--reference needs exactly one checkpoint (\(selected.count) selected)")
        }
        let reference = try options.reference.map { path in
            let base = try store.base("base:" + selected[0].baseFingerprint)
            return try ActivationExchange.read(
                path: path, bounds: ExchangeBounds(config: base.config, prefixLength: selected[0].prefixLength))
        }
        var layerShard: (index: Int, count: Int)?
        if let shard = options.shard {
            if selected.count >= shard.count {
                selected = selected.enumerated().filter { $0.offset % shard.count == shard.index }.map(\.element)
            } else {
                layerShard = shard
            }
        }
        var timings: [String: Double] = [:]
        options.progress?(VerifyProgress(checkpoint: nil, index: 0, count: selected.count, stage: "catalog and blobs"))
        // The catalog rows and the blobs' structure are checked before anything reads a blob;
        // the digests are then computed beside the compositions, which read the same bytes.
        let (quick, isolation, checkpoints) = (options.quick, options.blobIsolation, selected)
        let blobChecks = BesideWork { structureChecked in
            let clock = ContinuousClock.now
            let checks = try catalogChecks(
                store, quick: quick, checkpoints: checkpoints, isolation: isolation, structureChecked: structureChecked)
            return (checks.0, checks.covered, CompositionCheck.seconds(since: clock))
        }
        try blobChecks.waitUntilReady()
        var report = VerificationReport(
            store: store.directory, startedAt: started, toolVersion: PrefixKitVersion.current, catalog: [], checkpoints: [],
            recorded: false, recordNote: nil, shard: options.shard.map { "\($0.index)/\($0.count)" })
        report.requireReference = options.requireReference
        var roundTrippedBases = Set<String>()
        for (index, info) in selected.enumerated() {
            options.progress?(VerifyProgress(checkpoint: info.reference, index: index + 1, count: selected.count, stage: "composition"))
            let checkpointClock = ContinuousClock.now
            var result = try verify(
                store, info, reference: reference, referencePath: options.reference, options: options,
                layerShard: layerShard, position: (index + 1, selected.count), timings: &timings)
            if !options.skipRoundTrip, layerShard.map({ $0.index == 0 }) ?? true {
                options.progress?(VerifyProgress(checkpoint: info.reference, index: index + 1, count: selected.count, stage: "round trip"))
                let clock = ContinuousClock.now
                result.checks += RoundTrip.prefix(store, info)
                if options.fullRoundTrip, roundTrippedBases.insert(info.baseFingerprint).inserted {
                    result.checks += RoundTrip.base(store, info)
                }
                timings["round_trip", default: 0] += CompositionCheck.seconds(since: clock)
            }
            result.seconds = CompositionCheck.seconds(since: checkpointClock)
            report.checkpoints.append(result)
        }
        let (catalog, covered, catalogSeconds) = try blobChecks.result()
        (report.catalog, report.blobsCovered) = (catalog, covered)
        timings["catalog"] = catalogSeconds
        report.timings = timings
        if options.record, let reason = store.readOnlyReason {
            report.recordNote = "the store is read-only (\(reason)): the result was not recorded"
        } else if options.record {
            var failures: [String] = []
            for (info, result) in zip(selected, report.checkpoints) {
                let details = ["checks": result.checks.count, "failed": result.checks.filter { $0.status == .fail }.count]
                do {
                    try store.recordVerification(checkpoint: info, started: started, verdict: result.verdict.rawValue, details: details)
                } catch {
                    failures.append("\(error)")
                }
            }
            report.recorded = failures.isEmpty && !selected.isEmpty
            if let first = failures.first { report.recordNote = "the result was not recorded: \(first)" }
        } else {
            report.recordNote = "not recorded (--no-record)"
        }
        return report
    }

    /// The catalog rows and blobs the checkpoints read (every digest, or a sample with
    /// `quick`), with the blobs covered.
    static func catalogChecks(
        _ store: Store, quick: Bool, checkpoints: [CheckpointInfo], isolation: BlobIsolation, structureChecked: (() -> Void)? = nil
    ) throws -> ([CheckResult], covered: [String]) {
        let check = try store.check(
            .checkpoints(checkpoints), digests: !quick, record: false, isolation: isolation, structureChecked: structureChecked)
        let catalog = check.findings.filter { $0.check == "catalog" && $0.severity == "error" }
        let blobs = check.findings.filter { ["blob", "structure", "digest"].contains($0.check) && $0.severity == "error" }
        let covered = check.blobPaths ?? []
        let blobList = covered.count <= 3 ? covered.joined(separator: ", ") : "\(covered.prefix(2).joined(separator: ", ")), ..."
        var results = [
            CheckResult(
                check: .catalog, status: catalog.isEmpty ? .pass : .fail,
                message: catalog.isEmpty
                    ? "the catalog rows of \(check.checkpoints) checkpoint(s) and \(check.bases) base(s), and the rows they reference, OK (the whole store: `prefixkit check`)"
                    : catalog.map(describe).joined(separator: "; "),
                fix: catalog.isEmpty ? nil : "restore the store from a backup; `prefixkit check` lists every finding", evidence: .integrity),
            CheckResult(
                check: .blobs, status: blobs.isEmpty ? .pass : .fail,
                message: blobs.isEmpty
                    ? (quick
                        ? "the \(check.blobs) blob(s) they read (\(blobList)): sizes and structure OK (digests sampled)"
                        : "the \(check.blobs) blob(s) they read (\(blobList)): sizes, structure and \(check.tensorsHashed) digests OK")
                    : blobs.map(describe).joined(separator: "; "),
                fix: blobs.isEmpty ? nil : "re-import the affected checkpoints; `prefixkit check` lists every finding", evidence: .integrity
            ),
        ]
        if quick {
            // A sample: each checkpoint's first and last layer, hashed.
            var sampled = 0
            var problems: [String] = []
            for info in checkpoints {
                for layer in Set([0, info.numLayers - 1]) {
                    do { _ = try store.prefix(of: info, layer: layer, verify: true); sampled += 1 } catch { problems.append("\(error)") }
                }
            }
            results.append(
                CheckResult(
                    check: .blobs, status: problems.isEmpty ? .pass : .fail,
                    message: problems.isEmpty ? "sampled digests of \(sampled) layer(s) OK" : problems.joined(separator: "; "),
                    evidence: .integrity))
        }
        return (results, covered)
    }

    static func describe(_ finding: CheckFinding) -> String {
        var text = finding.message
        if let tensor = finding.tensor { text += " (tensor \(tensor))" }
        if let owners = finding.owners, !owners.isEmpty { text += " [\(owners.joined(separator: ", "))]" }
        if let path = finding.path { text += " \(path)" }
        return text
    }

    static func verify(
        _ store: Store, _ info: CheckpointInfo, reference given: ActivationExchange?, referencePath: String?,
        options: VerifyOptions, layerShard: (index: Int, count: Int)?, position: (index: Int, count: Int) = (1, 1),
        timings: inout [String: Double]
    ) throws -> CheckpointVerification {
        let structureClock = ContinuousClock.now
        var checks = Structure.checks(store, info)
        timings["structure", default: 0] += CompositionCheck.seconds(since: structureClock)
        let structureFailed = checks.contains { $0.status == .fail }
        var reference = given
        var source = referencePath.map { "reference \($0)" } ?? "none"
        if reference == nil, info.hasProbe {
            let content = try store.load(info)
            var entries = content.probe.map { (name: $0.name, value: NPYValue.tensor($0.tensor)) }
            if let meta = content.probeMeta { entries.append(("meta", .strings([meta], shape: []))) }
            reference = try ActivationExchange(entries: entries)
            source = "stored probe"
        }
        let tool = reference?.metaString("tool")
        let kind: EvidenceKind =
            reference == nil ? .selfConsistency : (CompositionEvidence.isPrefixKit(tool) ? .sameEngine : .independentReference)
        let candidateDType = reference == nil ? DType.f64 : Tolerances.referenceDType(reference?.metaString("compute_dtype"))
        // Recomputed in f64 for an f64 reference (or none), else in f32.
        let computeDType = options.computeDType ?? (candidateDType == .f64 ? .f64 : .f32)
        // A reference whose rotary angles (HF transformers, every dtype) or attention softmax
        // (BLOOM, MPT) were computed in f32 is only as exact as f32: hold it to the f32 row.
        let ropeInF32 =
            try reference?.metaString("rope_dtype") == "f32"
            && Architectures.recipe(for: store.base("base:" + info.baseFingerprint).config).rotatesKeys
            || reference?.metaString("softmax_dtype") == "f32"
            // T5's norm takes its mean square in float32 in transformers, whatever the dtype.
            || reference?.metaString("norm_dtype") == "f32"
        let tolerances =
            options.tolerances
            ?? .for((candidateDType == .f64 && computeDType == .f32) || ropeInF32 ? .f32 : candidateDType)
        var result = CheckpointVerification(
            checkpoint: info.reference, reference: source == "none" ? "none" : source.replacingOccurrences(of: "reference ", with: ""),
            computeDType: computeDType, tolerances: tolerances, checks: checks, diagnosis: nil, unexplainedReference: false,
            evidence: CompositionEvidence(kind: structureFailed ? .structure : kind, source: source, tool: tool))
        result.evidence.baseBinding = info.provenance.baseBinding
        result.layerCount = info.numLayers
        guard !structureFailed else { return result }
        let stack = try store.stack(for: info)
        result.encoderLayerCount = stack.config.encoderLayers
        if let note = try Architectures.named(stack.config.family).peftNote { result.notes.append(note) }
        result.notes += info.sectionNotes(encoderDecoder: stack.isEncoderDecoder)
        if let rule = reference?.metaString("position_rule"), rule != stack.positionRule.name {
            result.notes.append(
                "the reference says its rows took positions by the rule '\(rule)', but \(stack.config.family) places them by '\(stack.positionRule.name)': padded rows' positions differ"
            )
        }
        let layers = Array(0..<info.numLayers).filter { layer in layerShard.map { layer % $0.count == $0.index } ?? true }
        if let reference {
            var composition = CompositionCheck(
                stack: stack, reference: reference, tolerances: tolerances, useDouble: computeDType == .f64,
                layers: layers, jobs: max(1, options.jobs), endToEnd: layerShard.map { $0.index == 0 } ?? true)
            composition.evidence = kind
            composition.alternativeBases = { try otherBases(store, info) }
            composition.alternativeSteps = { try otherSteps(store, info, stack: stack) }
            if let progress = options.progress {
                let reference = info.reference
                composition.layerDone = { done, total in
                    progress(
                        VerifyProgress(
                            checkpoint: reference, index: position.index, count: position.count, stage: "composition", layersDone: done,
                            layers: total))
                }
            }
            let outcome = composition.run()
            checks += outcome.checks
            timings["per_layer", default: 0] += outcome.perLayerSeconds
            timings["end_to_end", default: 0] += outcome.endToEndSeconds
            result.diagnosis = outcome.diagnosis
            result.unexplainedReference = outcome.unexplained
            result.evidence.layersChecked = outcome.layersChecked
            result.evidence.layersUnchecked = outcome.layersUnchecked
            result.evidence.endToEndChecked = outcome.endToEndPassed
            result.evidence.encoderLayersChecked = outcome.encoderLayersChecked
            result.evidence.encoderLayersUnchecked = outcome.encoderLayersUnchecked
        } else {
            let clock = ContinuousClock.now
            checks += SelfConsistency.checks(stack, info)
            timings["self_consistency", default: 0] += CompositionCheck.seconds(since: clock)
        }
        result.checks = checks
        return result
    }

    /// How many other steps a failed reference is tried against.
    static let stepsTried = 64

    /// The other steps of the checkpoint's name on the same base (the `stepsTried` nearest to its
    /// own step, nearest first), each as a stack with that step's prefix, labelled `NAME@STEP`.
    ///
    /// - Throws: ``PrefixStore/StorageError`` when the catalog cannot be read.
    static func otherSteps(_ store: Store, _ info: CheckpointInfo, stack: PrefixStack) throws -> [(label: String, stack: PrefixStack)] {
        let steps = try store.checkpoints(named: info.name, nearestTo: info.step, limit: stepsTried)
        let candidates = steps.filter {
            $0.baseFingerprint == info.baseFingerprint && $0.numLayers == info.numLayers && $0.prefixLength == info.prefixLength
        }
        // A step whose prefix does not fit the stack is no candidate.
        return candidates.compactMap { other in
            guard let candidate = try? stack.with(prefix: store.prefixSource(for: other)) else { return nil }
            return (other.reference, candidate)
        }
    }

    /// The checkpoint's prefix on each other stored base that it fits, labelled `base:FP`.
    ///
    /// - Throws: ``PrefixStore/StorageError`` when the catalog cannot be read.
    static func otherBases(_ store: Store, _ info: CheckpointInfo) throws -> [(label: String, stack: PrefixStack)] {
        // A base the prefix does not fit (its weights cannot make a stack with it) is no candidate.
        try store.bases().filter { $0.fingerprint != info.baseFingerprint }.compactMap { base in
            guard base.config.numLayers == info.numLayers,
                let weights = try? StoredBaseTensors(store: store, base: base),
                let stack = try? PrefixStack(config: base.config, weights: weights, prefix: store.prefixSource(for: info))
            else { return nil }
            return (base.shortReference, stack)
        }
    }
}

/// Work run on its own thread beside the caller's: it says once when the caller may go on
/// (`ready`), and its result is collected at the end.
final class BesideWork<Value: Sendable>: @unchecked Sendable {
    // Safety: `outcome` is written once by the worker before `finished.leave()` and read only
    // after `finished.wait()`; `failedEarly` before `readySignal.signal()`, read after its wait.
    private var outcome: Result<Value, any Error>?
    private var failedEarly: (any Error)?
    private let finished = DispatchGroup()
    private let readySignal = DispatchSemaphore(value: 0)

    /// Starts `work`, which calls its argument once the caller may go on (or returns first).
    init(_ work: @escaping @Sendable (_ ready: @escaping () -> Void) throws -> Value) {
        finished.enter()
        let ready = readySignal
        Thread.detachNewThread { [self] in
            let signalled = Flag()
            let result = Result {
                try work {
                    if signalled.set() { ready.signal() }
                }
            }
            outcome = result
            if signalled.set() {
                // The work ended without saying the caller may go on: an error ends the caller too.
                if case .failure(let error) = result { failedEarly = error }
                ready.signal()
            }
            finished.leave()
        }
    }

    /// Blocks until the work said the caller may go on, or ended.
    ///
    /// - Throws: the error of work that failed before it said so (the caller must not go on).
    func waitUntilReady() throws {
        readySignal.wait()
        if let failedEarly { throw failedEarly }
    }

    /// Blocks until the work ends; its value, or the error it threw.
    func result() throws -> Value {
        finished.wait()
        guard let outcome else { preconditionFailure("the work ended without an outcome") }
        return try outcome.get()
    }

    /// A flag set once, from any thread.
    private final class Flag: @unchecked Sendable {
        // Safety: every access goes through `lock`.
        private var isSet = false
        private let lock = NSLock()
        /// Sets the flag; true the first time.
        func set() -> Bool {
            lock.withLock {
                defer { isSet = true }; return !isSet
            }
        }
    }
}
