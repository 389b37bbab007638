import Foundation
import PrefixCore
import TestSupport
import Testing

@testable import PrefixFormats

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
        "the archives written carry zlib's CRC-32 of each member, classic or ZIP64: Python's zipfile checks them, NumPy reads them",
        // 1: every size and every offset but the first member's (0) in ZIP64 records.
        arguments: [UInt64(0xFFFF_FFFF), 1])
    func checksumsAndZip64(limit: UInt64) throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/z.npz"
        var random = SeededRandom(seed: 7)
        let big = Tensor(shape: [257, 129], floats: random.normals(257 * 129, scale: 1))
        try NPZ.write(
            [("big", .tensor(big)), ("empty", .tensor(try Tensor(zeros: .f64, shape: [0]))), ("names", .strings(["héllo"], shape: []))],
            to: path, zip64Limit: limit)
        let check = try Processes.python(
            """
            import sys, struct, zipfile, numpy as np
            data = open(sys.argv[1], "rb").read()
            with zipfile.ZipFile(sys.argv[1]) as z:
                bad = z.testzip()
                # The local headers carry the same CRC-32 as the central directory.
                for i in z.infolist():
                    assert struct.unpack("<I", data[i.header_offset + 14:i.header_offset + 18])[0] == i.CRC, i.filename
                zip64 = [i.filename for i in z.infolist() if i.extract_version >= 45 or i.file_size >= 0xFFFFFFFF]
                print(bad, len(z.infolist()), sorted(zip64))
            a = np.load(sys.argv[1], allow_pickle=False)
            print(a["big"].shape, a["big"].dtype, float(a["big"].astype(np.float64).sum()), a["empty"].shape, str(a["names"]))
            """, [path])
        #expect(check.status == 0, "\(check.stderr)")
        let lines = check.stdout.split(separator: "\n").map(String.init)
        let expectedZip64 = limit == 1 ? "['big.npy', 'empty.npy', 'names.npy']" : "[]"
        #expect(lines.first == "None 3 \(expectedZip64)", "\(check.stdout)")
        let sum = big.floats().reduce(0.0) { $0 + Double($1) }
        #expect(lines.count == 2 && lines[1].hasPrefix("(257, 129) float32 "), "\(check.stdout)")
        #expect(abs((Double(lines[1].split(separator: " ")[3]) ?? .nan) - sum) <= 1e-6 * max(1, abs(sum)), "\(check.stdout)")
        #expect(lines[1].hasSuffix("(0,) héllo"))
        // And ZIPFoundation, which checks every CRC as it reads.
        let back = try NPZ.read(path: path)
        #expect(back.map(\.name) == ["big", "empty", "names"] && back[0].value.tensor == big, "\(back.map(\.name))")
    }

    @Test("a member whose CRC-32 does not match its bytes is refused when read")
    func damagedChecksum() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/z.npz"
        try NPZ.write([("x", .tensor(Builders.randomTensor(.f32, [64], seed: 3)))], to: path)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[30 + "x.npy".utf8.count + 200] ^= 0x01  // a byte of the array's data
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: FormatError.self) { try NPZ.read(path: path) }
        #expect(error?.code == .checksumMismatch && error?.member == "x.npy", "\(String(describing: error))")
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
