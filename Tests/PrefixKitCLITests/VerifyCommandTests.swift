import Foundation
import PrefixKit
import TestSupport
import Testing

/// `prefixkit verify` and `prefixkit probe add` end to end, on the verifier's bug fixtures.
@Suite("prefixkit verify")
struct VerifyCommandTests {
    static let root = Processes.repositoryRoot + "/fixtures/verify"

    /// A store holding the fixture model and its hidden prefix as `ck@1`.
    private func store(_ dir: TemporaryDirectory, model: String = "gpt2", pn: Int = 4, n: Int = 6) throws -> String {
        let store = try Store.create(at: dir.path + "/s")
        let (config, json) = try HFConfig.read(path: "\(Self.root)/\(model)/config.json")
        let weights = try NPZ.read(path: "\(Self.root)/\(model)/weights.npz").compactMap { e in
            e.value.tensor.map { NamedTensor(e.name, $0) }
        }
        let base = try store.saveBase(
            BaseWeights(config: config, configJSON: json, tensors: weights), provenance: Provenance(sourceFormat: "npz"))
        let layers = try NPZ.read(path: "\(Self.root)/\(model)/pn\(pn)-n\(n)/prefix_hidden.npz").compactMap {
            $0.value.tensor.map { LayerPrefix.hidden($0) }
        }
        try store.saveCheckpoint(
            CheckpointContent(form: .hidden, prefixLength: pn, layers: layers),
            as: CheckpointSpec(name: "ck", step: 1, base: base.base.shortReference))
        return store.directory
    }

    private func reference(_ bug: String, model: String = "gpt2", pn: Int = 4, n: Int = 6) -> String {
        "\(Self.root)/\(model)/pn\(pn)-n\(n)/\(bug).npz"
    }

