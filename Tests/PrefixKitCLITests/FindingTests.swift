import Foundation
import PrefixKit
import TestSupport
import Testing

/// `list PATTERN --sort -q` and `inspect`'s steps and lineage.
@Suite("Finding checkpoints")
struct FindingTests {
    static let fixture = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny"

    /// run@1 <- run@2 <- run@3 (the adapter, the hidden prefix, the adapter again), other@1 <- run@2,
    /// and a big@1 with its MLP-free adapter twice the size.
    static func store(_ dir: TemporaryDirectory) throws -> String {
        let store = dir.path + "/s"
        let base = ["--base", fixture + "/base"]
        for arguments in [
            ["import", store, fixture + "/adapter", "--name", "run", "--step", "1"] + base,
            ["import", store, fixture + "/hidden_prefix.npz", "--name", "run", "--step", "2", "--parent", "run@1"],
            [
                "import", store, fixture + "/adapter", "--name", "run", "--step", "3", "--parent", "run@2", "--tag", "best",
                "--base-by-shape",
            ],
            ["import", store, fixture + "/adapter", "--name", "other", "--step", "1", "--parent", "run@2", "--base-by-shape"],
        ] {
            let result = try Processes.prefixkit(arguments)
            try #require(result.status == 0, "\(arguments): \(result.stderr)")
        }
        return store
    }

    @Test("a glob selects by name or NAME@STEP; -q prints references only; --sort orders by step, size or creation")
    func listing() throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(dir)
        func references(_ arguments: [String]) throws -> [String] {
            let result = try Processes.prefixkit(["list", store] + arguments)
            #expect(result.status == 0, "\(result.stderr)")
            return result.stdout.split(separator: "\n").map(String.init)
        }
        #expect(try references(["-q"]) == ["other@1", "run@1", "run@2", "run@3"])
        #expect(try references(["run", "-q"]) == ["run@1", "run@2", "run@3"])
        #expect(try references(["run@[12]", "-q"]) == ["run@1", "run@2"])
        #expect(try references(["o*", "-q"]) == ["other@1"])
        #expect(try references(["nothing*", "-q"]).isEmpty)
        #expect(try references(["--sort", "step", "-q"]) == ["other@1", "run@1", "run@2", "run@3"])
        // The hidden prefix [Pn, d] is smaller than the adapter's keys and values [2, Pn, hd] x 2.
        let sized = try references(["--sort", "size", "-q"])
        #expect(sized.last == "run@2" && sized.count == 4, "\(sized)")
        // Imported one process after another: creation order is import order.
        #expect(try references(["--sort", "created", "-q"]) == ["run@1", "run@2", "run@3", "other@1"])
        let json = try Processes.prefixkit(["list", store, "run*", "--json"])
        #expect(try Processes.validateJSON(json.stdout, schema: "list.schema.json").status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let listed = (object?["checkpoints"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(listed == ["run", "run", "run"])
        let table = try Processes.prefixkit(["list", store, "run@3"])
        #expect(table.stdout.contains("checkpoints (1)") && table.stdout.contains("tags best"), "\(table.stdout)")
        let refused = try Processes.prefixkit(["list", store, "-q", "--json"])
        #expect(refused.status == 2)
        let badSort = try Processes.prefixkit(["list", store, "--sort", "colour"])
        #expect(badSort.status == 2)
    }

    @Test("inspect shows every step of the name, the lineage to the root and the children; JSON validates")
    func lineage() throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(dir)
        let text = try Processes.prefixkit(["inspect", store, "run@2"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("steps        1, 2 (this), 3"), "\(text.stdout)")
        #expect(text.stdout.contains("lineage      run@1 -> run@2 (this)"), "\(text.stdout)")
        #expect(text.stdout.contains("children     other@1, run@3"), "\(text.stdout)")
        let json = try Processes.prefixkit(["inspect", store, "other", "--json"])
        #expect(try Processes.validateJSON(json.stdout, schema: "inspect.schema.json").status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["lineage"] as? [String] == ["run@1", "run@2"])
        #expect(object?["steps"] as? [Int] == [1] && object?["children"] as? [String] == [])
        let checkpoint = object?["checkpoint"] as? [String: Any]
        #expect((checkpoint?["byte_count"] as? Int ?? 0) > 0)
    }
}
