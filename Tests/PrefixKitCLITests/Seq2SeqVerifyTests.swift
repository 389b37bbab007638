import Foundation
import PrefixKit
import TestSupport
import Testing

/// `verify` and `inspect` on encoder-decoders, under both semantics: PEFT's adapters against
/// transformers + PEFT and the NumPy reference, the paper's three sections against the NumPy
/// reference, and each semantics' reference held against the other's checkpoint.
@Suite("Encoder-decoders: verify and inspect")
struct Seq2SeqVerifyTests {
    static let root = Seq2SeqFixtureTests.root
    static let names = Seq2SeqFixtureTests.names

    /// The report of `verify STORE NAME --reference FILE --json`, with the exit status.
    static func verify(_ store: String, _ name: String, reference: String?) throws -> (status: Int32, report: [String: Any]) {
        let run = try VerifyRun.checkpoint(store, name, reference: reference)
        return (run.status, run.report)
    }

    static func checks(_ report: [String: Any]) -> [[String: Any]] { report["checks"] as? [[String: Any]] ?? [] }

    /// Imports `adapter@0`'s stored layers as `direct@0`, a file whose metadata says the direct
    /// layout: decoder block i reads layer i.
    static func importDirect(_ store: String, _ dir: TemporaryDirectory) throws {
        let file = dir.path + "/direct.safetensors", exportedPath = dir.path + "/a.safetensors"
        let export = try Processes.prefixkit(["export", store, "adapter", "--format", "safetensors", "--out", exportedPath])
        #expect(export.status == 0, "\(export.stderr)")
        let exported = try SafetensorsFile(path: exportedPath)
        let tensors = try exported.entries.map { NamedTensor($0.name, try exported.tensor($0)) }
        let metadata = (exported.metadata ?? []).map { $0.key == "prefix_layout" ? ($0.key, "direct") : ($0.key, $0.value) }
        #expect(metadata.contains { $0.0 == "prefix_layout" })
        try SafetensorsWriter.write(tensors, metadata: metadata.map { (key: $0.0, value: $0.1) }, to: file)
        let imported = try Processes.prefixkit(["import", store, file, "--name", "direct"])
        #expect(imported.status == 0, "\(imported.stderr)")
    }

    /// A store with the fixture's base and the paper-semantics prefix file (`paper@0`).
    static func paperStore(_ name: String, _ dir: TemporaryDirectory) throws -> String {
        let store = dir.path + "/p"
        let run = try Processes.prefixkit([
            "import", store, "\(root)/\(name)/paper/prefix.safetensors", "--base", "\(root)/\(name)/base", "--name", "paper",
        ])
        #expect(run.status == 0, "\(name): \(run.stderr)")
        return store
    }

