import Foundation
import PrefixKit
import TestSupport
import Testing

/// The parts of `docs/` that are generated from the code (the command reference from the
/// argument parser, the family table from the registry, the catalog's migrations) and the facts
/// the docs state that can be checked. Regenerate with
/// `RECORD_SNAPSHOTS=1 swift test --filter DocsTests` (`./scripts/docs` does).
@Suite("Generated docs are current")
struct DocsTests {
    static let docs = Processes.repositoryRoot + "/docs"
    static var recording: Bool { ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] != nil }

    /// Every command and subcommand users see, from the parser's own tree (hidden ones left out).
    static func commandPaths() throws -> [[String]] {
        let dump = try Processes.prefixkit(["--experimental-dump-help"])
        let root = try #require(try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])
        var paths: [[String]] = []
        func walk(_ command: [String: Any], _ path: [String]) {
            guard command["shouldDisplay"] as? Bool ?? true, command["commandName"] as? String != "help" else { return }
            paths.append(path)
            for sub in command["subcommands"] as? [[String: Any]] ?? [] {
                walk(sub, path + [sub["commandName"] as? String ?? "?"])
            }
        }
        walk(try #require(root["command"] as? [String: Any]), [])
        return paths
    }

    /// `docs/commands.md`: each command's help text, as the binary prints it at 100 columns.
    static func commandReference() throws -> String {
        var text = """
            # Command reference

            Every `prefixkit` command as `prefixkit COMMAND --help` prints it. This page is generated from the \
            command's own definition (a test fails when it is stale; `./scripts/docs` regenerates it). The guide to \
            using them is [cli.md](cli.md); exit codes: 0 success, 1 a check found a problem, 2 usage error, \
            3 unreadable input or I/O failure.

            """
        let paths = try commandPaths()
        text +=
            "\n"
            + paths.dropFirst().map { "[`\($0.joined(separator: " "))`](#prefixkit-\($0.joined(separator: "-")))" }
            .joined(separator: " · ") + "\n"
        for path in paths {
            let help = try Processes.prefixkit(path + ["--help"], environment: ["COLUMNS": "100"])
            #expect(help.status == 0, "\(path)")
            text += "\n## prefixkit\(path.map { " " + $0 }.joined())\n\n```text\n\(help.stdout.trimmingCharacters(in: .newlines))\n```\n"
        }
        return text
    }

    /// The family table: every registered family and every family refused on purpose.
    static func familyTable() -> String {
        var rows = ["| family | `model_type` | what its blocks are made of | refused by name |", "|---|---|---|---|"]
        for architecture in Architectures.all {
            let cells = [
                "`\(architecture.family.rawValue)`", architecture.modelTypes.map { "`\($0)`" }.joined(separator: ", "),
                architecture.blocks + (architecture.peftNote.map { " **PEFT:** \($0)" } ?? ""),
                architecture.refusedByName.isEmpty ? "-" : architecture.refusedByName,
            ]
            rows.append("| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |")
        }
        for (modelType, reason) in Architectures.refused {
            rows.append("| - | `\(modelType)` | **refused:** \(reason.replacingOccurrences(of: "|", with: "\\|")) | all |")
        }
        return rows.joined(separator: "\n")
    }

    /// Replaces (recording) or checks the text between `<!-- BEGIN GENERATED: name -->` and
    /// `<!-- END GENERATED: name -->` in `file`.
    static func checkBlock(_ name: String, in file: String, expected: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let path = docs + "/" + file
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let begin = "<!-- BEGIN GENERATED: \(name) -->\n", end = "<!-- END GENERATED: \(name) -->"
        let start = try #require(text.range(of: begin), "\(file) has no \(begin)", sourceLocation: sourceLocation)
        let stop = try #require(text.range(of: end, range: start.upperBound..<text.endIndex), sourceLocation: sourceLocation)
        let current = String(text[start.upperBound..<stop.lowerBound])
        if recording {
            try (String(text[..<start.upperBound]) + expected + "\n" + String(text[stop.lowerBound...])).write(
                toFile: path, atomically: true, encoding: .utf8)
            return
        }
        #expect(
            current == expected + "\n", "\(file): the generated '\(name)' block is stale; ./scripts/docs regenerates it",
            sourceLocation: sourceLocation)
    }

    @Test("docs/commands.md is every command's current help text")
    func commands() throws {
        let path = Self.docs + "/commands.md"
        let expected = try Self.commandReference()
        if Self.recording {
            try expected.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        let committed = try String(contentsOfFile: path, encoding: .utf8)
        #expect(committed == expected, "docs/commands.md is stale: ./scripts/docs regenerates it")
        // Every visible command has its section, hidden ones none.
        #expect(committed.contains("## prefixkit reference\n") && committed.contains("## prefixkit probe add\n"))
        #expect(!committed.contains("## prefixkit inspect-blobs"))
    }

    @Test("docs/families.md's table is the registry's")
    func families() throws {
        try Self.checkBlock("families", in: "families.md", expected: Self.familyTable())
        let table = Self.familyTable()
        for architecture in Architectures.all { #expect(table.contains("| `\(architecture.family.rawValue)` |")) }
        #expect(table.contains("`deberta-v2`"))
    }

    @Test("docs/store.md lists the catalog's migrations as a new store records them")
    func migrations() throws {
        let dir = TemporaryDirectory()
        #expect(try Processes.prefixkit(["init", dir.path + "/s"]).status == 0)
        let applied = try Processes.python(
            "import sqlite3, sys; print('\\n'.join(r[0] for r in sqlite3.connect(sys.argv[1]).execute('SELECT identifier FROM grdb_migrations ORDER BY rowid')))",
            [dir.path + "/s/catalog.sqlite"])
        let identifiers = applied.stdout.split(separator: "\n").map(String.init)
        #expect(identifiers.count >= 8 && identifiers.first == "v1-catalog", "\(applied.stderr)")
        let list = identifiers.map { "- `\($0)`" }.joined(separator: "\n")
        try Self.checkBlock(
            "migrations", in: "store.md", expected: "The catalog is built by \(identifiers.count) migrations, in this order:\n\n\(list)")
        // The DocC article names the same range.
        let article = try String(
            contentsOfFile: Processes.repositoryRoot + "/Sources/PrefixStore/PrefixStore.docc/StorageLayout.md", encoding: .utf8)
        #expect(article.contains("`\(identifiers[0])` ... `\(identifiers[identifiers.count - 1])`"))
        // What the catalog stores about a model is what docs/store.md says: the canonical config as JSON.
        let schema = try String(contentsOfFile: Processes.repositoryRoot + "/schemas/catalog.sql", encoding: .utf8)
        let store = try String(contentsOfFile: Self.docs + "/store.md", encoding: .utf8)
        #expect(schema.contains("canonical_config TEXT NOT NULL") && store.contains("`canonical_config`"))
    }

    @Test("every relative link in README.md and docs/ points at a file that exists")
    func links() throws {
        let files =
            ["README.md"]
            + (try FileManager.default.contentsOfDirectory(atPath: Self.docs)).filter { $0.hasSuffix(".md") }.map { "docs/" + $0 }
        let pattern = try NSRegularExpression(pattern: #"\]\(([^)#\s]+)(#[^)]*)?\)"#)
        for file in files {
            let text = try String(contentsOfFile: Processes.repositoryRoot + "/" + file, encoding: .utf8)
            for match in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let target = (text as NSString).substring(with: match.range(at: 1))
                guard !target.contains("://"), !target.hasPrefix("mailto:") else { continue }
                let directory = (file as NSString).deletingLastPathComponent
                let resolved = Processes.repositoryRoot + "/" + (directory.isEmpty ? target : directory + "/" + target)
                #expect(FileManager.default.fileExists(atPath: resolved), "\(file) links to \(target), which does not exist")
            }
        }
    }
}