    @Test("verify reads the blobs of what it verifies and names them; another checkpoint's damaged blob is left to check")
    func coversOnlyWhatItReads() throws {
        let dir = TemporaryDirectory()
        let path = try store(dir)
        let store = try Store.open(at: path)
        let base = try store.base("base:" + store.checkpoint("ck").baseFingerprint)
        try store.saveCheckpoint(
            SyntheticModel.hiddenPrefix(base.config, prefixLength: 4, seed: 5),
            as: CheckpointSpec(name: "other", step: 1, base: base.shortReference))
        let other = try store.tensorEntries(of: store.checkpoint("other"))[0].blobPath
        // The other checkpoint's blob truncated: check and a verify of it fail, a verify of ck does not read it.
        let handle = try #require(FileHandle(forUpdatingAtPath: path + "/" + other))
        try handle.truncate(atOffset: 100)
        try handle.close()
        let run = try Processes.prefixkit(["verify", path, "ck", "--reference", reference("correct"), "--json", "--no-record"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let covered = try #require(report["blobs_covered"] as? [String])
        let expected = Set(try store.tensorEntries(of: store.checkpoint("ck")).map(\.blobPath)).union(
            try store.tensorEntries(of: base).map(\.blobPath))
        #expect(Set(covered) == expected && !covered.contains(other))
        #expect(try Processes.validateJSON(run.stdout, schema: "verify.schema.json").status == 0)
        let failing = try Processes.prefixkit(["verify", path, "other", "--no-record"])
        #expect(failing.status == 1 && failing.stdout.contains(other), "\(failing.stdout)")
        #expect(try Processes.prefixkit(["check", path, "--quick", "--no-record"]).status == 1)
    }

    @Test("a correct reference passes (exit 0), records the result, and inspect shows it; JSON, JUnit and HTML are valid")
    func passes() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        let run = try Processes.prefixkit([
            "verify", store, "ck", "--reference", reference("correct"), "--json",
            "--junit", dir.path + "/r.xml", "--html", dir.path + "/r.html",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let validate = try Processes.run(
            Processes.python,
            [
                "-c",
                """
                import json, sys, jsonschema, xml.etree.ElementTree as ET, html.parser
                jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).validate(json.loads(sys.stdin.read()))
                suites = ET.parse(sys.argv[2]).getroot()
                cases = suites.findall(".//testcase")
                assert suites.get("failures") == "0" and len(cases) >= 8, (suites.attrib, len(cases))
                page = open(sys.argv[3]).read()
                html.parser.HTMLParser().feed(page)
                assert "<svg" in page and "PASS" in page and "<script" not in page
                print(len(cases))
                """, Processes.repositoryRoot + "/schemas/verify.schema.json", dir.path + "/r.xml", dir.path + "/r.html",
            ], input: run.stdout)
        #expect(validate.status == 0, "\(validate.stdout)\(validate.stderr)")
        let inspect = try Processes.prefixkit(["inspect", store, "ck"])
        #expect(inspect.stdout.contains("verified") && inspect.stdout.contains(": pass"))
    }

    @Test(
        "a bug in the reference is a finding (exit 1) named in the summary",
        arguments: [
            ("kept_prefix_positions", "layer 0: reference has 10 rows, expected 6: prefix positions were not discarded"),
            ("reused_previous_prefix", "layer 1: the layer used the previous layer's prefix"),
            ("prefix_ignored", "prefix was appended after the inputs or ignored"),
            ("kept_first_n", "the first N rows of the block output were kept"),
        ])
    func findings(bug: String, message: String) throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        let run = try Processes.prefixkit(["verify", store, "ck", "--reference", reference(bug), "--junit", dir.path + "/r.xml"])
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("diagnosis: ") && run.stdout.contains(message), "\(run.stdout)")
        #expect(run.stdout.contains("fix: "))
        let junit = try String(contentsOfFile: dir.path + "/r.xml", encoding: .utf8)
        #expect(junit.contains("<failure"))
    }

    @Test("--annotations github: an error per failed check and diagnosis, a warning for UNVERIFIED, nothing for PASS; exact text")
    func githubAnnotations() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        func annotations(_ arguments: [String]) throws -> (ProcessResult, [String]) {
            let run = try Processes.prefixkit(["verify", store, "ck", "--no-record", "--annotations", "github"] + arguments)
            return (run, run.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix("::") })
        }
        let (pass, none) = try annotations(["--reference", reference("correct")])
        #expect(pass.status == 0 && none.isEmpty, "\(pass.stdout)")
        let (unverified, warning) = try annotations([])
        #expect(unverified.status == 0)
        #expect(
            warning == [
                "::warning title=prefixkit verify ck@1%3A UNVERIFIED::no reference: self-consistency only: the composition was not checked against an independent reference"
            ], "\(warning)")
        let (required, error) = try annotations(["--require-reference", "--json"])
        #expect(required.status == 1 && error.isEmpty, "annotations stay off stdout under --json")
        #expect(
            required.stderr.split(separator: "\n").map(String.init) == [
                "::error title=prefixkit verify ck@1%3A UNVERIFIED::no reference: self-consistency only: the composition was not checked against an independent reference"
            ], "\(required.stderr)")
        let (failed, errors) = try annotations(["--reference", reference("prefix_ignored")])
        #expect(failed.status == 1)
        let titles = errors.map { String($0.split(separator: "::", omittingEmptySubsequences: true)[0]) }
        #expect(titles.allSatisfy { $0.hasPrefix("error title=prefixkit verify ck@1%3A ") }, "\(errors)")
        #expect(titles.last == "error title=prefixkit verify ck@1%3A prefix_appended_or_ignored", "\(titles)")
        // The diagnosis annotation says what the summary says, word for word.
        let lines = failed.stdout.split(separator: "\n").map(String.init)
        let summary = try #require(lines.first { $0.hasPrefix("  diagnosis: ") }).dropFirst("  diagnosis: ".count)
        let fix = try #require(lines.first { $0.hasPrefix("  fix: ") }).dropFirst("  fix: ".count)
        #expect(errors.last == "::error title=prefixkit verify ck@1%3A prefix_appended_or_ignored::\(summary)%0Afix: \(fix)", "\(errors)")
        #expect(errors.last?.contains("%0Afix: ") == true && errors.allSatisfy { !$0.contains("\n") }, "\(errors)")
        let failedChecks = failed.stdout.split(separator: "\n").filter { $0.hasPrefix("  FAIL ") }.count
        #expect(errors.count >= 2 && errors.count <= failedChecks + 1, "\(errors.count) annotations for \(failedChecks) FAIL lines")
    }

    @Test("a verify of several checkpoints ends with how many passed, were unverified and failed")
    func counts() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        let root = Processes.repositoryRoot + "/fixtures/verify/gpt2/pn4-n6"
        #expect(try Processes.prefixkit(["import", store, root + "/prefix_hidden.npz", "--name", "ck", "--step", "2"]).status == 0)
        #expect(try Processes.prefixkit(["probe", "add", store, "ck@2", reference("kept_first_n")]).status == 0)
        let run = try Processes.prefixkit(["verify", store, "--no-record"])
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("\n2 checkpoints: 0 passed, 1 unverified, 1 failed\n"), "\(run.stdout)")
        let one = try Processes.prefixkit(["verify", store, "ck@1", "--no-record"])
        #expect(!one.stdout.contains("checkpoints:"), "\(one.stdout)")
    }

    @Test("the JUnit file reads in junitparser (what GitLab and Jenkins use): every check a testcase, each failure, skip and time")
    func junitConsumer() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        for bug in ["correct", "prefix_ignored"] {
            let run = try Processes.prefixkit([
                "verify", store, "ck", "--reference", reference(bug), "--no-record", "--json", "--junit", dir.path + "/\(bug).xml",
            ])
            #expect(run.status == (bug == "correct" ? 0 : 1), "\(run.stderr)")
            let read = try Processes.run(
                Processes.python,
                [
                    "-c",
                    """
                    import json, sys
                    from junitparser import JUnitXml, Failure, Skipped
                    report = json.loads(sys.stdin.read())
                    # Each checkpoint's suite ends with its verdict as a testcase (UNVERIFIED a skip).
                    verdict = {"pass": "pass", "fail": "fail", "unverified": "skip"}
                    checks = [c["status"] for c in report["catalog"]] + [
                        s for k in report["checkpoints"] for s in [c["status"] for c in k["checks"]] + [verdict[k["verdict"]]]]
                    xml = JUnitXml.fromfile(sys.argv[1])
                    suites = list(xml)
                    cases = [case for suite in suites for case in suite]
                    assert len(cases) == len(checks), (len(cases), len(checks))
                    kinds = ["fail" if any(isinstance(r, Failure) for r in case.result) else
                             "skip" if any(isinstance(r, Skipped) for r in case.result) else "pass" for case in cases]
                    assert kinds == checks, (kinds, checks)
                    assert sum(s.failures for s in suites) == checks.count("fail") and sum(s.skipped for s in suites) == checks.count("skip")
                    for suite in suites:
                        names = [case.name for case in suite]
                        assert len(set(names)) == len(names), names
                        assert suite.time is not None and suite.time >= 0, suite.name
                    # A check timed on its own carries its seconds; the others no time attribute.
                    seconds = [c.get("seconds") for c in report["catalog"]] + [
                        t for k in report["checkpoints"] for t in [c.get("seconds") for c in k["checks"]] + [None]]
                    for case, t in zip(cases, seconds):
                        assert (case.time is None) == (t is None) and (t is None or abs(case.time - t) < 1e-5), (case.name, case.time, t)
                    assert any(t is not None for t in seconds)
                    assert all(r.message for case in cases for r in case.result if isinstance(r, Failure))
                    print(len(cases), checks.count("fail"))
                    """, dir.path + "/\(bug).xml",
                ], input: run.stdout)
            #expect(read.status == 0, "\(bug): \(read.stdout)\(read.stderr)")
            if bug != "correct" { #expect(!read.stdout.hasSuffix(" 0\n"), "no failure read: \(read.stdout)") }
        }
    }

    @Test("a reference whose shapes no known bug explains exits 3; an unreadable one exits 3; an unknown checkpoint exits 2")
    func errors() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        // The llama fixture's reference has d=16 where gpt2's checkpoint has d=8.
        let wrong = try Processes.prefixkit(["verify", store, "ck", "--reference", reference("correct", model: "llama"), "--no-record"])
        #expect(wrong.status == 3, "\(wrong.stdout)\(wrong.stderr)")
        #expect(wrong.stdout.contains("no known bug explains"))
        try Data("junk".utf8).write(to: URL(fileURLWithPath: dir.path + "/bad.npz"))
        #expect(try Processes.prefixkit(["verify", store, "ck", "--reference", dir.path + "/bad.npz"]).status == 3)
        #expect(try Processes.prefixkit(["verify", store, "ghost"]).status == 2)
        #expect(try Processes.prefixkit(["verify", store, "--reference", reference("correct")]).status == 2)
        #expect(try Processes.prefixkit(["verify", store, "--shard", "3/2"]).status == 2)
    }

    @Test("corruption found by verify is a finding (exit 1)")
    func corruption() throws {
        let dir = TemporaryDirectory()
        let path = try store(dir)
        let opened = try Store.open(at: path)
        let entry = try opened.tensorEntries(of: opened.checkpoint("ck"))[0]
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path + "/" + entry.blobPath))
        try handle.seek(toOffset: UInt64(entry.fileOffset ?? 0))
        try handle.write(contentsOf: Data([0x55, 0x66]))
        try handle.close()
        let run = try Processes.prefixkit(["verify", path, "ck", "--round-trip", "none"])
        #expect(run.status == 1 && run.stdout.contains("FAIL blobs"), "\(run.stdout)")
    }

    @Test("probe add stores a reference that verify then uses; without any reference, self-consistency runs and the verdict is UNVERIFIED")
    func probe() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir)
        let none = try Processes.prefixkit(["verify", store, "ck", "--no-record"])
        #expect(
            none.status == 0 && none.stdout.contains("self-consistency") && none.stdout.contains("no reference given or stored"),
            "\(none.stdout)")
        #expect(none.stdout.contains("UNVERIFIED (no reference: self-consistency only)") && !none.stdout.contains("PASS"), "\(none.stdout)")
        // No tolerance is claimed that no check used.
        #expect(!none.stdout.contains("1e-12"), "\(none.stdout)")
        let add = try Processes.prefixkit(["probe", "add", store, "ck", reference("correct")])
        #expect(add.status == 0, "\(add.stderr)")
        let run = try Processes.prefixkit(["verify", store, "ck", "--no-record"])
        #expect(run.status == 0 && run.stdout.contains("stored probe (computed by fixtures/reference.py)"), "\(run.stdout)")
        #expect(run.stdout.contains("\n  PASS\n"), "\(run.stdout)")
        #expect(try Processes.prefixkit(["probe", "add", store, "ck", reference("kept_first_n")]).status == 0)
        #expect(try Processes.prefixkit(["verify", store, "ck", "--no-record"]).status == 1)
    }

    @Test("--shard splits layers across jobs; --jobs runs them in parallel with the same verdicts")
    func shardsAndJobs() throws {
        let dir = TemporaryDirectory()
        let store = try store(dir, model: "llama")
        let ref = reference("correct", model: "llama")
        var layers: [Int] = []
        for i in 0..<2 {
            let run = try Processes.prefixkit(["verify", store, "ck", "--reference", ref, "--shard", "\(i)/2", "--json", "--no-record"])
            #expect(run.status == 0, "\(run.stderr)")
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let report = try decoder.decode(VerificationReport.self, from: Data(run.stdout.utf8))
            layers += report.checkpoints[0].checks.filter { $0.check == .teacherForced }.compactMap(\.layer)
        }
        #expect(layers.sorted() == [0, 1, 2])
        let parallel = try Processes.prefixkit([
            "verify", store, "ck", "--reference", reference("layer_off_by_one", model: "llama"), "--jobs", "3", "--no-record",
        ])
        #expect(parallel.status == 1 && parallel.stdout.contains("layer 0: the layer used the next layer's prefix"), "\(parallel.stdout)")
    }
}

