import Foundation
import PrefixCore
import PrefixFormats
import TestSupport
import Testing

@Suite("safetensors")
struct SafetensorsTests {
    static let root = Processes.repositoryRoot + "/fixtures/safetensors"

    struct Case: Decodable {
        struct Item: Decodable { var name: String; var dtype: String; var shape: [Int]; var index: Int }
        var tensors: [Item]
        var metadata: [String: String]?
    }

    static func manifest() throws -> [String: Case] {
        try JSONDecoder().decode([String: Case].self, from: Data(contentsOf: URL(fileURLWithPath: root + "/manifest.json")))
    }

    /// The generator's byte pattern for tensor `i`.
    static func tensor(_ item: Case.Item) throws -> Tensor {
        let dtype = try #require(DType(safetensorsName: item.dtype))
        let count = item.shape.reduce(1, *) * dtype.byteWidth
        let bytes = (0..<count).map { j in dtype == .bool ? UInt8(j % 2) : UInt8((item.index * 131 + j * 7 + 3) % 256) }
        return try Tensor(dtype: dtype, shape: Shape(item.shape), bytes: bytes)
    }

    @Test(
        "the writer is byte-identical to safetensors 0.8.0 on every fixture",
        arguments: ["every-dtype", "pt-metadata", "odd-names", "scalar-and-empty", "prompt-embeddings", "no-tensors"])
    func byteIdentical(name: String) throws {
        let c = try #require(try Self.manifest()[name])
        let tensors = try c.tensors.map { NamedTensor($0.name, try Self.tensor($0)) }
        let dir = TemporaryDirectory()
        let metadata = c.metadata.map { $0.map { (key: $0.key, value: $0.value) } }
        try SafetensorsWriter.write(tensors, metadata: metadata, to: dir.path + "/ours.safetensors")
        let ours = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/ours.safetensors"))
        let theirs = try Data(contentsOf: URL(fileURLWithPath: "\(Self.root)/\(name).safetensors"))
        #expect(ours == theirs)
    }

