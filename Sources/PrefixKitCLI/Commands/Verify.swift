import ArgumentParser
import Foundation
import PrefixKit

/// `prefixkit verify`: prove checkpoints intact and composing correctly; name the bug if not.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify checkpoints: catalog, digests, structure, composition layer by layer, round trips; name the bug on failure.",
        discussion: """
            Composition is checked against reference activations (exchange format): --reference FILE.npz (one checkpoint), \
            else the checkpoint's stored probe, else a deterministic probe (hidden form vs its key/value conversion, f32 vs f64). \
            For each layer: the reference's prefix rows against P^l, then teacher-forced H^l = [P^l ; reference Hbar^l] through \
            Block_l, keeping the last N rows, against the reference's output; then end to end. A checkpoint whose composition \
            nothing independent of PrefixKit checked (no reference, or one PrefixKit computed) is UNVERIFIED, not PASS. \
            Exit codes: 0 pass or unverified, 1 a finding (or unverified with --require-reference), 2 usage, 3 a reference or \
            store that cannot be read, or a reference whose shapes no known bug explains.
            """)

    @OptionGroup var store: StoreArgument

    @Argument(help: "Checkpoints to verify (NAME or NAME@STEP); every checkpoint when none is named.")
    var checkpoints: [String] = []

    @Option(name: .long, help: "Reference activations in the exchange format (.npz); needs exactly one checkpoint.")
    var reference: String?

    @Flag(name: .long, help: "Sample digests instead of checking every one.")
    var quick = false

    @Option(name: .long, help: "Round trip: prefix (default), full (also the base, once per base) or none.")
    var roundTrip: String = "prefix"

    @Option(name: .long, help: "Recompute in f32 or f64 (default: f64 when the reference is f64 or absent, else f32).")
    var dtype: ComputeType?

    @Option(name: .long, help: "Override the per-layer tolerance (relative error).")
    var toleranceLayer: Double?

    @Option(name: .long, help: "Override the end-to-end tolerance (relative error).")
    var toleranceEnd: Double?

    @Option(name: .long, help: "Run this many independent per-layer checks at once.")
    var jobs = 1

    @Option(name: .long, help: "This job's share, i/N: checkpoints split across N jobs (layers, with one checkpoint).")
    var shard: String?

    @Option(name: .long, help: "Write a JUnit XML report here (a testcase per check per layer).")
    var junit: String?

    @Option(name: .long, help: "Write a self-contained HTML report with a per-layer error chart here.")
    var html: String?

    @Flag(name: .long, help: "Do not record the result in the catalog.")
    var noRecord = false

    @Option(
        name: .long,
        help: "Also print CI annotations: github (workflow commands: an error per failed check, a warning per UNVERIFIED checkpoint).")
    var annotations: AnnotationFormat?

    @Flag(name: .long, help: "Fail (exit 1) when a checkpoint's composition is unverified: no independent reference checked it.")
    var requireReference = false

    @OptionGroup var output: OutputOptions
    @OptionGroup var progress: ProgressOptions

    func validate() throws {
        guard ["prefix", "full", "none"].contains(roundTrip) else { throw ValidationError("--round-trip takes prefix, full or none") }
        if let shard, Verify.parseShard(shard) == nil { throw ValidationError("--shard takes i/N with 0 <= i < N") }
        guard (1...256).contains(jobs) else { throw ValidationError("--jobs must be in 1...256") }
        for (flag, value) in [("--tolerance-layer", toleranceLayer), ("--tolerance-end", toleranceEnd)] {
            if let value, !(value.isFinite && value > 0) {
                throw ValidationError("\(flag) must be a positive finite relative error, not \(value)")
            }
        }
        if reference != nil && checkpoints.count != 1 { throw ValidationError("--reference needs exactly one checkpoint") }
        // Report paths are checked before the work, not after a whole verification.
        for (flag, path) in [("--junit", junit), ("--html", html)] { try ReportPath.validate(flag, path, outside: [store.store]) }
    }

    static func parseShard(_ text: String) -> (index: Int, count: Int)? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n > 0, (0..<n).contains(i) else { return nil }
        return (i, n)
    }

    func run() throws {
        let opened = try Store.open(at: store.store, lockTimeout: store.lockTimeout)
        var options = VerifyOptions()
        options.checkpoints = checkpoints
        options.reference = reference
        options.quick = quick
        options.fullRoundTrip = roundTrip == "full"
        options.skipRoundTrip = roundTrip == "none"
        options.computeDType = dtype.map { $0 == .f64 ? .f64 : .f32 }
        if toleranceLayer != nil || toleranceEnd != nil {
            let defaults = Tolerances.for(dtype == .f64 ? .f64 : .f32)
            options.tolerances = Tolerances(perLayer: toleranceLayer ?? defaults.perLayer, endToEnd: toleranceEnd ?? defaults.endToEnd)
        }
        options.jobs = jobs
        options.shard = shard.flatMap(Verify.parseShard)
        options.record = !noRecord
        options.requireReference = requireReference
        options.blobIsolation = InspectBlobs.isolation
        let bar = Progress("verifying", mode: progress.mode)
        options.progress = { at in
            let layers = at.layers.map { ": layer \(at.layersDone ?? 0)/\($0)" } ?? ""
            // Each stage is shown; layers as often as the line is redrawn, and the last one.
            bar.step(
                at.checkpoint.map { "\($0) (\(at.index)/\(at.count)): \(at.stage)\(layers)" } ?? at.stage,
                final: at.layers == nil || at.layersDone == at.layers)
        }
        let report = try Verifier.run(opened, options: options)
        bar.finish()
        if let junit { try JUnitReport.xml(report).write(toFile: junit, atomically: true, encoding: .utf8) }
        if let html { try HTMLReport.page(report).write(toFile: html, atomically: true, encoding: .utf8) }
        if output.json { try JSONOutput.print(report) } else { VerifySummary.print(report, verbose: output.verbose) }
        if annotations == .github {
            // After the report; on stderr when stdout carries JSON (the runner reads both).
            let text = GitHubAnnotations.lines(report).map { $0 + "\n" }.joined()
            if output.json { FileHandle.standardError.write(Data(text.utf8)) } else { Swift.print(text, terminator: "") }
        }
        if report.exitCode != 0 { throw CommandFailure(status: report.exitCode == 3 ? .input : .finding) }
    }
}

