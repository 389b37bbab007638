import Foundation
import PrefixKit
import TestSupport
import Testing

/// `prefixkit diff`.
@Suite("prefixkit diff")
struct DiffCommandTests {
    static let fixtures = Processes.repositoryRoot + "/fixtures"

    /// The Trainer run's three steps (PEFT adapters saved by transformers' Trainer).
    static func run(_ dir: TemporaryDirectory) throws -> String {
        let store = dir.path + "/s"
        let imported = try Processes.prefixkit(["import", store, fixtures + "/trainer/run1", "--base", fixtures + "/peft/gpt2-tiny/base"])
        try #require(imported.status == 0, "\(imported.stderr)")
        return store
    }

    @Test("two steps: a table per layer and part, JSON that validates, an HTML page; the same checkpoint twice is identical")
    func pair() throws {
        let dir = TemporaryDirectory()
        let store = try Self.run(dir)
        let text = try Processes.prefixkit(["diff", store, "run1@2", "run1@6", "--html", dir.path + "/pair.html"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("base         the same") && text.stdout.contains("decoder  1      value"), "\(text.stdout)")
        #expect(try String(contentsOfFile: dir.path + "/pair.html", encoding: .utf8).contains("<svg"))
        let json = try Processes.prefixkit(["diff", store, "run1@2", "run1@6", "--json"])
        #expect(try Processes.validateJSON(json.stdout, schema: "diff.schema.json").status == 0)
        let same = try Processes.prefixkit(["diff", store, "run1@4", "run1@4"])
        #expect(same.status == 0 && same.stdout.contains("identical: every tensor equal value for value"), "\(same.stdout)")
    }

    @Test("--steps: every step against the first; JSON validates; the HTML chart is written")
    func steps() throws {
        let dir = TemporaryDirectory()
        let store = try Self.run(dir)
        let text = try Processes.prefixkit(["diff", store, "run1", "--steps", "--html", dir.path + "/steps.html"])
        #expect(text.status == 0 && text.stdout.contains("steps 2, 4, 6"), "\(text.stderr)")
        let page = try String(contentsOfFile: dir.path + "/steps.html", encoding: .utf8)
        #expect(page.contains("How far each layer of run1 moved") && page.contains("<svg"))
        let json = try Processes.prefixkit(["diff", store, "run1", "--steps", "--json"])
        #expect(try Processes.validateJSON(json.stdout, schema: "diff.schema.json").status == 0)
    }

    @Test("usage: two checkpoints or one name with --steps, a report directory that exists, known checkpoints")
    func usage() throws {
        let dir = TemporaryDirectory()
        let store = try Self.run(dir)
        for arguments in [
            ["diff", store, "run1"], ["diff", store, "run1@2", "run1@4", "--steps"],
            ["diff", store, "run1", "--steps", "--html", "/no/such/x.html"],
            ["diff", store, "run1@2", "nothing"],
        ] {
            let result = try Processes.prefixkit(arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
        }
    }
}
