import Foundation
import PrefixKit
import TestSupport
import Testing

/// Every family fixture (`fixtures/families/<name>`: a tiny model saved by transformers, a PEFT
/// prefix-tuning adapter, and PEFT's own float64 outputs with a left-padded row) through the
/// command line: import, verify against PEFT, forward, and the hidden form's exact conversion.
@Suite("Model families against transformers + PEFT")
struct FamilyFixtureTests {
    static let root = Processes.repositoryRoot + "/fixtures/families"

    /// The fixture directories.
    static var names: [String] {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return all.filter { FileManager.default.fileExists(atPath: "\(root)/\($0)/reference.npz") }.sorted()
    }

    /// A store with the family's base and adapter (`adapter@0`).
    static func store(_ name: String, _ dir: TemporaryDirectory) throws -> String {
        let store = dir.path + "/s"
        let run = try Processes.prefixkit(["import", store, "\(root)/\(name)/adapter", "--base", "\(root)/\(name)/base"])
        #expect(run.status == 0, "\(name): \(run.stderr)")
        return store
    }

    @Test("the family fixtures are all there")
    func present() {
        #expect(Self.names.count >= 28, "\(Self.names)")
    }

    /// The fixtures whose PEFT reference applies the prefix (PEFT ignores it on DistilBERT).
    static var peftNames: [String] { names.filter { $0 != "distilbert" } }

