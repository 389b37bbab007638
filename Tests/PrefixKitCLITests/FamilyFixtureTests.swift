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
        #expect(Self.names.count >= 23, "\(Self.names)")
    }

    @Test("a PEFT adapter imports, verifies PASS against PEFT's outputs and round-trips bit-identically", arguments: names)
    func verifyAgainstPEFT(name: String) throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(name, dir)
        let reference = "\(Self.root)/\(name)/reference.npz"
        let verify = try Processes.prefixkit(["verify", store, "adapter", "--reference", reference, "--require-reference"])
        #expect(verify.status == 0 && verify.stdout.contains("PASS"), "\(name): \(verify.stdout)\(verify.stderr)")
        #expect(verify.stdout.contains("round-trip: peft: bit-identical"), "\(name): \(verify.stdout)")
    }

    @Test(
        "forward in f64 gives PEFT's logits (1e-6 relative where HF computes in f64, 1e-5 where its RoPE or softmax is f32)",
        arguments: names)
    func logits(name: String) throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(name, dir)
        let reference = "\(Self.root)/\(name)/reference.npz"
        let run = try Processes.prefixkit([
            "forward", store, "adapter", "--input", reference, "--dtype", "f64", "--logits", "--out", dir.path + "/o.npz",
        ])
        #expect(run.status == 0, "\(name): \(run.stderr)")
        let ours = try ActivationExchange.read(path: dir.path + "/o.npz"), theirs = try ActivationExchange.read(path: reference)
        let mask = try #require(theirs.attentionMask).doubles()
        let n = try #require(theirs.attentionMask).shape[1]
        let tolerance = theirs.metaString("rope_dtype") == "f32" || theirs.metaString("softmax_dtype") == "f32" ? 1e-5 : 1e-6
        let error = Closeness.relativeError(try #require(ours.logits), try #require(theirs.logits)) { b, r in mask[b * n + r] != 0 }
        #expect(error <= tolerance, "\(name): logits differ from PEFT's by \(error)")
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
            d = c.get("hidden_size") or c.get("n_embd") or c.get("d_model")
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

    @Test("the NumPy reference covers the five position and attention kinds the issue names")
    func numpyCoverage() {
        #expect(Set(["bloom", "gpt-neox", "gptj", "gemma2", "opt"]).isSubset(of: Set(Self.numpyNames)), "\(Self.numpyNames)")
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
        #expect(run.status == 3, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.contains("multi-query") && run.stderr.contains("num_attention_heads=1, token_dim=4"), "\(run.stderr)")
    }
}