/// Where `--annotations` prints for.
enum AnnotationFormat: String, ExpressibleByArgument, CaseIterable {
    /// GitHub Actions workflow commands.
    case github
}

/// The human summary of a verification.
enum VerifySummary {
    static func print(_ report: VerificationReport, verbose: Bool) {
        PrefixKitCLI.print("verify \(report.store)\(report.shard.map { " (shard \($0))" } ?? "")")
        for check in report.catalog { PrefixKitCLI.print("  \(mark(check.status)) \(check.check): \(check.message)") }
        for checkpoint in report.checkpoints {
            PrefixKitCLI.print("\n\(checkpoint.checkpoint): \(evidenceLine(checkpoint))")
            if let binding = checkpoint.evidence.baseBinding { PrefixKitCLI.print("  base: \(bindingText(binding))") }
            var rows = [["check", "layer", "rows", "max abs", "relative", "tolerance", "verdict"]]
            for check in checkpoint.checks where check.relativeError != nil || check.rowsIn != nil || verbose {
                let place = (check.section.map { $0.rawValue + " " } ?? "") + (check.layer.map(String.init) ?? "")
                rows.append([
                    check.check.rawValue, place, rowText(check),
                    check.maxAbsError.map { String(format: "%.2e", $0) } ?? "",
                    check.relativeError.map { String(format: "%.2e", $0) } ?? "", check.tolerance.map { String(format: "%.0e", $0) } ?? "",
                    check.status.rawValue,
                ])
            }
            if rows.count > 1 { PrefixKitCLI.print(Format.table(rows)) }
            for check in checkpoint.checks where check.relativeError == nil && check.rowsIn == nil && !verbose {
                PrefixKitCLI.print("  \(mark(check.status)) \(check.check)\(check.place.map { " " + $0 } ?? ""): \(check.message)")
            }
            for check in checkpoint.checks where check.status == .fail {
                PrefixKitCLI.print("  FAIL \(check.message)\(check.fix.map { "\n       fix: \($0)" } ?? "")")
            }
            if let diagnosis = checkpoint.diagnosis {
                PrefixKitCLI.print("  diagnosis: \(diagnosis.summary)\n  fix: \(diagnosis.fix)")
            }
            for note in checkpoint.notes { PrefixKitCLI.print("  note: \(note)") }
            PrefixKitCLI.print("  \(verdictText(checkpoint))")
            // The diagnosis' fix is printed with it; otherwise the verdict's own.
            if checkpoint.diagnosis == nil, let fix = checkpoint.fix,
                !checkpoint.checks.contains(where: { $0.fix == fix && $0.status == .fail })
            {
                PrefixKitCLI.print("  fix: \(fix)")
            }
        }
        if report.checkpoints.count > 1 {
            let count = { (verdict: Verdict) in report.checkpoints.filter { $0.verdict == verdict }.count }
            PrefixKitCLI.print(
                "\n\(report.checkpoints.count) checkpoints: \(count(.pass)) passed, \(count(.unverified)) unverified, \(count(.fail)) failed"
            )
        }
        let overall =
            report.verdict == .unverified && report.requireReference
            ? "FAIL (unverified, and --require-reference was given)" : report.verdict.label
        PrefixKitCLI.print("\n\(overall)\(report.recorded ? " (recorded in the catalog)" : report.recordNote.map { " (\($0))" } ?? "")")
    }

