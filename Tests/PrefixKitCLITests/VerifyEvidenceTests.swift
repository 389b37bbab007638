import Foundation
import PrefixKit
import TestSupport
import Testing

/// What a verdict rests on: PASS only with independent evidence, UNVERIFIED otherwise, and every
/// report (summary, JSON, JUnit, HTML, catalog) says which.
@Suite("prefixkit verify: evidence and verdicts")
struct VerifyEvidenceTests {
    static let verifyRoot = Processes.repositoryRoot + "/fixtures/verify"
    static let peftRoot = Processes.repositoryRoot + "/fixtures/peft"

    static func decode(_ json: String) throws -> VerificationReport {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(VerificationReport.self, from: Data(json.utf8))
    }

    /// A store with the verify fixture's base (and optionally its other base) and `ck@1`.
    static func store(_ dir: TemporaryDirectory, model: String = "gpt2", on weights: String = "weights", alsoStore other: String? = nil)
        throws -> (path: String, bases: [String: String])
    {
        let store = try Store.create(at: dir.path + "/s")
        let (config, json) = try HFConfig.read(path: "\(verifyRoot)/\(model)/config.json")
        var bases: [String: String] = [:]
        for file in [weights] + (other.map { [$0] } ?? []) {
            let tensors = try NPZ.read(path: "\(verifyRoot)/\(model)/\(file).npz").compactMap { e in
                e.value.tensor.map { NamedTensor(e.name, $0) }
            }
            bases[file] = try store.saveBase(
                BaseWeights(config: config, configJSON: json, tensors: tensors), provenance: Provenance(sourceFormat: "npz")
            ).base.shortReference
        }
        let layers = try NPZ.read(path: "\(verifyRoot)/\(model)/pn4-n6/prefix_hidden.npz").compactMap {
            $0.value.tensor.map { LayerPrefix.hidden($0) }
        }
        try store.saveCheckpoint(
            CheckpointContent(form: .hidden, prefixLength: 4, layers: layers),
            as: CheckpointSpec(name: "ck", step: 1, base: bases[weights] ?? ""))
        return (store.directory, bases)
    }

    static func reference(_ bug: String, model: String = "gpt2") -> String { "\(verifyRoot)/\(model)/pn4-n6/\(bug).npz" }

