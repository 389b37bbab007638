import Foundation
import PrefixKit
import TestSupport
import Testing

/// Li & Liang's `PrefixTuning` checkpoints (`fixtures/legacy`, made by `generate_legacy.py` with
/// torch.save from modules with their parameter names): materialised to the keys and values
/// NumPy computes, the MLP kept, the seq2seq sections verified against the NumPy reference.
@Suite("Li & Liang checkpoints")
struct LegacyImportTests {
    static let root = Processes.repositoryRoot + "/fixtures/legacy"
    static let fixtures = Processes.repositoryRoot + "/fixtures"

    /// The store's stored keys and values of `name`, by PrefixKit's exported npz names.
    static func exported(_ store: String, _ name: String, _ dir: TemporaryDirectory) throws -> [String: Tensor] {
        let out = dir.path + "/\(name).npz"
        let run = try Processes.prefixkit(["export", store, name, "--format", "npz", "--out", out])
        #expect(run.status == 0, "\(run.stderr)")
        return Dictionary(uniqueKeysWithValues: try NPZ.read(path: out).compactMap { item in item.value.tensor.map { (item.name, $0) } })
    }

    @Test("a GPT-2 Li & Liang module imports as the keys and values its MLP computes (NumPy, f64 rounded to f32), with the MLP kept")
    func gpt2() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let run = try Processes.prefixkit([
            "import", store, Self.root + "/li-liang-gpt2/prefix.bin", "--base", Self.fixtures + "/peft/gpt2-tiny/base", "--name", "ll",
        ])
        #expect(run.status == 0 && run.stdout.contains("Li & Liang PrefixTuning checkpoint"), "\(run.stdout)\(run.stderr)")
        let ours = try Self.exported(store, "ll", dir)
        let expected = try NPZ.read(path: Self.root + "/li-liang-gpt2/expected_kv.npz")
        for (name, value) in expected {
            let key = "prefix." + name.replacingOccurrences(of: "decoder.", with: "")
            let mine = try #require(ours[key], "no \(key) in \(ours.keys.sorted())")
            let theirs = try #require(value.tensor)
            #expect(Closeness.relativeError(mine, theirs) <= 1e-7, "\(key)")
        }
        #expect(ours["prefix_mlp.embedding.weight"]?.shape == [5, 16] && ours["prefix_mlp.transform.2.bias"]?.shape == [64])
    }

    @Test("a BART Li & Liang module fills the encoder, decoder and cross sections and verifies PASS against the NumPy reference")
    func bart() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let run = try Processes.prefixkit([
            "import", store, Self.root + "/li-liang-bart/prefix.bin", "--base", Self.fixtures + "/seq2seq/bart/base", "--name", "ll",
        ])
        #expect(run.status == 0 && run.stdout.contains("cross, decoder, encoder"), "\(run.stdout)\(run.stderr)")
        let ours = try Self.exported(store, "ll", dir)
        for (name, value) in try NPZ.read(path: Self.root + "/li-liang-bart/expected_kv.npz") {
            let mine = try #require(ours["prefix." + name], "no prefix.\(name)")
            #expect(Closeness.relativeError(mine, try #require(value.tensor)) <= 1e-7, "\(name)")
        }
        let verify = try VerifyRun.checkpoint(store, "ll", reference: Self.root + "/li-liang-bart/numpy_expected.npz")
        #expect(verify.status == 0 && verify.report["verdict"] as? String == "pass", "\(verify.report)")
    }

    @Test("a Li & Liang seq2seq module on a one-stack base is refused, saying it needs an encoder-decoder")
    func seq2seqOnOneStack() throws {
        let dir = TemporaryDirectory()
        let run = try Processes.prefixkit([
            "import", dir.path + "/s", Self.root + "/li-liang-bart/prefix.bin", "--base", Self.fixtures + "/peft/gpt2-tiny/base",
        ])
        #expect(run.status != 0 && run.stderr.contains("needs an encoder-decoder base"), "\(run.stderr)")
    }

    @Test("a module missing part of its MLP is refused naming the tensor")
    func partial() throws {
        let dir = TemporaryDirectory()
        let run = try Processes.prefixkit([
            "import", dir.path + "/s", Self.root + "/li-liang-partial.bin", "--base", Self.fixtures + "/peft/gpt2-tiny/base",
        ])
        #expect(run.status == 3 && run.stderr.contains("no control_trans.2.bias"), "\(run.status) \(run.stderr)")
    }

    @Test("a PyTorch checkpoint of no known prefix layout is refused, listing what it holds")
    func unknownLayout() throws {
        let dir = TemporaryDirectory()
        let run = try Processes.prefixkit([
            "import", dir.path + "/s", Self.root + "/unknown-layout.bin", "--base", Self.fixtures + "/peft/gpt2-tiny/base",
        ])
        #expect(run.status == 3 && run.stderr.contains("match no prefix layout") && run.stderr.contains("encoder.weight"), "\(run.stderr)")
    }

    @Test("an MLP shaped for another base is refused naming the tensor")
    func wrongBase() throws {
        let dir = TemporaryDirectory()
        let run = try Processes.prefixkit([
            "import", dir.path + "/s", Self.root + "/li-liang-gpt2/prefix.bin", "--base", Self.fixtures + "/seq2seq/t5/base",
        ])
        #expect(run.status == 3 && run.stderr.contains("wte.weight") && run.stderr.contains("for the t5 base"), "\(run.stderr)")
    }

    @Test(
        "a P-tuning v2 model saved whole splits into base, checkpoint and SEQ_CLS head, and verifies PASS against PEFT's outputs for the same prefix"
    )
    func pTuningV2() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let run = try Processes.prefixkit(["import", store, Self.root + "/ptuning-v2-bert", "--name", "pt"])
        #expect(
            run.status == 0 && run.stdout.contains("P-tuning v2 model") && run.stdout.contains("SEQ_CLS head"), "\(run.stdout)\(run.stderr)"
        )
        let verify = try Processes.prefixkit([
            "verify", store, "pt", "--reference", Self.fixtures + "/heads/bert-seq-cls/reference.npz", "--no-record",
        ])
        #expect(verify.status == 0 && verify.stdout.contains("PASS"), "\(verify.stdout)\(verify.stderr)")
        // A second import of the same file: base and prefix are stored already.
        let again = try Processes.prefixkit(["import", store, Self.root + "/ptuning-v2-bert", "--name", "pt2"])
        #expect(again.status == 0 && again.stdout.contains("already stored") && again.stdout.contains("wrote 0 B"), "\(again.stdout)")
    }

    @Test("a projected P-tuning v2 prefix encoder is materialised as NumPy computes it, its MLP kept")
    func pTuningV2Projected() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let run = try Processes.prefixkit(["import", store, Self.root + "/ptuning-v2-bert-projected", "--name", "pt"])
        #expect(run.status == 0 && run.stdout.contains("with its MLP"), "\(run.stdout)\(run.stderr)")
        let ours = try Self.exported(store, "pt", dir)
        for (name, value) in try NPZ.read(path: Self.root + "/ptuning-v2-bert-projected/expected_kv.npz") {
            let key = "prefix." + name.replacingOccurrences(of: "decoder.", with: "")
            let mine = try #require(ours[key], "no \(key)")
            #expect(Closeness.relativeError(mine, try #require(value.tensor)) <= 1e-7, "\(key)")
        }
        #expect(ours["prefix_mlp.transform.0.weight"]?.shape == [8, 16] && ours["task_head.classifier.weight"]?.shape == [3, 16])
    }

    @Test("a P-tuning v2 prefix encoder shaped for another model is refused naming the tensor, and nothing is written")
    func pTuningV2WrongWidth() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let run = try Processes.prefixkit(["import", store, Self.root + "/ptuning-v2-wrong-width"])
        #expect(run.status == 3 && run.stderr.contains("prefix_encoder.embedding.weight is [4, 48]"), "\(run.status) \(run.stderr)")
        let blobs = (try? FileManager.default.contentsOfDirectory(atPath: store + "/blobs")) ?? []
        #expect(blobs.isEmpty, "\(blobs)")
    }
}