    /// What the checkpoint's composition was checked against, and with which tolerances.
    static func evidenceLine(_ checkpoint: CheckpointVerification) -> String {
        let evidence = checkpoint.evidence
        let tool = evidence.tool.map { " (computed by \($0))" } ?? ""
        switch evidence.kind {
        case .independentReference, .sameEngine:
            return
                "\(evidence.source)\(tool), recomputed in \(checkpoint.computeDType.rawValue), tolerance \(checkpoint.tolerances.perLayer) per layer / \(checkpoint.tolerances.endToEnd) end to end"
        case .selfConsistency:
            return "no reference given or stored: the composition is not checked against anything independent (self-consistency only)"
        case .integrity, .structure, .roundTrip:
            return "structure checks failed: the composition was not checked"
        }
    }

    /// How the checkpoint's base was bound at import, in words.
    static func bindingText(_ binding: BaseBinding) -> String {
        switch binding {
        case .fingerprint: "bound by fingerprint: the base the source named was read and its weights matched"
        case .provenance: "bound by provenance: the stored base came from the repository the adapter names (weights not compared)"
        case .explicit: "bound explicitly (--base at import)"
        case .shape: "bound by shape alone: the one stored base whose shapes fit (weights not compared)"
        }
    }

    /// `PASS`, `FAIL`, or `UNVERIFIED (why)`.
    static func verdictText(_ checkpoint: CheckpointVerification) -> String {
        let verdict = checkpoint.verdict
        return verdict == .unverified ? "\(verdict.label) (\(checkpoint.unverifiedReason ?? "no independent evidence"))" : verdict.label
    }

    static func rowText(_ check: CheckResult) -> String {
        guard let rowsIn = check.rowsIn else { return check.rowsOut.map { "\($0)" } ?? "" }
        return "\(rowsIn) in" + (check.rowsOut.map { " -> \($0) out" } ?? "")
    }

    static func mark(_ status: CheckStatus) -> String {
        switch status {
        case .pass: "ok  "
        case .fail: "FAIL"
        case .skip: "skip"
        }
    }
}
