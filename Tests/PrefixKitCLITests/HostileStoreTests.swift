import Foundation
import PrefixKit
import TestSupport
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The hostile-store corpus (`fixtures/hostile-stores/cases.json`, made by
/// `fixtures/generate_hostile_stores.py`): each case edits a fresh copy of a valid store as an
/// attacker handing it over could, then runs the commands a user would. Each must end with the
/// answer the case names (never a crash, a hang or a huge allocation), and write nothing the
/// case lists as absent.
@Suite("Hostile stores")
struct HostileStoreTests {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        var id: String
        var item: Int
        var title: String
        var compression: String?
        var steps: [[String: JSONValue]]
        var runs: [Run]
        var absent: [String]?
        /// A file name that must not appear anywhere below the outside directory.
        var absent_anywhere: String?
        var testDescription: String { "\(item). \(id): \(title)" }
    }

    struct Run: Decodable, Sendable {
        var args: [String]
        var env: [String: String]?
        var exit: Int32?
        var stdout: String?
        var stderr: String?
        var stdout_lacks: String?
        var findings: [String]?
        var max_rss_mb: Int?
        var no_raw_controls: Bool?
        var xml: String?
    }

    enum JSONValue: Decodable, Sendable {
        case text(String), number(Int), list([JSONValue]), object([String: JSONValue])
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .text(text)
            } else if let number = try? container.decode(Int.self) {
                self = .number(number)
            } else if let list = try? container.decode([JSONValue].self) {
                self = .list(list)
            } else {
                self = .object(try container.decode([String: JSONValue].self))
            }
        }
        var text: String? { if case .text(let s) = self { s } else { nil } }
    }

    static let corpus = Processes.repositoryRoot + "/fixtures/hostile-stores"
    static let cases: [Case] = {
        struct File: Decodable { var cases: [Case] }
        guard let data = FileManager.default.contents(atPath: corpus + "/cases.json"),
            let file = try? JSONDecoder().decode(File.self, from: data)
        else { return [] }
        return file.cases
    }()

    @Test("the corpus is there and covers the attacks it was made for")
    func corpusIsComplete() {
        #expect(Set(Self.cases.map(\.item)).isSuperset(of: [1, 2, 3, 4, 5, 6, 9]), "\(Self.cases.count) cases")
    }

    @Test("each hostile store is refused with a clear answer and nothing written outside", arguments: cases)
    func hostileStore(_ attack: Case) throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/store", outside = dir.path + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let adapter = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny"
        if let compression = attack.compression {
            #expect(try Processes.prefixkit(["init", store, "--compression", compression]).status == 0)
        }
        let imported = try Processes.prefixkit([
            "import", store, adapter + "/adapter", "--base", adapter + "/base", "--name", "run", "--step", "1",
        ])
        try #require(imported.status == 0, "\(imported.stderr)")
        var values = ["{STORE}": store, "{OUTSIDE}": outside, "{ADAPTER}": adapter]
        do {
            let opened = try Store.open(at: store)
            let base = try #require(opened.bases().first)
            let run = try opened.checkpoint("run@1")
            values["{BASE_FP}"] = base.fingerprint
            values["{BLOB_BASE}"] = try Self.blobID(opened.tensorEntries(of: base)[0].blobPath)
            values["{BLOB_CKPT}"] = try Self.blobID(opened.tensorEntries(of: run)[0].blobPath)
            let manifest: String = try #require(
                FileManager.default.contentsOfDirectory(atPath: store + "/manifests").first { $0.hasPrefix("checkpoint-") })
            values["{CKPT_MANIFEST}"] = manifest
        }
        func fill(_ text: String) -> String {
            var text = text
            for (key, value) in values { text = text.replacingOccurrences(of: key, with: value) }
            while let range = text.range(of: #"\{PAYLOAD_SIZE:[^}]+\}"#, options: .regularExpression) {
                let name = String(text[range].dropFirst("{PAYLOAD_SIZE:".count).dropLast())
                let size = (try? FileManager.default.attributesOfItem(atPath: "\(Self.corpus)/payloads/\(name)")[.size] as? Int) ?? -1
                text.replaceSubrange(range, with: String(size))
            }
            return text
        }
        func inStore(_ path: String) -> String { path.hasPrefix("/") || path.hasPrefix("{") ? fill(path) : store + "/" + fill(path) }

        for step in attack.steps {
            try apply(step, inStore: inStore, fill: fill, store: store)
        }
        for run in attack.runs {
            let arguments = run.args.map(fill)
            let rss = dir.path + "/rss.txt"
            let result = try Processes.run(
                "/usr/bin/time", ["-o", rss, "-f", "%M", "/usr/bin/timeout", "-s", "KILL", "60", Processes.prefixkit] + arguments,
                environment: (run.env ?? [:]).mapValues(fill))
            let context = "\(arguments.joined(separator: " ")) -> \(result.status)\n\(result.stdout)\n\(result.stderr)"
            #expect(result.signal == nil && result.status < 124, "crashed or timed out: \(context)")
            if let exit = run.exit { #expect(result.status == exit, "\(context)") }
            if let text = run.stdout { #expect(result.stdout.contains(fill(text)), "\(context)") }
            if let text = run.stderr { #expect(result.stderr.contains(fill(text)), "\(context)") }
            if let text = run.stdout_lacks { #expect(!result.stdout.contains(fill(text)), "\(context)") }
            if let limit = run.max_rss_mb {
                let kilobytes = Int((try? String(contentsOfFile: rss, encoding: .utf8))?.split(separator: "\n").last ?? "") ?? Int.max
                #expect(kilobytes / 1024 <= limit, "peak RSS \(kilobytes / 1024) MB above \(limit) MB: \(context)")
            }
            if let codes = run.findings {
                let found = Set(Self.findingCodes(result.stdout))
                #expect(found.isSuperset(of: codes), "findings \(found.sorted()) lack \(codes): \(context)")
            }
            if run.no_raw_controls == true {
                for output in [result.stdout, result.stderr] {
                    let raw = output.unicodeScalars.filter { TerminalText.needsEscape($0) && $0 != "\n" }
                    #expect(raw.isEmpty, "raw control or bidi characters \(raw.map { String($0.value, radix: 16) }): \(context)")
                }
            }
            if let xml = run.xml {
                let data = try #require(FileManager.default.contents(atPath: fill(xml)), "no \(xml): \(context)")
                let parser = XMLParser(data: data)
                #expect(parser.parse(), "the JUnit file does not parse: \(parser.parserError.map { "\($0)" } ?? "")")
            }
        }
        for path in attack.absent ?? [] {
            #expect(!FileManager.default.fileExists(atPath: fill(path)), "\(fill(path)) was written")
        }
        if let name = attack.absent_anywhere {
            let found = (FileManager.default.enumerator(atPath: dir.path)?.allObjects as? [String] ?? []).filter {
                $0.hasSuffix("/" + name) || $0 == name
            }
            #expect(found.isEmpty, "\(name) was written at \(found)")
        }
    }

    private func apply(
        _ step: [String: JSONValue], inStore: (String) -> String, fill: (String) -> String, store: String
    ) throws {
        let files = FileManager.default
        if let sql = step["sql"]?.text {
            let result = try Processes.run(
                "/usr/bin/sqlite3",
                [store + "/catalog.sqlite", "PRAGMA ignore_check_constraints = 1; PRAGMA foreign_keys = OFF; " + fill(sql)])
            try #require(result.status == 0, "sqlite3: \(result.stderr)")
        } else if let path = step["write"]?.text {
            try #require(files.createFile(atPath: inStore(path), contents: Data(fill(step["text"]?.text ?? "").utf8)))
        } else if let path = step["mkdir"]?.text {
            try files.createDirectory(atPath: inStore(path), withIntermediateDirectories: true)
        } else if let path = step["remove"]?.text {
            try files.removeItem(atPath: inStore(path))
        } else if let path = step["symlink"]?.text ?? step["symlink_outside"]?.text {
            try files.createSymbolicLink(atPath: inStore(path), withDestinationPath: fill(step["to"]?.text ?? ""))
        } else if let path = step["fifo"]?.text {
            try #require(mkfifo(inStore(path), 0o644) == 0)
        } else if let path = step["copy_store_file"]?.text {
            try files.copyItem(atPath: inStore(path), toPath: inStore(step["to"]?.text ?? ""))
        } else if let name = step["copy_payload"]?.text {
            try files.copyItem(atPath: "\(Self.corpus)/payloads/\(name)", toPath: inStore(step["to"]?.text ?? ""))
        } else if let path = step["sparse"]?.text, case .number(let size) = step["size"] {
            try #require(files.createFile(atPath: inStore(path), contents: nil))
            try #require(truncate(inStore(path), off_t(size)) == 0)
        } else if case .list(let arguments) = step["run"] {
            let result = try Processes.prefixkit(arguments.compactMap(\.text).map(fill))
            try #require(result.status == 0, "\(result.stderr)")
        } else if let name = step["edit_manifest"]?.text, let table = step["table"]?.text, case .object(let set) = step["set"] {
            let path = store + "/manifests/" + fill(name)
            let data = try #require(files.contents(atPath: path))
            var document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            var rows = try #require(document["rows"] as? [String: [[String: Any]]])
            rows[table] = rows[table]?.map { row in
                var row = row
                for (key, value) in set { row[key] = value.text }
                return row
            }
            document["rows"] = rows
            try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: path))
        } else {
            Issue.record("unknown step \(step.keys.sorted())")
        }
    }

    static func blobID(_ path: String) -> String { String(path.dropFirst("blobs/".count).dropLast(".h5".count)) }

    /// The `code` of every finding in `check --json` output.
    static func findingCodes(_ json: String) -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let findings = object["findings"] as? [[String: Any]]
        else { return [] }
        return findings.compactMap { $0["code"] as? String }
    }
}