/// A store on read-only storage (immutable files) still verifies and says the result was not recorded.
@Suite("prefixkit verify on a read-only store")
struct ReadOnlyVerifyTests {
    static var immutableFilesWork: Bool {
        let dir = TemporaryDirectory()
        let file = dir.path + "/probe"
        #expect(FileManager.default.createFile(atPath: file, contents: Data()))
        let set = (try? Processes.run("/usr/bin/chattr", ["+i", file]))?.status == 0
        if set { _ = try? Processes.run("/usr/bin/chattr", ["-i", file]) }
        return set
    }

    @Test(
        "verify reads an immutable store and does not record",
        .enabled(if: immutableFilesWork, "chattr +i needs root on ext4-like file systems"))
    func readOnly() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        #expect(
            try Processes.prefixkit([
                "demo", "--store", store, "--layers", "2", "--width", "8", "--heads", "2", "--checkpoints", "1",
                "--input-length", "4",
            ]).status == 0)
        let targets = [store, store + "/catalog.sqlite"]
        #expect(try Processes.run("/usr/bin/chattr", ["+i"] + targets).status == 0)
        defer { _ = try? Processes.run("/usr/bin/chattr", ["-i"] + targets) }
        let run = try Processes.prefixkit(["verify", store, "demo", "--round-trip", "none"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("the store is read-only (") && run.stdout.contains("): the result was not recorded"))
        let write = try Processes.prefixkit(["delete", store, "demo", "--lock-timeout", "0.1"])
        #expect(write.status == 3)
    }
}
