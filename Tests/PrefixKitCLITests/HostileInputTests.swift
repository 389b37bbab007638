import Foundation
import PrefixKit
import TestSupport
import Testing

/// Hostile files and flags end in a clear error and an exit code, never a signal, a hang, or a
/// trace left behind.
@Suite("Hostile inputs: no crash, no hang, no trace")
struct HostileInputTests {
    static let peft = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny"

    /// `prefixkit` under `timeout 20`: a hang shows as exit 124.
    static func run(_ arguments: [String], limit: String? = nil) throws -> ProcessResult {
        let prefix = limit.map { ["--fsize=\($0)", "/usr/bin/timeout", "20"] } ?? ["20"]
        return try Processes.run(limit == nil ? "/usr/bin/timeout" : "/usr/bin/prlimit", prefix + [Processes.prefixkit] + arguments)
    }

    static func expect(_ result: ProcessResult, status: Int32, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(
            result.signal == nil && result.status == status,
            "exit \(result.status) signal \(result.signal.map(String.init) ?? "-"): \(result.stderr)",
            sourceLocation: sourceLocation)
        #expect(result.stderr.contains(text), "\(result.stderr)", sourceLocation: sourceLocation)
    }

    static func demoStore(_ dir: TemporaryDirectory) throws -> String {
        let store = dir.path + "/s"
        #expect(
            try Processes.prefixkit([
                "demo", "--store", store, "--layers", "2", "--width", "8", "--heads", "2", "--checkpoints", "1", "--input-length", "4",
            ]).status == 0)
        return store
    }

    @Test("sizes and counts past every limit: --max-shard-size, PEFT fields of 2^31, the step after Int.max, offsets to Int.max")
    func overflows() throws {
        let dir = TemporaryDirectory()
        let store = try Self.demoStore(dir)
        Self.expect(
            try Self.run([
                "export", store, "demo", "--format", "hf", "--out", dir.path + "/x", "--max-shard-size", "99999999999999999999GB",
            ]),
            status: 2, mentioning: "at most 2^62 bytes")
        let adapter = dir.path + "/adapter"
        try FileManager.default.copyItem(atPath: Self.peft + "/adapter", toPath: adapter)
        let config = adapter + "/adapter_config.json"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: config))) as? [String: Any] ?? [:]
        json["num_layers"] = 1 << 31
        json["token_dim"] = 1 << 31
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: config))
        Self.expect(
            try Self.run(["import", dir.path + "/new", adapter, "--base", Self.peft + "/base"]), status: 3,
            mentioning: "'num_layers' is 2147483648, beyond the limit")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/new"), "a failed import created the store")
        #expect(
            try Processes.prefixkit([
                "import", store, Self.peft + "/adapter", "--base", Self.peft + "/base", "--name", "x", "--step", "\(Int.max)",
            ]).status == 0)
        Self.expect(
            try Self.run(["import", store, Self.peft + "/adapter", "--name", "x", "--base-by-shape"]), status: 2,
            mentioning: "there is no next step: pass --step")
        let file = dir.path + "/huge.safetensors"
        let header = Array(#"{"prefix.layer_00":{"dtype":"U8","shape":[9223372036854775807],"data_offsets":[0,9223372036854775807]}}"#.utf8)
        try Data(withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header + [0, 0, 0, 0]).write(
            to: URL(fileURLWithPath: file))
        Self.expect(try Self.run(["convert", file, dir.path + "/o.npz", "--to", "npz"]), status: 3, mentioning: "tensors end at more than")
    }

    @Test("an f8 hidden prefix verifies, converts to key/value (f32) and exports to PEFT")
    func float8Prefix() throws {
        let dir = TemporaryDirectory()
        let store = try Self.demoStore(dir)
        var body: [UInt8] = [], fields: [String] = []
        for l in 0..<2 {
            fields.append(#""prefix.layer_0\#(l)":{"dtype":"F8_E4M3","shape":[3,8],"data_offsets":[\#(l * 24),\#((l + 1) * 24)]}"#)
            body += (0..<24).map { UInt8(($0 * 7 + l * 13) % 0x70) }
        }
        var header = Array(("{" + fields.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        let file = dir.path + "/f8.safetensors"
        try Data(withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init) + header + body).write(to: URL(fileURLWithPath: file))
        #expect(try Processes.prefixkit(["import", store, file, "--name", "f8", "--step", "0"]).status == 0)
        for command in [
            ["verify", store, "f8", "--no-record"], ["kv", store, "f8"],
            ["export", store, "f8", "--format", "peft", "--out", dir.path + "/p"],
        ] {
            let result = try Self.run(command)
            #expect(result.status == 0 && result.signal == nil, "\(command): \(result.stdout)\(result.stderr)")
        }
        let kv = try Store.open(at: store)
        #expect(try kv.tensorEntries(of: kv.checkpoint("f8-kv")).allSatisfy { $0.dtype == .f32 })
    }

    @Test("a FIFO where a file belongs is refused by name at once: SOURCE, model.safetensors, --input, --reference, a probe")
    func fifos() throws {
        let dir = TemporaryDirectory()
        let store = try Self.demoStore(dir)
        let fifo = dir.path + "/pipe.npz"
        #expect(mkfifo(fifo, 0o644) == 0)
        Self.expect(try Self.run(["import", store, fifo]), status: 3, mentioning: "is a FIFO, not a regular file")
        Self.expect(try Self.run(["forward", store, "demo", "--input", fifo]), status: 3, mentioning: "FIFO")
        Self.expect(try Self.run(["verify", store, "demo", "--reference", fifo]), status: 3, mentioning: "FIFO")
        Self.expect(try Self.run(["probe", "add", store, "demo", fifo]), status: 3, mentioning: "FIFO")
        let model = dir.path + "/model"
        try FileManager.default.copyItem(atPath: Self.peft + "/base", toPath: model)
        try FileManager.default.removeItem(atPath: model + "/model.safetensors")
        #expect(mkfifo(model + "/model.safetensors", 0o644) == 0)
        Self.expect(try Self.run(["import", store, model]), status: 3, mentioning: "not a regular file")
        // A FIFO among the directory's other files is skipped, not read.
        try FileManager.default.removeItem(atPath: model + "/model.safetensors")
        try FileManager.default.copyItem(atPath: Self.peft + "/base/model.safetensors", toPath: model + "/model.safetensors")
        #expect(mkfifo(model + "/tokenizer.json", 0o644) == 0)
        let imported = try Self.run(["import", store, model])
        #expect(
            imported.status == 0 && imported.stdout.contains("skipped tokenizer.json (not a regular file"),
            "\(imported.stdout)\(imported.stderr)")
    }

    @Test(
        "flags out of range are usage errors that say why",
        arguments: [
            (["gc", "S", "--lock-timeout", "inf"], "--lock-timeout must be"),
            (["gc", "S", "--lock-timeout", "1e308"], "--lock-timeout must be"),
            (["gc", "S", "--lock-timeout", "nan"], "--lock-timeout must be"),
            (["verify", "S", "--tolerance-layer", "nan"], "--tolerance-layer must be"),
            (["verify", "S", "--tolerance-end=-1"], "--tolerance-end must be"),
            (["verify", "S", "--tolerance-layer", "inf"], "--tolerance-layer must be"),
        ])
    func flags(arguments: [String], message: String) throws {
        let dir = TemporaryDirectory()
        let store = try Self.demoStore(dir)
        let result = try Self.run(arguments.map { $0 == "S" ? store : $0 })
        #expect(result.status == 2 && result.stderr.contains(message), "\(result.stderr)")
    }

    @Test(
        "a disk that fills during a save: a clear error (exit 3), no signal, the store usable, nothing partial left",
        arguments: ["300000", "2000000", "6000000"])
    func fillingDisk(limit: String) throws {
        let dir = TemporaryDirectory()
        let store = try Self.demoStore(dir)
        let model = dir.path + "/big"
        #expect(
            try Processes.prefixkit([
                "demo", "--store", dir.path + "/src", "--layers", "4", "--width", "256", "--heads", "4", "--checkpoints", "1",
                "--input-length", "4",
            ]).status == 0)
        #expect(try Processes.prefixkit(["export", dir.path + "/src", "demo", "--format", "hf", "--out", model]).status == 0)
        Self.expect(try Self.run(["import", store, model], limit: limit), status: 3, mentioning: "the file-size limit was reached")
        let check = try Processes.prefixkit(["check", store])
        #expect(check.status == 0 && !check.stdout.contains("leftover"), "\(check.stdout)")
        #expect(FileSystemContents.names(store + "/tmp").isEmpty)
    }

    @Test("a store created by a command that fails is not left behind; a full disk at creation leaves nothing")
    func failedCreation() throws {
        let dir = TemporaryDirectory()
        let typo = dir.path + "/typo-store"
        #expect(try Processes.prefixkit(["import", typo, dir.path + "/missing.npz"]).status == 3)
        #expect(try Processes.prefixkit(["import", typo, Self.peft + "/adapter"]).status == 2)
        #expect(!FileManager.default.fileExists(atPath: typo))
        Self.expect(try Self.run(["init", dir.path + "/full"], limit: "60000"), status: 3, mentioning: "cannot initialise the catalog")
        #expect(FileSystemContents.names(dir.path).filter { $0.contains("full") }.isEmpty, "\(FileSystemContents.names(dir.path))")
        #expect(try Processes.prefixkit(["init", dir.path + "/full"]).status == 0)
        #expect(try Processes.prefixkit(["list", dir.path + "/full"]).status == 0)
    }

    @Test("an export killed before its end leaves a temporary that the next export of that name removes")
    func staleExport() throws {
        let dir = TemporaryDirectory()
        let store = try Self.demoStore(dir)
        // The pid of a process that has ended.
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        ended.waitUntilExit()
        let stale = dir.path + "/.out.tmp-\(ended.processIdentifier)"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        try Data("partial".utf8).write(to: URL(fileURLWithPath: stale + "/model.safetensors"))
        let alive = dir.path + "/.out.tmp-1"
        try FileManager.default.createDirectory(atPath: alive, withIntermediateDirectories: true)
        let other = dir.path + "/.other.tmp-\(ended.processIdentifier)"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        #expect(try Processes.prefixkit(["export", store, "demo", "--format", "hf", "--out", dir.path + "/out"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(FileManager.default.fileExists(atPath: alive) && FileManager.default.fileExists(atPath: other))
    }
}

enum FileSystemContents {
    static func names(_ path: String) -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }
}
