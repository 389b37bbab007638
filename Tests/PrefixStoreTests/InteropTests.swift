import Foundation
import PrefixCore
import PrefixStore
import TestSupport
import Testing

/// The store is readable without PrefixKit: sqlite3 lists the catalog, h5py reads every blob.
@Suite("Interop: sqlite3 and h5py read a store")
struct InteropTests {
    /// Reads every tensor of the store through sqlite3 (Python's module) and h5py only, and prints
    /// `owner name dtype-attribute numpy-dtype shape sha256-of-bytes catalog-sha256` per tensor.
    private static let reader = """
        import sqlite3, sys, hashlib, h5py, numpy as np
        store = sys.argv[1]
        db = sqlite3.connect(f"file:{store}/catalog.sqlite?mode=ro", uri=True)
        rows = db.execute('''
            SELECT c.name || '@' || c.step, ct.name, b.path, t.dataset, t.sha256 FROM checkpoint c
            JOIN checkpoint_tensor ct ON ct.checkpoint_id = c.id JOIN tensor t ON t.id = ct.tensor_id JOIN blob b ON b.id = t.blob_id
            UNION ALL
            SELECT 'base', bt.name, b.path, t.dataset, t.sha256 FROM base_tensor bt
            JOIN tensor t ON t.id = bt.tensor_id JOIN blob b ON b.id = t.blob_id''').fetchall()
        for owner, name, path, dataset, digest in rows:
            with h5py.File(f"{store}/{path}", "r") as f:
                d = f[dataset]
                data = np.ascontiguousarray(d[()])
                attr = d.attrs["dtype"]
                print(owner, name, attr, data.dtype, list(data.shape), hashlib.sha256(data.tobytes()).hexdigest(), digest)
        """

    @Test("h5py reads every blob; values hash to the catalog digests; dtypes are the NumPy ones")
    func h5pyReadsEverything() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        try store.saveBase(Builders.tinyBase(), alias: "b", provenance: Provenance(sourceFormat: "test"))
        var content = Builders.hiddenPrefix()
        content.mlp = [DType.f16, .bf16, .bool, .i8, .u64, .f64, .f8e4m3].enumerated().map { i, dtype in
            NamedTensor("m_\(dtype.rawValue)", Builders.randomTensor(dtype, [2, 3], seed: UInt64(i)))
        }
        try store.saveCheckpoint(content, as: CheckpointSpec(name: "c", step: 1, base: "b"))
        try store.saveCheckpoint(Builders.kvPrefix(), as: CheckpointSpec(name: "k", step: 1, base: "b"))

        let result = try Processes.python(Self.reader, [store.directory])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let expectedCount = Builders.tinyBase().tensors.count + content.layers.count + content.mlp.count + 4
        #expect(lines.count == expectedCount)
        for fields in lines where fields.count >= 7 {
            let shapeText = fields[4...(fields.count - 3)].joined(separator: " ")
            #expect(
                fields[fields.count - 2] == fields[fields.count - 1],
                "h5py bytes of \(fields[0]) \(fields[1]) \(shapeText) differ from the catalog digest")
        }
        let byName = Dictionary(lines.map { ($0[1], $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byName["m_f16"]?[2] == "float16" && byName["m_f16"]?[3] == "float16")
        #expect(byName["m_bf16"]?[2] == "bfloat16" && byName["m_bf16"]?[3] == "uint16")
        #expect(byName["m_bool"]?[3] == "bool")
        #expect(byName["m_f8e4m3"]?[2] == "float8_e4m3fn" && byName["m_f8e4m3"]?[3] == "uint8")
        #expect(byName["layer_00.key"]?[4] == "[2,")
        #expect(byName["h.0.attn.c_attn.weight"]?[3] == "float32")
    }

    @Test("h5py's float values equal what PrefixKit wrote")
    func h5pyValues() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        try store.saveBase(Builders.tinyBase(), alias: "b", provenance: Provenance(sourceFormat: "test"))
        let content = Builders.hiddenPrefix()
        try store.saveCheckpoint(content, as: CheckpointSpec(name: "c", step: 1, base: "b"))
        let entry = try store.tensorEntries(of: store.checkpoint("c"))[1]
        let script = """
            import h5py, sys
            with h5py.File(sys.argv[1], "r") as f:
                print(" ".join(repr(float(x)) for x in f[sys.argv[2]][()].ravel()))
            """
        let result = try Processes.python(script, [store.directory + "/" + entry.blobPath, entry.dataset])
        #expect(result.status == 0, "\(result.stderr)")
        let values = result.stdout.split(separator: " ").compactMap { Float(String($0).trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard case .hidden(let expected) = content.layers[1] else { Issue.record("not hidden"); return }
        #expect(values == expected.floats())
    }

    @Test("the sqlite3 command-line tool lists the catalog")
    func sqlite3ListsCatalog() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        try store.saveBase(Builders.tinyBase(), alias: "b", provenance: Provenance(sourceFormat: "test"))
        try store.saveCheckpoint(Builders.hiddenPrefix(), as: CheckpointSpec(name: "c", step: 3, base: "b"))
        let result = try Processes.run(
            "/usr/bin/sqlite3",
            [
                store.directory + "/catalog.sqlite",
                "SELECT name, step, form, prefix_length FROM checkpoint; SELECT count(*) FROM base_tensor;",
            ])
        #expect(result.status == 0)
        #expect(result.stdout == "c|3|hidden|4\n\(Builders.tinyBase().tensors.count)\n")
    }

    @Test("h5dump reads a blob's structure")
    func h5dump() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        try store.saveBase(Builders.tinyBase(), alias: "b", provenance: Provenance(sourceFormat: "test"))
        let entry = try store.tensorEntries(of: store.base("b")).first { $0.name == "h.1.mlp.c_fc.weight" }
        let path = try #require(entry).blobPath
        let result = try Processes.run("/usr/bin/h5dump", ["-H", "-d", "/base/h.1.mlp.c_fc.weight", store.directory + "/" + path])
        #expect(result.status == 0)
        #expect(result.stdout.contains("H5T_IEEE_F32LE") && result.stdout.contains("( 8, 32 )"))
    }
}
