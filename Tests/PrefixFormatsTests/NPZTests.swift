import Foundation
import PrefixCore
import PrefixFormats
import TestSupport
import Testing

@Suite("NumPy .npz")
struct NPZTests {
    @Test("stored and deflated archives written by NumPy read back; ours read in NumPy")
    func interop() throws {
        let dir = TemporaryDirectory()
        let script = """
            import numpy as np, sys
            d = sys.argv[1]
            a = np.arange(12, dtype=np.float32).reshape(3, 4)
            np.savez(d + "/stored.npz", a=a, b=np.array([1, 2], np.int64), meta=np.array('{"x": 1}'))
            np.savez_compressed(d + "/deflated.npz", a=a, b=np.array([1, 2], np.int64))
            """
        #expect(try Processes.python(script, [dir.path]).status == 0)
        for name in ["stored", "deflated"] {
            let entries = try NPZ.read(path: "\(dir.path)/\(name).npz")
            #expect(entries.map(\.name).prefix(2) == ["a", "b"])
            #expect(entries[0].value.tensor?.floats() == (0..<12).map(Float.init))
        }
        #expect(try NPZ.read(path: dir.path + "/stored.npz").last?.value.string == #"{"x": 1}"#)

        let ours = dir.path + "/ours.npz"
        try NPZ.write([("x", .tensor(Tensor(shape: [2], doubles: [1.5, -2]))), ("meta", .strings(["héllo"], shape: []))], to: ours)
        let check = try Processes.python(
            """
            import numpy as np, sys
            z = np.load(sys.argv[1], allow_pickle=False)
            print(list(z.keys()), z["x"].tolist(), str(z["meta"]))
            """, [ours])
        #expect(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "['x', 'meta'] [1.5, -2.0] héllo")
    }

    @Test(
        "member names that leave the archive, repeat or hide are refused",
        arguments: ["../evil.npy", "a/b.npy", "/abs.npy", ".hidden.npy", "dup"])
    func hostileNames(member: String) throws {
        let dir = TemporaryDirectory()
        let script = """
            import zipfile, io, numpy as np, sys
            buf = io.BytesIO(); np.save(buf, np.arange(3))
            with zipfile.ZipFile(sys.argv[1], "w") as z:
                name = sys.argv[2]
                if name == "dup":
                    z.writestr("a.npy", buf.getvalue()); z.writestr("a.npy", buf.getvalue())
                else:
                    z.writestr(name, buf.getvalue())
            """
        #expect(try Processes.python(script, [dir.path + "/h.npz", member]).status == 0)
        let error = #expect(throws: FormatError.self) { try NPZ.read(path: dir.path + "/h.npz") }
        #expect(error?.code == .unsafeName)
    }

    @Test("a deflate bomb is stopped at what the header promises")
    func deflateBomb() throws {
        let dir = TemporaryDirectory()
        // A header promising 16 bytes followed by 200 MB of zeros, deflated to ~200 KB; the zip
        // directory is then patched to claim the small size.
        let script = """
            import zipfile, sys, numpy as np, io, struct
            buf = io.BytesIO(); np.save(buf, np.zeros(4, np.float32)); header = buf.getvalue()[:-16]
            payload = header + bytes(200_000_000)
            with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("bomb.npy", payload)
            """
        #expect(try Processes.python(script, [dir.path + "/bomb.npz"]).status == 0)
        let error = #expect(throws: FormatError.self) { try NPZ.read(path: dir.path + "/bomb.npz") }
        #expect(error?.code == .inflationBomb || error?.code == .sizeMismatch, "\(String(describing: error))")
    }

    @Test("truncated and non-zip files are clear errors")
    func malformed() throws {
        let dir = TemporaryDirectory()
        try NPZ.write([("a", .tensor(Tensor(shape: [100], floats: [Float](repeating: 1, count: 100))))], to: dir.path + "/ok.npz")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/ok.npz"))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: dir.path + "/cut.npz"))
        #expect(throws: FormatError.self) { try NPZ.read(path: dir.path + "/cut.npz") }
        try Data("not a zip at all".utf8).write(to: URL(fileURLWithPath: dir.path + "/text.npz"))
        let text = #expect(throws: FormatError.self) { try NPZ.read(path: dir.path + "/text.npz") }
        #expect(text?.code == .malformedArchive)
        let missing = #expect(throws: FormatError.self) { try NPZ.read(path: dir.path + "/none.npz") }
        #expect(missing?.code == .io)
    }
}

@Suite("NumPy .npz round trips")
struct NPZRoundTripTests {
    @Test("a seeded property test: random arrays of every NumPy dtype round-trip bit-exactly")
    func property() throws {
        var random = SeededRandom(seed: 31)
        let dir = TemporaryDirectory()
        let dtypes = DType.allCases.filter { NPYHeader.descr(for: $0) != nil }
        for round in 0..<40 {
            var entries: [(name: String, value: NPYValue)] = []
            for i in 0..<Int(1 + random.next() % 5) {
                let dtype = dtypes[Int(random.next() % UInt64(dtypes.count))]
                let shape = try Shape((0..<Int(random.next() % 4)).map { _ in Int(random.next() % 6) })
                entries.append(("a\(i)", .tensor(Builders.randomTensor(dtype, shape, seed: random.next()))))
            }
            let path = dir.path + "/r\(round).npz"
            try NPZ.write(entries, to: path)
            let back = try NPZ.read(path: path)
            #expect(back.map(\.name) == entries.map(\.name))
            #expect(zip(back, entries).allSatisfy { $0.value == $1.value })
        }
    }
}
