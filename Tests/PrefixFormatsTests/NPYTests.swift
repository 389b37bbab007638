import Foundation
import PrefixCore
import PrefixFormats
import TestSupport
import Testing

@Suite("NumPy .npy")
struct NPYTests {
    /// The bytes in hexadecimal, as Python's `bytes.hex()` writes them.
    static func hex(_ bytes: UnsafeRawBufferPointer) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// A header with arbitrary dict text, version 1.
    static func file(_ dict: String, body: [UInt8] = [], version: UInt8 = 1) -> Data {
        var text = Array(dict.utf8)
        text += [UInt8](repeating: 0x20, count: (64 - (10 + text.count + 1) % 64) % 64) + [0x0a]
        var bytes: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]
        bytes +=
            version == 1 ? [UInt8(text.count & 0xff), UInt8(text.count >> 8)] : [UInt8(text.count & 0xff), UInt8(text.count >> 8), 0, 0]
        return Data(bytes + text + body)
    }

    @Test("arrays NumPy writes (v1, v2, v3, Fortran order, 0-d, empty, every dtype) read back with NumPy's values")
    func readsNumPy() throws {
        let dir = TemporaryDirectory()
        let script = """
            import numpy as np, sys, hashlib
            d = sys.argv[1]
            rng = np.random.default_rng(5)
            arrays = {
              "f64": rng.standard_normal((3, 4)), "f32": rng.standard_normal((2, 3, 4)).astype(np.float32),
              "f16": rng.standard_normal(7).astype(np.float16), "i64": rng.integers(-9, 9, (4, 2)), "i32": np.arange(6, dtype=np.int32),
              "i16": np.array([-3, 4], np.int16), "i8": np.array([-1, 2], np.int8), "u64": np.array([2**63], np.uint64),
              "u32": np.array([7], np.uint32), "u16": np.array([9], np.uint16), "u8": np.array([255], np.uint8),
              "bool": np.array([True, False, True]), "scalar": np.float64(3.5), "empty": np.zeros((0, 3), np.float32),
              "fortran": np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4)),
            }
            for name, a in arrays.items():
                np.save(f"{d}/{name}.npy", a)
                print(name, np.ascontiguousarray(a).tobytes().hex())
            a = np.arange(5, dtype=np.float32)
            with open(f"{d}/v2.npy", "wb") as f:
                np.lib.format.write_array(f, a, version=(2, 0))
            with open(f"{d}/v3.npy", "wb") as f:
                np.lib.format.write_array(f, a, version=(3, 0))
            """
        let result = try Processes.python(script, [dir.path])
        #expect(result.status == 0, "\(result.stderr)")
        for line in result.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            let tensor = try #require(try NPY.read(path: "\(dir.path)/\(parts[0]).npy").tensor, "\(parts[0])")
            let digest = tensor.withUnsafeBytes { Self.hex($0) }
            #expect(digest == String(parts[1]), "\(parts[0])")
        }
        #expect(try NPY.read(path: dir.path + "/scalar.npy").tensor?.shape == [])
        #expect(try NPY.read(path: dir.path + "/fortran.npy").tensor?.floats() == (0..<24).map(Float.init))
        for version in ["v2", "v3"] { #expect(try NPY.read(path: "\(dir.path)/\(version).npy").tensor?.floats() == [0, 1, 2, 3, 4]) }
    }

    @Test("what PrefixKit writes, NumPy reads bit-exactly, for every dtype NumPy has")
    func numpyReadsOurs() throws {
        let dir = TemporaryDirectory()
        var expected: [String] = []
        for (i, dtype) in DType.allCases.enumerated() where NPYHeader.descr(for: dtype) != nil {
            let tensor = Builders.randomTensor(dtype, [3, 2], seed: UInt64(i))
            try NPY.encode(tensor).write(to: URL(fileURLWithPath: "\(dir.path)/\(dtype.rawValue).npy"))
            expected.append("\(dtype.rawValue) \(tensor.withUnsafeBytes { Self.hex($0) })")
        }
        let script = """
            import numpy as np, sys, hashlib, glob, os
            for p in sorted(glob.glob(sys.argv[1] + "/*.npy")):
                a = np.load(p, allow_pickle=False)
                print(os.path.basename(p)[:-4], a.tobytes().hex())
            """
        let result = try Processes.python(script, [dir.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Set(result.stdout.split(separator: "\n").map(String.init)) == Set(expected))
    }

    @Test("bf16 and f8 cannot be written: NumPy has no such dtype")
    func refusesBF16() {
        let error = #expect(throws: FormatError.self) { try NPY.encode(Builders.randomTensor(.bf16, [2], seed: 1)) }
        #expect(error?.code == .unsupportedDType)
    }

    @Test(
        "hostile or malformed headers: one error code each",
        arguments: [
            (Data([0x93, 0x4e]), FormatError.Code.truncated),
            (Data("PK\u{3}\u{4}nonsense".utf8), .badMagic),
            (file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", version: 9), .unsupportedVersion),
            (
                Data([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 0xff, 0xff, 0xff, 0x7f] + [UInt8](repeating: 0x20, count: 64)),
                .headerTooLarge
            ),
            (Data([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0x40, 0x00, 0x7b]), .truncated),
            (file("{'descr': '<f4', 'fortran_order': False}"), .malformedHeader),
            (file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'evil': 1}"), .malformedHeader),
            (file("__import__('os').system('true')"), .malformedHeader),
            (file("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }"), .unsupportedDType),
            (file("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }"), .unsupportedDType),
            (file("{'descr': '<V2', 'fortran_order': False, 'shape': (2,), }"), .unsupportedDType),
            (file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }"), .malformedHeader),
            (file("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }"), .invalidShape),
            (file("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"), .invalidShape),
            (file("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", body: [0, 0, 0, 0]), .truncated),
            (file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", body: [UInt8](repeating: 0, count: 8)), .sizeMismatch),
        ])
    func hostileHeaders(data: Data, code: FormatError.Code) {
        let error = #expect(throws: FormatError.self) { try NPY.decode(data) }
        #expect(error?.code == code, "\(String(describing: error))")
    }

    @Test("a seeded fuzz loop over corrupted files throws or decodes, never crashes")
    func fuzz() throws {
        let valid = try NPY.encode(Tensor(shape: [3, 4], floats: (0..<12).map(Float.init)))
        var random = SeededRandom(seed: 99)
        var decoded = 0, rejected = 0
        for _ in 0..<5000 {
            var bytes = [UInt8](valid)
            Mutation.mutate(&bytes, &random)
            do {
                _ = try NPY.decode(Data(bytes))
                decoded += 1
            } catch {
                rejected += 1
            }
        }
        #expect(decoded + rejected == 5000 && rejected > 1000)
    }
}