    @Test(
        "a PEFT seq2seq adapter verifies PASS against transformers + PEFT and the NumPy reference, every block of both stacks checked",
        arguments: names)
    func peftPasses(name: String) throws {
        let dir = TemporaryDirectory()
        let store = try Seq2SeqFixtureTests.store(name, dir)
        for file in ["reference.npz", "numpy_peft.npz"] {
            let (status, report) = try Self.verify(store, "adapter", reference: "\(Self.root)/\(name)/\(file)")
            #expect(status == 0 && report["verdict"] as? String == "pass", "\(name) \(file): \(report)")
            let perLayer = Self.checks(report).filter { $0["check"] as? String == "teacher-forced" }
            let encoder = perLayer.filter { $0["section"] as? String == "encoder" }
            let decoder = perLayer.filter { $0["section"] as? String == "decoder" }
            #expect(!encoder.isEmpty && !decoder.isEmpty && perLayer.allSatisfy { $0["status"] as? String == "pass" }, "\(perLayer)")
            let evidence = try #require(report["evidence"] as? [String: Any])
            #expect((evidence["encoder_layers_checked"] as? [Int])?.count == encoder.count, "\(evidence)")
            #expect((evidence["layers_checked"] as? [Int])?.count == decoder.count, "\(evidence)")
            // The NumPy reference leaves only float64 rounding: held to the f64 tolerance.
            if file == "numpy_peft.npz" { #expect(perLayer.allSatisfy { $0["tolerance"] as? Double == 1e-12 }, "\(perLayer)") }
        }
    }

    @Test(
        "the paper's semantics: encoder, decoder and cross-attention prefixes from a file match the NumPy reference at 1e-12 per layer",
        arguments: names)
    func paperPasses(name: String) throws {
        let dir = TemporaryDirectory()
        let store = try Self.paperStore(name, dir)
        let (status, report) = try Self.verify(store, "paper", reference: "\(Self.root)/\(name)/paper/numpy_expected.npz")
        #expect(status == 0 && report["verdict"] as? String == "pass", "\(name): \(report)")
        let perLayer = Self.checks(report).filter { $0["check"] as? String == "teacher-forced" }
        #expect(perLayer.count >= 4 && perLayer.allSatisfy { ($0["relative_error"] as? Double ?? 1) <= 1e-12 }, "\(perLayer)")
        let trips = Self.checks(report).filter { $0["check"] as? String == "round-trip" }
        #expect(trips.filter { $0["status"] as? String == "pass" }.count == 2, "\(trips)")
        #expect(
            trips.contains { $0["status"] as? String == "skip" && ($0["message"] as? String ?? "").hasPrefix("peft: not exportable") },
            "\(trips)")
        let notes = report["notes"] as? [String] ?? []
        #expect(notes.contains { $0.contains("encoder self-attention") && $0.contains("cross-attention") }, "\(notes)")
    }

    @Test("verify names the other semantics: encoder prefix missing, cross-attention prefix dropped, PEFT's layer mapping either way")
    func otherSemantics() throws {
        let dir = TemporaryDirectory()
        let paper = try Self.paperStore("t5", dir)
        func diagnosis(_ store: String, _ name: String, _ reference: String) throws -> [String: Any] {
            let (status, report) = try Self.verify(store, name, reference: reference)
            #expect(status == 1, "\(reference): \(report)")
            return try #require(report["diagnosis"] as? [String: Any], "\(report)")
        }
        let encoder = try diagnosis(paper, "paper", "\(Self.root)/t5/paper/numpy_no_encoder.npz")
        #expect(encoder["bug"] as? String == "encoder_prefix_missing" && encoder["section"] as? String == "encoder", "\(encoder)")
        #expect(encoder["layer"] as? Int == 0)
        let cross = try diagnosis(paper, "paper", "\(Self.root)/t5/paper/numpy_no_cross.npz")
        #expect(cross["bug"] as? String == "cross_prefix_dropped" && cross["section"] as? String == "decoder", "\(cross)")
        // PEFT's adapter against a reference that fed block i stored layer i: block 0 agrees (2*0 mod L = 0).
        let peft = try Seq2SeqFixtureTests.store("t5", dir)
        let direct = try diagnosis(peft, "adapter", "\(Self.root)/t5/numpy_peft_direct.npz")
        #expect(direct["bug"] as? String == "direct_layer_mapping" && direct["layer"] as? Int == 1, "\(direct)")
        // The adapter's layers stored with the direct layout, against PEFT's own outputs.
        try Self.importDirect(peft, dir)
        let mapping = try diagnosis(peft, "direct", "\(Self.root)/t5/reference.npz")
        #expect(mapping["bug"] as? String == "peft_layer_mapping" && mapping["layer"] as? Int == 1, "\(mapping)")
    }