    @Test(
        "the reader reads every fixture: names, dtypes, shapes, bytes and metadata",
        arguments: ["every-dtype", "pt-metadata", "odd-names", "scalar-and-empty", "prompt-embeddings", "no-tensors"])
    func reads(name: String) throws {
        let c = try #require(try Self.manifest()[name])
        let file = try SafetensorsFile(path: "\(Self.root)/\(name).safetensors")
        #expect(file.entries.count == c.tensors.count)
        for item in c.tensors { #expect(try file.tensor(item.name) == (try Self.tensor(item)), "\(item.name)") }
        #expect(file.metadata.map { Dictionary(uniqueKeysWithValues: $0.map { ($0.key, $0.value) }) } == c.metadata)
    }

    @Test("a seeded property test: random tensor sets round-trip bit-exactly, and Python reads them")
    func roundTrip() throws {
        var random = SeededRandom(seed: 2024)
        let dir = TemporaryDirectory()
        for round in 0..<40 {
            var tensors: [NamedTensor] = []
            for i in 0..<Int(1 + random.next() % 6) {
                let dtype = DType.allCases[Int(random.next() % UInt64(DType.allCases.count))]
                let shape = (0..<Int(random.next() % 4)).map { _ in Int(random.next() % 5) }
                tensors.append(
                    NamedTensor(
                        "t\(round).\(i).\(random.next() % 1000)", Builders.randomTensor(dtype, try Shape(shape), seed: random.next())))
            }
            let path = dir.path + "/r\(round).safetensors"
            try SafetensorsWriter.write(tensors, metadata: round % 2 == 0 ? [("format", "pt")] : nil, to: path)
            let file = try SafetensorsFile(path: path)
            for item in tensors { #expect(try file.tensor(item.name) == item.tensor) }
        }
        let check = try Processes.python(
            """
            import glob, sys
            from safetensors import safe_open
            n = 0
            for p in glob.glob(sys.argv[1] + "/*.safetensors"):
                with safe_open(p, "numpy") as f:
                    n += len(list(f.keys()))
            print(n)
            """, [dir.path])
        #expect(check.status == 0, "\(check.stderr)")
    }

    /// A file from a header text and a data buffer.
    static func file(_ header: String, data: [UInt8] = [], declared: UInt64? = nil) -> [UInt8] {
        let h = Array(header.utf8)
        return withUnsafeBytes(of: (declared ?? UInt64(h.count)).littleEndian, Array.init) + h + data
    }

    static let rejections: [(String, [UInt8], FormatError.Code)] = [
        ("under 8 bytes", [1, 2, 3], .truncated),
        ("header over 100 MB", file("{}", declared: 100_000_001), .headerTooLarge),
        ("header past the end", file("{}", declared: 64), .headerPastEnd),
        ("header not UTF-8", withUnsafeBytes(of: UInt64(4).littleEndian, Array.init) + [0x7b, 0xff, 0xfe, 0x7d], .notUTF8),
        ("header not JSON", file("{\"a\": nope}"), .malformedJSON),
        ("header not an object", file("[1, 2]"), .malformedJSON),
        (
            "nesting too deep", file("{\"__metadata__\":" + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "}"),
            .nestingTooDeep
        ),
        ("non-string metadata", file("{\"__metadata__\": {\"a\": 1}}"), .nonStringMetadata),
        (
            "unknown dtype",
            file("{\"t\": {\"dtype\": \"C64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", data: [UInt8](repeating: 0, count: 8)),
            .unknownDType
        ),
        (
            "negative dimension", file("{\"t\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", data: [0, 0, 0, 0]),
            .invalidShape
        ),
        (
            "gap between tensors",
            file(
                "{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}, \"b\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [2, 3]}}",
                data: [0, 0, 0]), .offsetsNotContiguous
        ),
        (
            "overlapping tensors",
            file(
                "{\"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}, \"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [1, 3]}}",
                data: [0, 0, 0]), .offsetsNotContiguous
        ),
        (
            "not starting at 0", file("{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [1, 2]}}", data: [0, 0]),
            .offsetsNotContiguous
        ),
        (
            "end before begin",
            file(
                "{\"a\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [0, 0]}, \"b\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [1, 0]}}",
                data: [0]), .offsetsReversed
        ),
        (
            "shape overflow",
            file(
                "{\"a\": {\"dtype\": \"F64\", \"shape\": [4611686018427387904, 4], \"data_offsets\": [0, 8]}}",
                data: [UInt8](repeating: 0, count: 8)), .sizeOverflow
        ),
        (
            "size disagrees with shape",
            file("{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", data: [UInt8](repeating: 0, count: 8)),
            .sizeMismatch
        ),
        (
            "trailing bytes", file("{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}}", data: [0, 9]),
            .incompleteBuffer
        ),
        ("missing bytes", file("{\"a\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]}}", data: [0]), .incompleteBuffer),
        (
            "duplicate names",
            file(
                "{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}, \"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [1, 2]}}",
                data: [0, 0]), .duplicateName
        ),
        (
            "name too long",
            file(
                "{\"" + String(repeating: "n", count: 5000) + "\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}}",
                data: [0]), .nameTooLong
        ),
    ]

    @Test("every rejection of the reference reader, and PrefixKit's limits, with its own code", arguments: rejections.indices)
    func rejects(index: Int) throws {
        let (label, bytes, code) = Self.rejections[index]
        let dir = TemporaryDirectory()
        try Data(bytes).write(to: URL(fileURLWithPath: dir.path + "/bad.safetensors"))
        let error = #expect(throws: FormatError.self, "\(label)") { try SafetensorsFile(path: dir.path + "/bad.safetensors") }
        #expect(error?.code == code, "\(label): \(String(describing: error))")
        #expect(error?.path == dir.path + "/bad.safetensors")
    }

    @Test("10,000 seeded mutations of valid files never crash or hang")
    func fuzz() throws {
        let dir = TemporaryDirectory()
        let seeds = try ["every-dtype", "pt-metadata", "odd-names", "scalar-and-empty"].map {
            try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(Self.root)/\($0).safetensors")))
        }
        var random = SeededRandom(seed: 7)
        var accepted = 0, rejected = 0
        let path = dir.path + "/m.safetensors"
        for i in 0..<10_000 {
            var bytes = seeds[i % seeds.count]
            Mutation.mutate(&bytes, &random)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                let file = try SafetensorsFile(path: path)
                for entry in file.entries { _ = try file.tensor(entry).withUnsafeBytes { $0.count } }
                accepted += 1
            } catch {
                rejected += 1
            }
        }
        #expect(accepted + rejected == 10_000 && rejected > 5_000)
    }
}
