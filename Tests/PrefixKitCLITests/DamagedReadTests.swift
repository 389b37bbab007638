import Foundation
import PrefixKit
import TestSupport
import Testing

/// Every tensor that leaves the store is checked against its digest: a damaged one fails
/// `export` (every format), `forward` and `kv` with exit 1, naming it, and nothing is written.
@Suite("Damaged tensors never leave the store unnoticed")
struct DamagedReadTests {
    /// A demo store, with one tensor's first 8 bytes overwritten (the kind of damage `dd` does).
    static func damagedStore(_ dir: TemporaryDirectory, tensor: String, role: String) throws -> String {
        let store = dir.path + "/s"
        let demo = try Processes.prefixkit([
            "demo", "--store", store, "--layers", "2", "--width", "8", "--heads", "2", "--checkpoints", "1", "--input-length", "4",
        ])
        #expect(demo.status == 0, "\(demo.stderr)")
        let table =
            role == "base" ? "base_tensor bt ON bt.tensor_id = t.id" : "checkpoint_tensor bt ON bt.tensor_id = t.id AND bt.role = 'prefix'"
        let row = try Processes.run(
            "/usr/bin/sqlite3",
            [
                store + "/catalog.sqlite",
                "SELECT b.path || '|' || t.file_offset FROM tensor t JOIN blob b ON b.id = t.blob_id JOIN \(table) WHERE bt.name = '\(tensor)' LIMIT 1",
            ])
        let parts = row.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|")
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: store + "/" + String(parts[0])))
        try handle.seek(toOffset: UInt64(parts[1]) ?? 0)
        try handle.write(contentsOf: Data([0, 0, 0, 0, 0, 0, 0, 1]))
        try handle.close()
        return store
    }

    static func leftovers(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0 != "s" }
    }

    @Test(
        "export of a damaged tensor exits 1 naming it, writes nothing; --no-verify exports anyway",
        arguments: [
            ("hf", "wte.weight", "base"), ("hf", "h.1.mlp.c_fc.weight", "base"), ("peft", "layer_01", "prefix"),
            ("peft", "h.0.attn.c_attn.weight", "base"), ("safetensors", "layer_00", "prefix"), ("npz", "layer_01", "prefix"),
        ])
    func export(format: String, tensor: String, role: String) throws {
        let dir = TemporaryDirectory()
        let store = try Self.damagedStore(dir, tensor: tensor, role: role)
        let out = dir.path + "/out"
        let run = try Processes.prefixkit(["export", store, "demo", "--format", format, "--out", out])
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.contains("tensor bytes do not match their digest") && run.stderr.contains("tensor '\(tensor)'"), "\(run.stderr)")
        #expect(Self.leftovers(dir.path).isEmpty, "\(Self.leftovers(dir.path))")
        let forced = try Processes.prefixkit(["export", store, "demo", "--format", format, "--out", out, "--no-verify"])
        #expect(forced.status == 0, "\(forced.stderr)")
    }

    @Test(
        "forward verifies by default (exit 1 naming the tensor, nothing written, whichever layer); --no-verify runs; --verify is still accepted",
        arguments: ["h.0.ln_1.weight", "h.1.mlp.c_proj.weight", "wte.weight"])
    func forward(tensor: String) throws {
        let dir = TemporaryDirectory()
        let store = try Self.damagedStore(dir, tensor: tensor, role: "base")
        let input = Processes.repositoryRoot + "/fixtures/verify/gpt2/pn4-n6/correct.npz"
        for flags in [[], ["--verify"]] {
            let run = try Processes.prefixkit(["forward", store, "demo", "--input", input, "--out", dir.path + "/out.npz"] + flags)
            #expect(run.status == 1 && run.stderr.contains("tensor '\(tensor)'"), "\(flags): \(run.stdout)\(run.stderr)")
            #expect(Self.leftovers(dir.path).isEmpty, "\(Self.leftovers(dir.path))")
        }
        #expect(try Processes.prefixkit(["forward", store, "demo", "--input", input, "--no-verify"]).status == 0)
    }

    @Test("kv reads through the digests too: exit 1, no checkpoint saved")
    func keyValue() throws {
        let dir = TemporaryDirectory()
        let store = try Self.damagedStore(dir, tensor: "layer_00", role: "prefix")
        let before = try Store.open(at: store).checkpoints().map(\.reference)
        let run = try Processes.prefixkit(["kv", store, "demo"])
        #expect(run.status == 1 && run.stderr.contains("tensor 'layer_00'"), "\(run.stderr)")
        #expect(try Store.open(at: store).checkpoints().map(\.reference) == before)
        #expect(!before.contains("demo-kv@1"))
    }
}