    @Test("a PEFT adapter imports, verifies PASS against PEFT's outputs and round-trips bit-identically", arguments: peftNames)
    func verifyAgainstPEFT(name: String) throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(name, dir)
        let reference = "\(Self.root)/\(name)/reference.npz"
        let verify = try Processes.prefixkit(["verify", store, "adapter", "--reference", reference, "--require-reference"])
        #expect(verify.status == 0 && verify.stdout.contains("PASS"), "\(name): \(verify.stdout)\(verify.stderr)")
        #expect(verify.stdout.contains("round-trip: peft: bit-identical"), "\(name): \(verify.stdout)")
    }

    @Test(
        "forward in f64 gives PEFT's logits, or an encoder's last hidden state and pooler output (1e-6 relative where HF computes in f64, 1e-5 where its RoPE or softmax is f32)",
        arguments: peftNames)
    func logits(name: String) throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(name, dir)
        let reference = "\(Self.root)/\(name)/reference.npz"
        let theirs = try ActivationExchange.read(path: reference)
        let run = try Processes.prefixkit(
            ["forward", store, "adapter", "--input", reference, "--dtype", "f64", "--out", dir.path + "/o.npz"]
                + (theirs.logits != nil ? ["--logits"] : []))
        #expect(run.status == 0, "\(name): \(run.stderr)")
        let ours = try ActivationExchange.read(path: dir.path + "/o.npz")
        let mask = try #require(theirs.attentionMask).doubles()
        let n = try #require(theirs.attentionMask).shape[1]
        let tolerance = theirs.metaString("rope_dtype") == "f32" || theirs.metaString("softmax_dtype") == "f32" ? 1e-5 : 1e-6
        if let logits = theirs.logits {
            let error = Closeness.relativeError(try #require(ours.logits), logits) { b, r in mask[b * n + r] != 0 }
            #expect(error <= tolerance, "\(name): logits differ from PEFT's by \(error)")
        } else {
            #expect(theirs.metaString("position_rule") == ours.metaString("position_rule"), "\(name): \(ours.meta ?? "")")
            if let pooled = theirs.poolerOutput {
                let shape: Shape = [pooled.shape[0], 1, pooled.shape[1]]
                let error = Closeness.relativeError(
                    Tensor(shape: shape, doubles: try #require(ours.poolerOutput).doubles()),
                    Tensor(shape: shape, doubles: pooled.doubles())
                ) { _, _ in true }
                #expect(error <= tolerance, "\(name): pooler output differs from PEFT's by \(error)")
            }
        }
        let final = Closeness.relativeError(try #require(ours.final), try #require(theirs.final)) { b, r in mask[b * n + r] != 0 }
        #expect(final <= tolerance, "\(name): final differs from PEFT's by \(final)")
    }

    @Test("a hidden-form prefix and its exact key/value conversion give the same outputs (f64, 1e-12)", arguments: names)
    func hiddenForm(name: String) throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(name, dir)
        let hidden = dir.path + "/hidden.npz"
        let write = try Processes.python(
            """
            import json, sys, numpy as np
            c = json.load(open(sys.argv[1]))
            d = c.get("hidden_size") or c.get("n_embd") or c.get("d_model") or c.get("dim")
            L = c.get("num_hidden_layers") or c.get("n_layer") or c.get("n_layers") or c.get("num_layers")
            rng = np.random.default_rng(5)
            np.savez(sys.argv[2], **{f"prefix.layer_{l:02d}": rng.standard_normal((3, d)) * 0.7 for l in range(L)})
            """, ["\(Self.root)/\(name)/base/config.json", hidden])
        #expect(write.status == 0, "\(write.stderr)")
        let imported = try Processes.prefixkit(["import", store, hidden, "--base", "\(Self.root)/\(name)/base", "--name", "h"])
        #expect(imported.status == 0, "\(name): \(imported.stderr)")
        let kv = try Processes.prefixkit(["kv", store, "h", "--dtype", "f64"])
        #expect(kv.status == 0, "\(name): \(kv.stderr)")
        let input = "\(Self.root)/\(name)/reference.npz"
        var finals: [Tensor] = []
        for checkpoint in ["h", "h-kv"] {
            let out = dir.path + "/\(checkpoint).npz"
            let run = try Processes.prefixkit(["forward", store, checkpoint, "--input", input, "--dtype", "f64", "--out", out])
            #expect(run.status == 0, "\(name) \(checkpoint): \(run.stderr)")
            finals.append(try #require(try ActivationExchange.read(path: out).final))
        }
        let mask = try #require(try ActivationExchange.read(path: input).attentionMask).doubles()
        let n = finals[0].shape[1]
        let error = Closeness.relativeError(finals[1], finals[0]) { b, r in mask[b * n + r] != 0 }
        #expect(error <= 1e-12, "\(name): hidden and key/value forms differ by \(error)")
    }

    /// The fixtures that also have an expectation from the independent NumPy reference.
    static var numpyNames: [String] { names.filter { FileManager.default.fileExists(atPath: "\(root)/\($0)/numpy_expected.npz") } }

    @Test(
        "the hidden form agrees with the independent NumPy reference at 1e-12 per layer (ALiBi, partial and interleaved RoPE, soft caps with windows, OPT's offset)",
        arguments: numpyNames)
    func numpyReference(name: String) throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let imported = try Processes.prefixkit([
            "import", store, "\(Self.root)/\(name)/numpy_prefix.npz", "--base", "\(Self.root)/\(name)/base", "--name", "h",
        ])
        #expect(imported.status == 0, "\(name): \(imported.stderr)")
        let verify = try Processes.prefixkit([
            "verify", store, "h", "--reference", "\(Self.root)/\(name)/numpy_expected.npz", "--require-reference",
        ])
        #expect(verify.status == 0 && verify.stdout.contains("tolerance 1e-12 per layer"), "\(name): \(verify.stdout)\(verify.stderr)")
    }

    @Test("the NumPy reference covers the position and attention kinds the families add, encoders included")
    func numpyCoverage() {
        #expect(
            Set(["bloom", "gpt-neox", "gptj", "gemma2", "opt", "bert", "roberta", "electra", "distilbert"]).isSubset(
                of: Set(Self.numpyNames)),
            "\(Self.numpyNames)")
    }

    @Test("a multi-query Falcon adapter with H key/value heads (PEFT's default, which PEFT cannot run) is refused by name")
    func falconMultiQueryHeads() throws {
        let dir = TemporaryDirectory()
        let adapter = dir.path + "/adapter"
        let write = try Processes.python(
            """
            import json, os, sys, numpy as np
            from safetensors.numpy import save_file
            os.makedirs(sys.argv[1])
            config = json.load(open(sys.argv[2]))
            config.update(num_attention_heads=4, token_dim=16)
            json.dump(config, open(os.path.join(sys.argv[1], "adapter_config.json"), "w"))
            save_file({"prompt_embeddings": np.zeros((4, 2 * 2 * 16), np.float32)}, os.path.join(sys.argv[1], "adapter_model.safetensors"),
                      metadata={"format": "pt"})
            """, [adapter, "\(Self.root)/falcon-mq/adapter/adapter_config.json"])
        #expect(write.status == 0, "\(write.stderr)")
        let run = try Processes.prefixkit(["import", dir.path + "/s", adapter, "--base", "\(Self.root)/falcon-mq/base"])
        // A --base the adapter does not fit is a usage error.
        #expect(run.status == 2, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.contains("multi-query") && run.stderr.contains("num_attention_heads=1, token_dim=4"), "\(run.stderr)")
    }

    @Test(
        "DistilBERT: import and verify say that PEFT applies the adapter as a no-op, and verify names PEFT's outputs as the prefix ignored")
    func distilbertNoOp() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let imported = try Processes.prefixkit([
            "import", store, "\(Self.root)/distilbert/adapter", "--base", "\(Self.root)/distilbert/base",
        ])
        #expect(
            imported.status == 0 && imported.stdout.contains("note: PEFT applies a prefix-tuning adapter to DistilBERT as a no-op"),
            "\(imported.stdout)\(imported.stderr)")
        let verify = try Processes.prefixkit([
            "verify", store, "adapter", "--reference", "\(Self.root)/distilbert/reference.npz", "--json", "--no-record",
        ])
        #expect(verify.status == 1, "\(verify.stdout)\(verify.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as? [String: Any])
        let checkpoint = try #require((report["checkpoints"] as? [[String: Any]])?.first)
        let diagnosis = try #require(checkpoint["diagnosis"] as? [String: Any])
        #expect(diagnosis["bug"] as? String == "prefix_ignored", "\(diagnosis)")
        #expect((checkpoint["notes"] as? [String])?.first?.contains("transformers' DistilBERT takes no key/value cache") == true)
    }

    @Test("an encoder reference that appends the prefix after the inputs passes: with bidirectional attention it is the same composition")
    func encoderAppendedPrefix() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let appended = dir.path + "/appended.npz"
        let write = try Processes.python(
            """
            import sys, numpy as np
            r = dict(np.load(sys.argv[1]))
            pn = 3
            for key in [k for k in r if k.endswith(".input")]:
                r[key] = np.concatenate([r[key][:, pn:], r[key][:, :pn]], 1)
            np.savez(sys.argv[2], **r)
            """, ["\(Self.root)/bert/numpy_expected.npz", appended])
        #expect(write.status == 0, "\(write.stderr)")
        let imported = try Processes.prefixkit([
            "import", store, "\(Self.root)/bert/numpy_prefix.npz", "--base", "\(Self.root)/bert/base", "--name", "h",
        ])
        #expect(imported.status == 0, "\(imported.stderr)")
        let verify = try Processes.prefixkit([
            "verify", store, "h", "--reference", appended, "--require-reference", "--no-record", "--json",
        ])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as? [String: Any])
        let checkpoint = try #require((report["checkpoints"] as? [[String: Any]])?.first)
        #expect(checkpoint["verdict"] as? String == "pass", "\(checkpoint)")
        let rows = (checkpoint["checks"] as? [[String: Any]] ?? []).filter { $0["check"] as? String == "prefix-rows" }
        #expect(rows.count == 2, "\(rows)")
        for row in rows {
            #expect(
                (row["message"] as? String)?.contains("after the inputs, which in a bidirectional encoder is the same composition") == true
                    && (row["relative_error"] as? Double ?? 1) <= 1e-12, "\(row)")
        }
    }

    @Test(
        "on an encoder the wrong compositions that stay distinguishable are named (NumPy references of buggy tools, BERT)",
        arguments: ["kept_first_n", "prefix_ignored", "reused_previous_prefix", "layer_off_by_one"])
    func encoderBugsNamed(bug: String) throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let imported = try Processes.prefixkit([
            "import", store, "\(Self.root)/bert/numpy_prefix.npz", "--base", "\(Self.root)/bert/base", "--name", "h",
        ])
        #expect(imported.status == 0, "\(imported.stderr)")
        let verify = try Processes.prefixkit([
            "verify", store, "h", "--reference", "\(Self.root)/bert/numpy_bug_\(bug).npz", "--json", "--no-record",
        ])
        #expect(verify.status == 1, "\(verify.stdout)\(verify.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as? [String: Any])
        let diagnosis = try #require((report["checkpoints"] as? [[String: Any]])?.first?["diagnosis"] as? [String: Any])
        #expect(diagnosis["bug"] as? String == bug, "\(diagnosis)")
    }
}
