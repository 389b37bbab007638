import Foundation
import PrefixKit
import TestSupport
import Testing

/// `prefixkit forward` and `prefixkit kv` end to end, on a store built from the reference fixture.
@Suite("prefixkit forward and kv")
struct ForwardCommandTests {
    /// A store holding gpt2-tiny and the Pn=20, N=128 hidden prefix as `fx@1`.
    private func store(_ dir: TemporaryDirectory, model: String = "gpt2-tiny") throws -> (String, EngineFixture) {
        let fixture = try EngineFixture(model, prefixLength: 20, inputLength: 128)
        let store = try Store.create(at: dir.path + "/s")
        let json = try String(contentsOfFile: EngineFixture.root + "/\(model)/config.json", encoding: .utf8)
        let base = try store.saveBase(
            BaseWeights(config: fixture.config, configJSON: json, tensors: fixture.weights),
            provenance: Provenance(sourceFormat: "npz"))
        try store.saveCheckpoint(fixture.hidden, as: CheckpointSpec(name: "fx", step: 1, base: base.base.shortReference))
        return (store.directory, fixture)
    }

    @Test(
        "forward on an exchange input reproduces the reference in f64 and writes the exchange format",
        arguments: ["gpt2-tiny", "llama-gqa-tiny"])
    func forwardMatchesReference(model: String) throws {
        let dir = TemporaryDirectory()
        let (path, fixture) = try store(dir, model: model)
        let reference = EngineFixture.root + "/\(model)/pn20-n128/expected_hidden.npz"
        let run = try Processes.prefixkit([
            "forward", path, "fx", "--input", reference, "--out", dir.path + "/out.npz", "--dtype", "f64", "--logits",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("layer 1: 148 rows in -> kept last 128"))
        let out = try ActivationExchange.read(path: dir.path + "/out.npz")
        let mask = fixture.mask
        let error = Closeness.relativeError(try #require(out.final), try #require(fixture.expectedHidden["final"])) { b, r in mask[b][r] }
        #expect(error <= 1e-10)
        #expect(out.logits?.shape == [2, 128, 32] && out.meta?.contains("\"form\":\"hidden\"") == true)
        let full = try Processes.prefixkit(["forward", path, "fx", "--input", reference, "--prefix-rows"])
        #expect(full.stdout.contains("layer 0: 148 rows in -> 148 out -> kept last 128"))
    }

    @Test("forward names the OpenBLAS kernels its f32 products ran on: OpenBLAS's choice, or OPENBLAS_CORETYPE's")
    func blasKernels() throws {
        let dir = TemporaryDirectory()
        let (path, _) = try store(dir)
        let reference = EngineFixture.root + "/gpt2-tiny/pn20-n128/expected_hidden.npz"
        // Prescott (SSE3) runs on every x86-64 CPU; another core type is then named.
        for kernels in ["Prescott", "Sandybridge"] {
            let run = try Processes.prefixkit(["forward", path, "fx", "--input", reference], environment: ["OPENBLAS_CORETYPE": kernels])
            #expect(run.status == 0 && run.stdout.contains("tokens/s, OpenBLAS \(kernels) kernels"), "\(run.stdout)")
        }
        let f64 = try Processes.prefixkit(["forward", path, "fx", "--input", reference, "--dtype", "f64"])
        #expect(f64.status == 0 && f64.stdout.contains(" tokens/s\n") && !f64.stdout.contains("OpenBLAS"), "\(f64.stdout)")
    }

    @Test("kv saves an exact key/value checkpoint that forwards to the same outputs")
    func keyValueCommand() throws {
        let dir = TemporaryDirectory()
        let (path, fixture) = try store(dir)
        let kv = try Processes.prefixkit(["kv", path, "fx", "--dtype", "f64"])
        #expect(kv.status == 0, "\(kv.stderr)")
        #expect(kv.stdout.contains("saved fx-kv@1") && kv.stdout.contains("[2, 20, 4]"))
        let info = try Store.open(at: path).checkpoint("fx-kv")
        #expect(info.form == .kv && info.parent == "fx@1" && info.provenance.sourcePath == "fx@1")
        let reference = EngineFixture.root + "/gpt2-tiny/pn20-n128/expected_kv.npz"
        #expect(
            try Processes.prefixkit(["forward", path, "fx-kv", "--input", reference, "--out", dir.path + "/kv.npz", "--dtype", "f64"])
                .status == 0)
        let out = try ActivationExchange.read(path: dir.path + "/kv.npz")
        let mask = fixture.mask
        #expect(Closeness.relativeError(try #require(out.final), try #require(fixture.expectedKV["final"])) { b, r in mask[b][r] } <= 1e-10)
        let again = try Processes.prefixkit(["kv", path, "fx-kv"])
        #expect(again.status == 2 && again.stderr.contains("already in key/value form"), "\(again.stderr)")
    }

    @Test("forward errors: unknown checkpoint 2, unreadable or mis-shaped input 3")
    func forwardErrors() throws {
        let dir = TemporaryDirectory()
        let (path, _) = try store(dir)
        #expect(try Processes.prefixkit(["forward", path, "ghost", "--input", "x.npy"]).status == 2)
        let missing = try Processes.prefixkit(["forward", path, "fx", "--input", dir.path + "/none.npy"])
        #expect(missing.status == 3 && missing.stderr.hasPrefix("error: ") && missing.stderr.contains("none.npy"))
        try NPY.encode(Tensor(shape: [3, 5], floats: [Float](repeating: 0, count: 15))).write(
            to: URL(fileURLWithPath: dir.path + "/narrow.npy"))
        let narrow = try Processes.prefixkit(["forward", path, "fx", "--input", dir.path + "/narrow.npy"])
        #expect(narrow.status == 3 && narrow.stderr.contains("[B, N, 8]"))
        try NPY.encode(Builders.randomTensor(.i64, [1, 200], seed: 3)).write(to: URL(fileURLWithPath: dir.path + "/long.npy"))
        let long = try Processes.prefixkit(["forward", path, "fx", "--input", dir.path + "/long.npy"])
        #expect(long.status == 3 && long.stderr.contains("beyond the model's maximum"))
        #expect(try Processes.prefixkit(["forward", path, "fx", "--input", dir.path + "/long.npy", "--dtype", "f16"]).status == 2)
    }
}