    @Test("--jobs checks an encoder-decoder's blocks in parallel and reports exactly what one job reports, failures and fits included")
    func jobs() throws {
        let dir = TemporaryDirectory()
        let paper = try Self.paperStore("t5", dir)
        func report(_ reference: String, jobs: Int) throws -> (Int32, String) {
            let run = try Processes.prefixkit([
                "verify", paper, "paper", "--reference", reference, "--json", "--round-trip", "none", "--no-record", "--jobs", "\(jobs)",
            ])
            let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            var checkpoint = try #require((object["checkpoints"] as? [[String: Any]])?.first)
            // Times differ from run to run; everything else must not.
            checkpoint["seconds"] = nil
            checkpoint["checks"] = (checkpoint["checks"] as? [[String: Any]])?.map { check in check.filter { $0.key != "seconds" } }
            let data = try JSONSerialization.data(withJSONObject: checkpoint, options: [.sortedKeys])
            return (run.status, String(decoding: data, as: UTF8.self))
        }
        for (reference, status) in [
            ("\(Self.root)/t5/paper/numpy_expected.npz", Int32(0)), ("\(Self.root)/t5/paper/numpy_no_cross.npz", 1),
        ] {
            let one = try report(reference, jobs: 1), three = try report(reference, jobs: 3)
            #expect(one.0 == status && three.0 == status, "\(reference)")
            #expect(one.1 == three.1, "\(reference)")
            #expect(one.1.contains("\"section\":\"encoder\"") && one.1.contains("\"section\":\"decoder\""))
        }
    }

