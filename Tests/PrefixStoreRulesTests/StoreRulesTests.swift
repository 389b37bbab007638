import PrefixCore
import PrefixStoreRules
import Testing

/// Every rule a value read back from a store must meet, one refusal each.
@Suite("Store rules")
struct StoreRulesTests {
    static let id = "0123456789abcdef0123456789abcdef"

    @Test("a blob's path is blobs/<its id>.h5 and nothing else")
    func blobPaths() throws {
        try StoreRules.blobPath("blobs/\(Self.id).h5", id: Self.id)
        for path in ["../victim/secret.bin", "blobs/../../victim/x.h5", "blobs/\(Self.id).h5/..", "/etc/passwd", "blobs/other.h5"] {
            #expect(throws: StoreRuleError.self, "\(path)") { try StoreRules.blobPath(path, id: Self.id) }
        }
        let error = #expect(throws: StoreRuleError.self) { try StoreRules.blobPath("../victim/secret.bin", id: Self.id) }
        #expect(error?.code == .hostileValue && error?.field == "blob.path")
    }

    @Test("a blob id is 32 lowercase hex digits", arguments: ["../../victim/x", "0123456789ABCDEF0123456789ABCDEF", "abc", ""])
    func blobIDs(_ id: String) {
        #expect(throws: StoreRuleError.self) { try StoreRules.blobID(id) }
    }

    @Test("a base file name is one component that a terminal does not act on")
    func fileNames() throws {
        try StoreRules.fileName("tokenizer.json")
        try StoreRules.fileName("merges.txt")
        for name in [
            "../../../../tmp/x.txt", "a/b", ".", "..", "", "x\u{1b}]0;T\u{07}", "evil\u{202e}txt.json", String(repeating: "a", count: 256),
        ] {
            #expect(throws: StoreRuleError.self, "\(name)") { try StoreRules.fileName(name) }
        }
        let error = #expect(throws: StoreRuleError.self) { try StoreRules.fileName("../../../../tmp/x.txt") }
        #expect(error?.code == .hostileValue)
    }

    @Test("shapes are bounded JSON arrays of sizes that do not overflow")
    func shapes() throws {
        #expect(try StoreRules.shape("[2, 4, 8]").dimensions == [2, 4, 8])
        #expect(try StoreRules.shape("[]").dimensions == [])
        for text in ["[-1]", "[1.5]", "{}", "[1,,2]", "[1e3]", "[9223372036854775807, 2]", "[1,2,3,4,5,6,7,8,9]", "[\"1\"]"] {
            #expect(throws: StoreRuleError.self, "\(text)") { try StoreRules.shape(text) }
        }
    }

    @Test("a byte length must be what the dtype and shape give")
    func byteLengths() throws {
        try StoreRules.byteLength(64, dtype: .f32, shape: [2, 8])
        #expect(throws: StoreRuleError.self) { try StoreRules.byteLength(24_000, dtype: .f32, shape: [2, 8]) }
    }

    @Test("dataset paths are absolute, with no empty, '.' or '..' component")
    func datasets() throws {
        try StoreRules.dataset("/prefix/decoder/layer_00/key")
        for path in ["prefix/layer_00", "/prefix//x", "/prefix/../x", "/a\u{1b}[2J"] {
            #expect(throws: StoreRuleError.self, "\(path)") { try StoreRules.dataset(path) }
        }
    }

    @Test("a manifest row's column names are identifiers: SQL in a key is refused")
    func sqlInColumnName() throws {
        let injected = "name) VALUES (1); ATTACH DATABASE '/tmp/x.db' AS p; CREATE TABLE p.t(a); --"
        let row: [String: StoreValue] = [injected: .integer(1)]
        let error = #expect(throws: StoreRuleError.self) { try StoreRules.row(row, table: "base_tensor") }
        #expect(error?.code == .hostileValue && error?.field == "base_tensor column")
        #expect(throws: StoreRuleError.self) { try StoreRules.row([:], table: "sqlite_master") }
    }

    @Test("a manifest row's values meet their column's rule")
    func rowValues() throws {
        let fingerprint = String(repeating: "f", count: 64)
        try StoreRules.row(
            ["base_fingerprint": .text(fingerprint), "name": .text("vocab.json"), "tensor_id": .integer(3)], table: "base_file")
        let escape = #expect(throws: StoreRuleError.self) {
            try StoreRules.row(
                ["base_fingerprint": .text(fingerprint), "name": .text("../../x"), "tensor_id": .integer(3)], table: "base_file")
        }
        #expect(escape?.field == "base_file.name")
        let blob = #expect(throws: StoreRuleError.self) {
            try StoreRules.row(
                ["id": .text(Self.id), "path": .text("../victim/secret.bin"), "byte_length": .integer(10), "created_at": .text("t")],
                table: "blob")
        }
        #expect(blob?.field == "blob.path")
        let name = #expect(throws: StoreRuleError.self) {
            try StoreRules.row(
                ["name": .text("run\u{1b}]0;owned\u{07}"), "step": .integer(1), "base_fingerprint": .text(fingerprint)], table: "checkpoint"
            )
        }
        #expect(name?.field == "checkpoint.name" && name?.value.contains("\u{1b}") == false)
        #expect(throws: StoreRuleError.self) {
            try StoreRules.row(["checkpoint_id": .integer(1), "tag": .text("a;b")], table: "checkpoint_tag")
        }
    }

    @Test("references are NAME@STEP with a valid name")
    func references() throws {
        #expect(try StoreRules.reference("run@20", field: "checkpoint") == ("run", 20))
        for text in ["run", "run@-1", "run@1@2", "../x@1", "run@1x"] {
            #expect(throws: StoreRuleError.self, "\(text)") { _ = try StoreRules.reference(text, field: "checkpoint") }
        }
    }
}
