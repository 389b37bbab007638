import Foundation
import PrefixKit
import TestSupport
import Testing

/// The repository's pre-commit hooks (`.pre-commit-hooks.yaml`), run by pre-commit itself
/// (`try-repo`, `run`) in a throwaway git repository, with the built `prefixkit` on PATH.
@Suite("pre-commit hooks")
struct PreCommitHookTests {
    static let fixture = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny"

    static func run(_ arguments: [String], in repo: String, home: String) throws -> ProcessResult {
        let bin = (Processes.python as NSString).deletingLastPathComponent
        return try Processes.run(
            bin + "/pre-commit", arguments,
            environment: [
                "PATH": Processes.productsDirectory.path + ":" + bin + ":/usr/bin:/bin", "PRE_COMMIT_HOME": home,
                "GIT_CONFIG_GLOBAL": home + "/gitconfig",
            ], currentDirectory: repo)
    }

    static func git(_ arguments: [String], in repo: String) throws {
        let result = try Processes.run("/usr/bin/git", ["-C", repo] + arguments)
        try #require(result.status == 0, "git \(arguments): \(result.stderr)")
    }

    @Test("prefixkit-structure passes a good adapter and prefix file and fails a damaged adapter, saying why")
    func structure() throws {
        let dir = TemporaryDirectory()
        let repo = dir.path + "/repo", home = dir.path + "/home"
        try FileManager.default.createDirectory(atPath: repo + "/adapters", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.fixture + "/adapter", toPath: repo + "/adapters/good")
        try FileManager.default.copyItem(atPath: Self.fixture + "/hidden_prefix.npz", toPath: repo + "/prefix.npz")
        // Model weights are not prefix files: the hook leaves them alone.
        try FileManager.default.copyItem(atPath: Self.fixture + "/base/model.safetensors", toPath: repo + "/model.safetensors")
        try Self.git(["init", "-q"], in: repo)
        try Self.git(["add", "."], in: repo)
        let good = try Self.run(["try-repo", Processes.repositoryRoot, "prefixkit-structure", "--all-files"], in: repo, home: home)
        #expect(good.status == 0 && good.stdout.contains("Passed"), "\(good.stdout)\(good.stderr)")
        try FileHandle(forUpdating: URL(fileURLWithPath: repo + "/adapters/good/adapter_model.safetensors")).truncate(atOffset: 100)
        try Self.git(["add", "."], in: repo)
        let bad = try Self.run(["try-repo", Processes.repositoryRoot, "prefixkit-structure", "--all-files"], in: repo, home: home)
        #expect(bad.status == 1 && bad.stdout.contains("Failed"), "\(bad.stdout)\(bad.stderr)")
        #expect(bad.stdout.contains("adapter_model.safetensors") && bad.stdout.contains("header claims"), "\(bad.stdout)")
    }

    @Test("prefixkit-check checks the store its args name: passes a sound one, fails a damaged blob")
    func check() throws {
        let dir = TemporaryDirectory()
        let repo = dir.path + "/repo", home = dir.path + "/home"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let store = dir.path + "/store"
        #expect(try Processes.prefixkit(["import", store, Self.fixture + "/base"]).status == 0)
        try Self.git(["init", "-q"], in: repo)
        let config = """
            repos:
              - repo: local
                hooks:
                  - id: prefixkit-check
                    name: prefixkit check (a store)
                    language: system
                    entry: prefixkit check --quick --no-record
                    pass_filenames: false
                    args: [\(store)]
            """
        // The hook's own definition, as the hooks file gives it.
        let hooks = try String(contentsOfFile: Processes.repositoryRoot + "/.pre-commit-hooks.yaml", encoding: .utf8)
        #expect(hooks.contains("- id: prefixkit-check") && hooks.contains("entry: prefixkit check --quick --no-record"))
        try config.write(toFile: repo + "/.pre-commit-config.yaml", atomically: true, encoding: .utf8)
        try Self.git(["add", "."], in: repo)
        let sound = try Self.run(["run", "prefixkit-check", "--all-files"], in: repo, home: home)
        #expect(sound.status == 0 && sound.stdout.contains("Passed"), "\(sound.stdout)\(sound.stderr)")
        let blob = try #require(FileManager.default.contentsOfDirectory(atPath: store + "/blobs").first)
        try FileHandle(forUpdating: URL(fileURLWithPath: store + "/blobs/" + blob)).truncate(atOffset: 1000)
        let damaged = try Self.run(["run", "prefixkit-check", "--all-files"], in: repo, home: home)
        #expect(damaged.status == 1 && damaged.stdout.contains("Failed") && damaged.stdout.contains("blob"), "\(damaged.stdout)")
    }
}