    @Test("an encoder-decoder's reference made from another step of the name: that step is named")
    func wrongStep() throws {
        let dir = TemporaryDirectory()
        let store = try Seq2SeqFixtureTests.store("t5", dir)
        // Step 1: the adapter's layers shifted (a later training step), imported on the same base.
        let exported = dir.path + "/a.npz", shifted = dir.path + "/b.npz"
        #expect(try Processes.prefixkit(["export", store, "adapter", "--format", "npz", "--out", exported]).status == 0)
        let edit = try Processes.python(
            """
            import sys, numpy as np
            d = dict(np.load(sys.argv[1], allow_pickle=False))
            for k in d:
                if k.startswith("prefix."): d[k] = (d[k] + 0.01).astype(d[k].dtype)
            np.savez(sys.argv[2], **d)
            """, [exported, shifted])
        #expect(edit.status == 0, "\(edit.stderr)")
        let imported = try Processes.prefixkit(["import", store, shifted, "--name", "adapter", "--step", "1"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let (status, report) = try Self.verify(store, "adapter@1", reference: "\(Self.root)/t5/reference.npz")
        #expect(status == 1)
        let diagnosis = try #require(report["diagnosis"] as? [String: Any], "\(report)")
        #expect(diagnosis["bug"] as? String == "wrong_step", "\(diagnosis)")
        #expect((diagnosis["summary"] as? String ?? "").contains("adapter@0 reproduces it to"), "\(diagnosis)")
    }

    @Test("inspect and verify say which stored layers reach the model and that the encoder is unprefixed", arguments: names)
    func reach(name: String) throws {
        let dir = TemporaryDirectory()
        let store = try Seq2SeqFixtureTests.store(name, dir)
        let inspect = try Processes.prefixkit(["inspect", store, "adapter"])
        #expect(inspect.status == 0, "\(inspect.stderr)")
        let expected =
            switch name {
            case "t5": "stored layers 1, 3 of 4 are never used by PEFT's seq2seq layout"
            case "flan-t5":
                "all 3 stored layers are used, reordered by PEFT's seq2seq layout: decoder blocks 0, 1, 2 read stored layers 0, 2, 1"
            default: "stored layer 1 of 2 is never used by PEFT's seq2seq layout"
            }
        #expect(inspect.stdout.contains(expected), "\(name): \(inspect.stdout)")
        #expect(inspect.stdout.contains("the encoder is unprefixed"), "\(inspect.stdout)")
        let json = try Processes.prefixkit(["inspect", store, "adapter", "--json"])
        #expect(try Processes.validateJSON(json.stdout, schema: "inspect.schema.json").status == 0)
        // Without a reference: the decoder ids of the probe run too, and nothing independent is claimed.
        let (status, report) = try Self.verify(store, "adapter", reference: nil)
        #expect(status == 0 && report["verdict"] as? String == "unverified", "\(report)")
        #expect((report["notes"] as? [String] ?? []).contains { $0.contains(expected) }, "\(report)")
        let consistency = Self.checks(report).first { $0["check"] as? String == "self-consistency" }
        #expect(consistency?["status"] as? String == "pass", "\(String(describing: consistency))")
    }

    @Test("the verify report of an encoder-decoder validates against the schema, and JUnit names each stack's layers")
    func reports() throws {
        let dir = TemporaryDirectory()
        let store = try Seq2SeqFixtureTests.store("bart", dir)
        let junit = dir.path + "/v.xml"
        let run = try Processes.prefixkit([
            "verify", store, "adapter", "--reference", "\(Self.root)/bart/reference.npz", "--json", "--junit", junit, "--no-record",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try Processes.validateJSON(run.stdout, schema: "verify.schema.json").status == 0)
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(
            xml.contains("name=\"teacher-forced encoder layer 1\"") && xml.contains("name=\"teacher-forced decoder layer 1\""), "\(xml)")
    }

    @Test("a paper-semantics checkpoint is refused by PEFT export with the reason, and round-trips through safetensors and npz")
    func paperExport() throws {
        let dir = TemporaryDirectory()
        let store = try Self.paperStore("bart", dir)
        let peft = try Processes.prefixkit(["export", store, "paper", "--format", "peft", "--out", dir.path + "/peft"])
        #expect(
            peft.status == 2 && peft.stderr.contains("no PEFT adapter computes this checkpoint")
                && peft.stderr.contains("PEFT runs the encoder unprefixed"), "\(peft.status) \(peft.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/peft"))
        for format in ["npz", "safetensors"] {
            let out = dir.path + "/back.\(format)"
            let export = try Processes.prefixkit(["export", store, "paper", "--format", format, "--out", out])
            #expect(export.status == 0, "\(export.stderr)")
            let again = try Processes.prefixkit(["import", store, out, "--name", "back-\(format)"])
            #expect(again.status == 0 && again.stdout.contains("wrote 0 B"), "\(again.stdout)\(again.stderr)")
            let (status, report) = try Self.verify(store, "back-\(format)", reference: "\(Self.root)/bart/paper/numpy_expected.npz")
            #expect(status == 0 && report["verdict"] as? String == "pass", "\(format): \(report)")
        }
    }

    @Test("a direct-layout decoder prefix exports to PEFT as its exact layer permutation (odd L), or is refused naming the blocks (even L)")
    func directToPEFT() throws {
        let dir = TemporaryDirectory()
        let flan = try Seq2SeqFixtureTests.store("flan-t5", dir)
        try Self.importDirect(flan, dir)
        let out = dir.path + "/peft"
        let export = try Processes.prefixkit(["export", flan, "direct", "--format", "peft", "--out", out])
        #expect(
            export.status == 0 && export.stdout.contains("exact: decoder block i's prefix written at stored layer 2i mod 3"),
            "\(export.stdout)\(export.stderr)")
        let back = try Processes.prefixkit(["import", flan, out, "--name", "back"])
        #expect(back.status == 0, "\(back.stderr)")
        var finals: [Tensor] = []
        for name in ["direct", "back"] {
            let file = dir.path + "/\(name).npz"
            let run = try Processes.prefixkit([
                "forward", flan, name, "--input", "\(Self.root)/flan-t5/reference.npz", "--dtype", "f64", "--out", file,
            ])
            #expect(run.status == 0, "\(run.stderr)")
            finals.append(try #require(try ActivationExchange.read(path: file).final))
        }
        #expect(finals[0] == finals[1], "the PEFT export computes differently")
        let (_, report) = try Self.verify(flan, "direct", reference: nil)
        let trip = Self.checks(report).first {
            $0["check"] as? String == "round-trip" && ($0["message"] as? String ?? "").hasPrefix("peft")
        }
        #expect(trip?["status"] as? String == "pass", "\(String(describing: trip))")
        // L = 4: blocks 0 and 2 both read PEFT's stored layer 0, and their prefixes differ.
        let t5 = TemporaryDirectory()
        let store = try Seq2SeqFixtureTests.store("t5", t5)
        try Self.importDirect(store, t5)
        let refused = try Processes.prefixkit(["export", store, "direct", "--format", "peft", "--out", t5.path + "/peft"])
        #expect(refused.status == 2 && refused.stderr.contains("feeds decoder blocks 0 and 2 from one stored layer"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: t5.path + "/peft"))
    }
}
