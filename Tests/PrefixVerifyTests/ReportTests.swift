import Foundation
import PrefixCompute
import PrefixConvert
import PrefixCore
import PrefixFormats
import PrefixRuntime
import PrefixStore
import PrefixVerify
import TestSupport
import Testing

/// The HTML and JUnit reports of real verifications.
@Suite("Verification reports")
struct ReportTests {
    static let root = Processes.repositoryRoot + "/fixtures/verify/gpt2"

    /// The fixture model and its hidden prefix as `ck@1`, and its exact key/value form as `kv@1`.
    static func store(_ dir: TemporaryDirectory) throws -> Store {
        let store = try Store.create(at: dir.path + "/s")
        let (config, json) = try HFConfig.read(path: "\(root)/config.json")
        let weights = try NPZ.read(path: "\(root)/weights.npz").compactMap { e in e.value.tensor.map { NamedTensor(e.name, $0) } }
        let base = try store.saveBase(
            BaseWeights(config: config, configJSON: json, tensors: weights), provenance: Provenance(sourceFormat: "npz"))
        let layers = try NPZ.read(path: "\(root)/pn4-n6/prefix_hidden.npz").compactMap { $0.value.tensor.map { LayerPrefix.hidden($0) } }
        let hidden = try store.saveCheckpoint(
            CheckpointContent(form: .hidden, prefixLength: 4, layers: layers),
            as: CheckpointSpec(name: "ck", step: 1, base: base.base.shortReference))
        try store.saveCheckpoint(
            try store.stack(for: hidden.checkpoint).keyValuePrefix(),
            as: CheckpointSpec(name: "kv", step: 1, base: base.base.shortReference))
        return store
    }

    static func verify(_ store: Store, _ name: String, bug: String?) throws -> VerificationReport {
        var options = VerifyOptions()
        options.checkpoints = [name]
        options.reference = bug.map { "\(root)/pn4-n6/\($0).npz" }
        options.record = false
        return try Verifier.run(store, options: options)
    }

    @Test("JUnit: unique testcase names (round-trip[peft]), time where measured, the diagnosis in the failure message")
    func junit() throws {
        let dir = TemporaryDirectory()
        let report = try Self.verify(try Self.store(dir), "ck", bug: "layer_off_by_one")
        #expect(report.verdict == .fail)
        let path = dir.path + "/r.xml"
        try JUnitReport.xml(report).write(toFile: path, atomically: true, encoding: .utf8)
        let script = """
            import sys, json, xml.etree.ElementTree as ET
            root = ET.parse(sys.argv[1]).getroot()
            out = {"suites_timed": all("time" in s.attrib for s in root.iter("testsuite")), "duplicates": [], "names": [], "failures": [], "timed": []}
            for suite in root.iter("testsuite"):
                names = [c.get("name") for c in suite.iter("testcase")]
                out["duplicates"] += [n for n in set(names) if names.count(n) > 1]
                out["names"] += names
                out["timed"] += [c.get("name") for c in suite.iter("testcase") if "time" in c.attrib]
                out["failures"] += [f.get("message") for f in suite.iter("failure")]
            print(json.dumps(out))
            """
        let result = try Processes.python(script, [path])
        try #require(result.status == 0, "\(result.stderr)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(parsed["suites_timed"] as? Bool == true)
        #expect((parsed["duplicates"] as? [String])?.isEmpty == true, "\(parsed)")
        let names = parsed["names"] as? [String] ?? []
        #expect(
            ["round-trip[npz]", "round-trip[safetensors]", "round-trip[peft]", "teacher-forced layer 0"].allSatisfy(names.contains),
            "\(names)")
        let timed = parsed["timed"] as? [String] ?? []
        #expect(
            timed.contains("round-trip[peft]")
                && timed.contains { $0.hasPrefix("prefix-rows layer") || $0.hasPrefix("teacher-forced layer") })
        let failures = parsed["failures"] as? [String] ?? []
        #expect(!failures.isEmpty && failures.allSatisfy { $0.contains("diagnosis: layer 0: the layer used the next layer's prefix") })
    }

    @Test("HTML: the evidence before any detail; every check kind charted with labelled axes, exact zeros and tolerances")
    func html() throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(dir)
        let page = HTMLReport.page(try Self.verify(store, "ck", bug: "layer_off_by_one"))
        let summary = try #require(page.range(of: "<table class=summary>"))
        #expect(summary.lowerBound < (page.range(of: "<h2>")?.lowerBound ?? page.startIndex))
        #expect(page.contains("FAIL") && page.contains("independent reference"))
        for text in [
            ">relative error<", ">layer<", ">teacher-forced<", ">prefix-rows<", ">end-to-end<", "tolerance per layer",
            "tolerance end to end",
        ] {
            #expect(page.contains(text), "\(text)")
        }
        // Layer 2's prefix rows match the reference exactly: drawn as an exact zero, not dropped.
        #expect(page.contains("prefix-rows at 2: exactly 0") && page.contains(">exactly 0<"))
        #expect(page.contains("over its tolerance"))
        // A key/value checkpoint without a reference still gets a chart: self-consistency end to
        // end, and every layer marked as not checked per layer.
        let kv = HTMLReport.page(try Self.verify(store, "kv", bug: nil))
        #expect(kv.contains("<svg") && kv.contains(">self-consistency<") && kv.contains("no reference: self-consistency end to end only"))
        #expect(kv.contains("UNVERIFIED") && kv.contains(">not measured<"))
    }
}
