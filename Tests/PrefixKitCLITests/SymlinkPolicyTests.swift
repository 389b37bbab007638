import Foundation
import PrefixKit
import TestSupport
import Testing

/// One rule for links in everything imported: a file of a model, adapter, Trainer run or Hub
/// cache snapshot may be a symbolic link only when it resolves inside that directory (a
/// snapshot: inside its repository's cache folder). A required file that leads out is refused
/// by name; an optional extra file is skipped and listed. Each file kind has its case.
@Suite("Symbolic links in imported directories")
struct SymlinkPolicyTests {
    static let fixtures = Processes.repositoryRoot + "/fixtures"

    /// Copies `source` to `dir/name`, then replaces its `file` by a link to a copy outside it.
    static func linkedOut(_ source: String, _ file: String, in dir: TemporaryDirectory, as name: String) throws -> String {
        let copy = dir.path + "/" + name
        try FileManager.default.copyItem(atPath: source, toPath: copy)
        let outside = dir.path + "/outside-\(name)-" + (file as NSString).lastPathComponent
        try FileManager.default.moveItem(atPath: copy + "/" + file, toPath: outside)
        try FileManager.default.createSymbolicLink(atPath: copy + "/" + file, withDestinationPath: outside)
        return copy
    }

    @Test(
        "a required file that links out of what is imported is refused, naming it",
        arguments: [
            ("peft/gpt2-tiny/base", "config.json", ["--name", "m"]),
            ("peft/gpt2-tiny/base", "model.safetensors", ["--name", "m"]),
            ("peft/gpt2-tiny/adapter", "adapter_config.json", ["--base", "BASE"]),
            ("peft/gpt2-tiny/adapter", "adapter_model.safetensors", ["--base", "BASE"]),
            ("trainer/run1", "checkpoint-2/trainer_state.json", ["--base", "BASE"]),
            ("adapterhub/flat/adapter", "pytorch_adapter.bin", ["--base", "BASE"]),
        ])
    func requiredFiles(_ source: String, _ file: String, _ extra: [String]) throws {
        let dir = TemporaryDirectory()
        let path = try Self.linkedOut(Self.fixtures + "/" + source, file, in: dir, as: "src")
        let arguments = extra.map { $0 == "BASE" ? Self.fixtures + "/peft/gpt2-tiny/base" : $0 }
        let run = try Processes.prefixkit(["import", dir.path + "/s", path] + arguments)
        let name = (file as NSString).lastPathComponent
        #expect(run.status == 3 && run.stderr.contains("'\(name)' is a link out of the directory"), "\(run.stderr)")
    }

    @Test("links inside the directory are followed; an extra file linking out is skipped and listed, never read")
    func insideAndExtras() throws {
        let dir = TemporaryDirectory()
        let model = dir.path + "/model"
        try FileManager.default.copyItem(atPath: Self.fixtures + "/peft/gpt2-tiny/base", toPath: model)
        try FileManager.default.createDirectory(atPath: model + "/weights", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: model + "/model.safetensors", toPath: model + "/weights/model.safetensors")
        try FileManager.default.createSymbolicLink(atPath: model + "/model.safetensors", withDestinationPath: "weights/model.safetensors")
        try Data("secret".utf8).write(to: URL(fileURLWithPath: dir.path + "/secret.txt"))
        try FileManager.default.createSymbolicLink(atPath: model + "/tokenizer.json", withDestinationPath: dir.path + "/secret.txt")
        let run = try Processes.prefixkit(["import", dir.path + "/s", model])
        #expect(
            run.status == 0 && run.stdout.contains("skipped tokenizer.json (a link out of the directory)"), "\(run.stdout)\(run.stderr)")
        let out = dir.path + "/exported"
        let base = try #require(try Store.open(at: dir.path + "/s").bases().first)
        #expect(try Processes.prefixkit(["export", dir.path + "/s", base.shortReference, "--format", "hf", "--out", out]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: out + "/tokenizer.json"))
    }

    @Test("a Hub cache snapshot's files may link into the repository's blobs, not out of its folder")
    func hubSnapshot() throws {
        let dir = TemporaryDirectory()
        let hub = dir.path + "/hub"
        try FileManager.default.copyItem(atPath: Self.fixtures + "/hfcache/hub", toPath: hub)
        let environment = ["HF_HUB_CACHE": hub]
        let store = dir.path + "/s"
        #expect(try Processes.prefixkit(["import", store, "hf:tiny-org/gpt2-tiny"], environment: environment).status == 0)
        let inside = try Processes.prefixkit(
            ["import", store, "hf:tiny-org/gpt2-tiny-prefix", "--base-by-shape"], environment: environment)
        #expect(inside.status == 0, "\(inside.stderr)")
        let snapshot = hub + "/models--tiny-org--gpt2-tiny-prefix/snapshots/" + String(repeating: "b", count: 40)
        let config = snapshot + "/adapter_config.json"
        let outside = dir.path + "/adapter_config.json"
        try FileManager.default.copyItem(atPath: Paths.resolved(config), toPath: outside)
        try FileManager.default.removeItem(atPath: config)
        try FileManager.default.createSymbolicLink(atPath: config, withDestinationPath: outside)
        let out = try Processes.prefixkit(
            ["import", store, "hf:tiny-org/gpt2-tiny-prefix", "--name", "x", "--base-by-shape"], environment: environment)
        #expect(out.status == 3 && out.stderr.contains("'adapter_config.json' is a link out of the directory"), "\(out.stderr)")
    }
}