    @Test(
        "a reference written by prefixkit reference (transformers + PEFT) passes on the imported adapter, every layer checked",
        arguments: ["gpt2-tiny", "llama-gqa-tiny"])
    func peftReference(model: String) throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let imported = try Processes.prefixkit([
            "import", store, "\(Self.peftRoot)/\(model)/adapter", "--base", "\(Self.peftRoot)/\(model)/base", "--name", "run", "--step",
            "1",
        ])
        #expect(imported.status == 0, "\(imported.stderr)")
        let run = try Processes.prefixkit([
            "verify", store, "run", "--reference", "\(Self.peftRoot)/\(model)/reference.npz", "--json", "--round-trip", "none",
        ])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let checkpoint = try #require(try Self.decode(run.stdout).checkpoints.first)
        #expect(checkpoint.verdict == .pass)
        #expect(checkpoint.evidence.kind == .independentReference)
        #expect(checkpoint.evidence.tool?.hasPrefix("transformers 5.24.0 + peft 0.21.2") == true)
        #expect(
            checkpoint.evidence.layersChecked == [0, 1] && checkpoint.evidence.layersUnchecked.isEmpty
                && checkpoint.evidence.endToEndChecked)
        #expect(
            checkpoint.checks.filter { $0.check == .teacherForced }.allSatisfy {
                $0.evidence == .independentReference && $0.status == .pass
            })
        // The reference is exact enough to fail a wrong composition: a prefix of another adapter.
        let other = model == "gpt2-tiny" ? "llama-gqa-tiny" : "gpt2-tiny"
        let wrong = try Processes.prefixkit([
            "verify", store, "run", "--reference", "\(Self.peftRoot)/\(other)/reference.npz", "--round-trip", "none", "--no-record",
        ])
        #expect(wrong.status != 0)
    }

    @Test(
        "without a reference the verdict is UNVERIFIED: exit 0, exit 1 with --require-reference; JSON, JUnit <skipped>, HTML and the catalog say so"
    )
    func unverified() throws {
        let dir = TemporaryDirectory()
        let (store, _) = try Self.store(dir)
        let run = try Processes.prefixkit([
            "verify", store, "ck", "--json", "--junit", dir.path + "/r.xml", "--html", dir.path + "/r.html", "--round-trip", "none",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try Self.decode(run.stdout)
        #expect(report.verdict == .unverified && report.checkpoints[0].verdict == .unverified)
        #expect(report.checkpoints[0].evidence.kind == .selfConsistency)
        #expect(report.checkpoints[0].unverifiedReason == "no reference: self-consistency only")
        let schema = try Processes.validateJSON(run.stdout, schema: "verify.schema.json")
        #expect(schema.status == 0, "\(schema.stdout)\(schema.stderr)")
        let junit = try String(contentsOfFile: dir.path + "/r.xml", encoding: .utf8)
        #expect(
            junit.contains(
                #"name="verdict"><skipped message="UNVERIFIED: no reference: self-consistency only">fix: give an independent reference"#),
            "\(junit)")
        let html = try String(contentsOfFile: dir.path + "/r.html", encoding: .utf8)
        #expect(html.contains("<span class=unverified>UNVERIFIED</span>") && !html.contains("class=pass>PASS"))
        let inspect = try Processes.prefixkit(["inspect", store, "ck"])
        #expect(inspect.stdout.contains(": unverified"), "\(inspect.stdout)")
        let strict = try Processes.prefixkit([
            "verify", store, "ck", "--require-reference", "--junit", dir.path + "/s.xml", "--round-trip", "none", "--no-record",
        ])
        #expect(strict.status == 1 && strict.stdout.contains("FAIL (unverified, and --require-reference was given)"), "\(strict.stdout)")
        #expect(try String(contentsOfFile: dir.path + "/s.xml", encoding: .utf8).contains(#"name="verdict"><failure message="UNVERIFIED"#))
        let independent = try Processes.prefixkit([
            "verify", store, "ck", "--reference", Self.reference("correct"), "--require-reference", "--round-trip", "none", "--no-record",
        ])
        #expect(independent.status == 0, "\(independent.stdout)")
    }

    @Test("a reference PrefixKit computed itself is not independent: UNVERIFIED (reference from the same engine)")
    func sameEngine() throws {
        let dir = TemporaryDirectory()
        let (store, _) = try Self.store(dir)
        let forward = try Processes.prefixkit([
            "forward", store, "ck", "--input", Self.reference("correct"), "--out", dir.path + "/own.npz", "--dtype", "f64",
        ])
        #expect(forward.status == 0, "\(forward.stderr)")
        let run = try Processes.prefixkit([
            "verify", store, "ck", "--reference", dir.path + "/own.npz", "--round-trip", "none", "--no-record",
        ])
        #expect(run.status == 0 && run.stdout.contains("UNVERIFIED (reference from the same engine)"), "\(run.stdout)")
        #expect(
            try Processes.prefixkit(["verify", store, "ck", "--reference", dir.path + "/own.npz", "--require-reference", "--no-record"])
                .status == 1)
    }

    @Test("demo says its probe came from the same engine")
    func demo() throws {
        let dir = TemporaryDirectory()
        let run = try Processes.prefixkit([
            "demo", "--store", dir.path + "/d", "--layers", "2", "--width", "8", "--heads", "2", "--checkpoints", "1", "--input-length",
            "4",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("UNVERIFIED (probe from the same engine)") && !run.stdout.contains("PASS"), "\(run.stdout)")
    }

    @Test("a reference that leaves a layer out reports it unchecked; without 'final' as well, the verdict is UNVERIFIED")
    func uncoveredLayer() throws {
        let dir = TemporaryDirectory()
        let (store, _) = try Self.store(dir)
        let partial = dir.path + "/partial.npz", bare = dir.path + "/bare.npz"
        let cut = try Processes.run(
            Processes.python,
            [
                "-c",
                """
                import sys, numpy as np
                z = dict(np.load(sys.argv[1]))
                del z["layer_02.output"]
                np.savez(sys.argv[2], **z)
                del z["final"], z["logits"]
                np.savez(sys.argv[3], **z)
                """, Self.reference("correct"), partial, bare,
            ])
        #expect(cut.status == 0, "\(cut.stderr)")
        let run = try Processes.prefixkit(["verify", store, "ck", "--reference", partial, "--json", "--round-trip", "none", "--no-record"])
        let checkpoint = try #require(try Self.decode(run.stdout).checkpoints.first)
        #expect(checkpoint.evidence.layersUnchecked == [2] && checkpoint.evidence.layersChecked == [0, 1])
        #expect(
            checkpoint.checks.contains {
                $0.layer == 2 && $0.status == .skip && $0.message.contains("not checked: the reference has no layer_02.output")
            })
        #expect(checkpoint.verdict == .pass && checkpoint.evidence.endToEndChecked, "the end-to-end check covers layer 2")
        let bareRun = try Processes.prefixkit(["verify", store, "ck", "--reference", bare, "--round-trip", "none", "--no-record"])
        #expect(
            bareRun.status == 0 && bareRun.stdout.contains("UNVERIFIED (layer(s) 2 not covered by the reference, and no end-to-end check)"),
            "\(bareRun.stdout)")
    }

    @Test("an empty store or an empty selection is a usage error (exit 2), not a PASS")
    func emptySelection() throws {
        let dir = TemporaryDirectory()
        #expect(try Processes.prefixkit(["init", dir.path + "/e"]).status == 0)
        let run = try Processes.prefixkit(["verify", dir.path + "/e"])
        #expect(run.status == 2 && run.stderr.contains("holds no checkpoints: nothing to verify"), "\(run.stdout)\(run.stderr)")
    }

    @Test("a reference computed on another stored base names that base, with the error it reproduces the reference to")
    func wrongBaseFound() throws {
        let dir = TemporaryDirectory()
        let (store, bases) = try Self.store(dir, alsoStore: "other_weights")
        let run = try Processes.prefixkit([
            "verify", store, "ck", "--reference", Self.reference("wrong_base"), "--json", "--round-trip", "none", "--no-record",
        ])
        #expect(run.status == 1)
        let diagnosis = try #require(try Self.decode(run.stdout).checkpoints.first?.diagnosis)
        let other = try #require(bases["other_weights"])
        #expect(diagnosis.bug == .wrongBase && diagnosis.summary.contains("\(other) reproduces it to"), "\(diagnosis.summary)")
        #expect((diagnosis.relativeError ?? 1) <= 1e-10)
        #expect(diagnosis.fix.contains(other))
        // The checkpoint attached to the wrong base, with the right reference: the right base is named.
        let dir2 = TemporaryDirectory()
        let (misattached, bases2) = try Self.store(dir2, on: "other_weights", alsoStore: "weights")
        let again = try Processes.prefixkit([
            "verify", misattached, "ck", "--reference", Self.reference("correct"), "--round-trip", "none", "--no-record",
        ])
        #expect(again.status == 1 && again.stdout.contains("\(bases2["weights"] ?? "?") reproduces it to"), "\(again.stdout)")
    }

    @Test("with no other base that reproduces the reference, the diagnosis says so and claims no error it did not compute")
    func wrongBaseNotFound() throws {
        let dir = TemporaryDirectory()
        let (store, _) = try Self.store(dir)
        let run = try Processes.prefixkit([
            "verify", store, "ck", "--reference", Self.reference("wrong_base"), "--json", "--round-trip", "none", "--no-record",
        ])
        let diagnosis = try #require(try Self.decode(run.stdout).checkpoints.first?.diagnosis)
        #expect(
            diagnosis.bug == .wrongBase && diagnosis.summary.contains("the store holds no other base that fits"), "\(diagnosis.summary)")
        #expect(!diagnosis.summary.contains("reproduces the reference to") && diagnosis.relativeError == nil)
        #expect(!diagnosis.candidates.contains { $0.bug == .wrongBase })
    }

    /// `ck@1`'s layers with every value shifted by `delta` (another step of the same run).
    static func shifted(_ store: String, by delta: Float) throws -> [LayerPrefix] {
        try NPZ.read(path: "\(verifyRoot)/gpt2/pn4-n6/prefix_hidden.npz").compactMap { entry in
            entry.value.tensor.map { tensor in
                LayerPrefix.hidden(Tensor(shape: tensor.shape, floats: tensor.floats().map { $0 + delta }))
            }
        }
    }

    @Test("a reference of another step of the same name: the step that reproduces it is named, nearest of at most 64 tried")
    func wrongStepFound() throws {
        let dir = TemporaryDirectory()
        let (path, bases) = try Self.store(dir)
        let store = try Store.open(at: path)
        let base = try #require(bases["weights"])
        // ck@1 holds the reference's prefix; ck@2 and ck@3 are other steps.
        for step in [2, 3] {
            try store.saveCheckpoint(
                CheckpointContent(form: .hidden, prefixLength: 4, layers: try Self.shifted(path, by: 0.01 * Float(step))),
                as: CheckpointSpec(name: "ck", step: step, base: base))
        }
        let run = try Processes.prefixkit([
            "verify", path, "ck@3", "--reference", Self.reference("correct"), "--json", "--round-trip", "none", "--no-record",
        ])
        #expect(run.status == 1)
        let diagnosis = try #require(try Self.decode(run.stdout).checkpoints.first?.diagnosis)
        #expect(diagnosis.bug == .wrongStep && diagnosis.summary.contains("ck@1 reproduces it to"), "\(diagnosis.summary)")
        #expect((diagnosis.relativeError ?? 1) <= 1e-10)
        #expect(diagnosis.fix.contains("verify ck@1 against this reference"))
        // ck@2 was tried first (nearest) and did not reproduce it.
        #expect(diagnosis.candidates.filter { $0.bug == .wrongStep }.count == 2)
        // The terminal summary says the same.
        let text = try Processes.prefixkit([
            "verify", path, "ck@3", "--reference", Self.reference("correct"), "--round-trip", "none", "--no-record",
        ])
        #expect(text.stdout.contains("ck@1 reproduces it to"), "\(text.stdout)")
    }

    @Test("steps beyond the 64 nearest are not tried")
    func wrongStepBounded() throws {
        let dir = TemporaryDirectory()
        let (path, bases) = try Self.store(dir)
        let store = try Store.open(at: path)
        let base = try #require(bases["weights"])
        // ck@1 (the reference's prefix) is the 66th nearest step to ck@67.
        for step in 2...67 {
            try store.saveCheckpoint(
                CheckpointContent(form: .hidden, prefixLength: 4, layers: try Self.shifted(path, by: 0.001 * Float(step))),
                as: CheckpointSpec(name: "ck", step: step, base: base))
        }
        let run = try Processes.prefixkit([
            "verify", path, "ck@67", "--reference", Self.reference("correct"), "--json", "--round-trip", "none", "--no-record",
        ])
        #expect(run.status == 1)
        let diagnosis = try #require(try Self.decode(run.stdout).checkpoints.first?.diagnosis)
        #expect(diagnosis.bug != .wrongStep, "\(diagnosis.summary)")
        #expect(diagnosis.candidates.filter { $0.bug == .wrongStep }.count == 64, "\(diagnosis)")
        #expect(diagnosis.summary.hasSuffix("none of the 64 nearest other step(s) of the name reproduces the reference"))
    }

    @Test("the fix hint is the same in the terminal, JSON, JUnit and HTML reports, for unverified and failed verdicts")
    func fixHintEverywhere() throws {
        let dir = TemporaryDirectory()
        let (store, _) = try Self.store(dir)
        for (reference, expected) in [
            (nil, CheckpointVerification.unverifiedFix),
            (Self.reference("wrong_base"), BugClass.wrongBase.fix),
        ] {
            let extra = reference.map { ["--reference", $0] } ?? []
            let base = ["verify", store, "ck"] + extra + ["--round-trip", "none", "--no-record"]
            let json = try Processes.prefixkit(base + ["--json"])
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            let checkpoint = try #require((object["checkpoints"] as? [[String: Any]])?.first)
            #expect(checkpoint["fix"] as? String == expected, "\(json.stdout)")
            let text = try Processes.prefixkit(base + ["--html", dir.file("r.html"), "--junit", dir.file("r.xml")])
            #expect(text.stdout.contains("  fix: \(expected)\n"), "\(text.stdout)")
            let escaped = expected.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;")
            #expect(try String(contentsOfFile: dir.file("r.html"), encoding: .utf8).contains(escaped))
            #expect(try String(contentsOfFile: dir.file("r.xml"), encoding: .utf8).contains(escaped))
        }
    }
}
