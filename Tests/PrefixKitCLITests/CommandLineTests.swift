import Foundation
import PrefixKit
import TestSupport
import Testing

/// End-to-end runs of the built `prefixkit` binary: output and exit codes.
@Suite("prefixkit command line")
struct CommandLineTests {
    private func demoStore(_ dir: TemporaryDirectory, checkpoints: Int = 2) throws -> String {
        let store = dir.path + "/store"
        let result = try Processes.prefixkit([
            "demo", "--store", store, "--layers", "2", "--width", "8", "--heads", "2",
            "--prefix-length", "4", "--input-length", "6", "--checkpoints", "\(checkpoints)",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        return store
    }

    /// Asserts one `error: ...` line on stderr and the exit code.
    private func expectError(
        _ result: ProcessResult, status: Int32, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(result.status == status, "stderr: \(result.stderr)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("error: "), "stderr: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(text), "stderr: \(result.stderr)", sourceLocation: sourceLocation)
    }

    @Test("demo saves, reloads and reports a byte-exact round trip; a second run stores nothing twice")
    func demo() throws {
        let dir = TemporaryDirectory()
        let store = try demoStore(dir)
        let before = try Processes.prefixkit(["list", store, "-q", "demo"])
        #expect(before.stdout == "demo@1\ndemo@2\n", "\(before.stdout)")
        let again = try Processes.prefixkit([
            "demo", "--store", store, "--layers", "2", "--width", "8", "--heads", "2",
            "--prefix-length", "4", "--input-length", "6", "--checkpoints", "2",
        ])
        #expect(again.status == 0)
        #expect(again.stdout.contains("was already stored: nothing written"))
        // The same run again: the same steps are already there, and it says so.
        #expect(!again.stdout.contains("saved demo@"), "\(again.stdout)")
        #expect(again.stdout.contains("demo@2 is already stored with the same base and prefixes: nothing written"))
        #expect(again.stdout.contains("2 of 2 step(s) were already in the store, identical: this run added nothing"))
        let list = try Processes.prefixkit(["list", store, "-q", "demo"])
        #expect(list.stdout == "demo@1\ndemo@2\n", "\(list.stdout)")
        #expect(again.stdout.contains("byte-exact, every digest verified: OK"))
        // It says what it proved, what UNVERIFIED means there, and what to run next.
        #expect(again.stdout.contains("UNVERIFIED above means the last one reproduces a probe PrefixKit itself computed"))
        #expect(
            again.stdout.contains("  prefixkit verify \(Paths.resolved(store)) run1 --reference ref.npz --require-reference"),
            "\(again.stdout)")
        #expect(
            again.stdout.contains("hidden prefix bit-identical") && again.stdout.contains("keys/values bit-identical to the conversion"))
        #expect(again.stdout.contains("4 + 6 = 10 rows in, 10 out, keep the last 6"))

        // One more step than stored: only that one is new, on the stored one as parent.
        let longer = try Processes.prefixkit([
            "demo", "--store", store, "--layers", "2", "--width", "8", "--heads", "2",
            "--prefix-length", "4", "--input-length", "6", "--checkpoints", "3",
        ])
        #expect(longer.status == 0, "\(longer.stderr)")
        #expect(longer.stdout.contains("saved demo@3") && !longer.stdout.contains("saved demo@1"), "\(longer.stdout)")
        #expect(longer.stdout.contains("2 of 3 step(s) were already in the store, identical: this run added 1"))
        // Another seed: other content, so its steps go after the last stored one.
        let other = try Processes.prefixkit([
            "demo", "--store", store, "--layers", "2", "--width", "8", "--heads", "2",
            "--prefix-length", "4", "--input-length", "6", "--checkpoints", "1", "--seed", "7",
        ])
        #expect(other.status == 0, "\(other.stderr)")
        #expect(other.stdout.contains("saved demo@4"), "\(other.stdout)")
    }

    @Test("--version and --help succeed")
    func versionAndHelp() throws {
        let version = try Processes.prefixkit(["--version"])
        #expect(version.status == 0 && version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        let help = try Processes.prefixkit(["--help"])
        #expect(help.status == 0 && help.stdout.contains("Exit codes: 0 success"))
        for command in ["demo", "list", "inspect", "check", "gc", "delete", "init"] {
            let sub = try Processes.prefixkit([command, "--help"])
            #expect(sub.status == 0 && sub.stdout.contains("USAGE"), "\(command)")
        }
    }

    @Test("shell completions for bash, zsh and fish name every subcommand", arguments: ["bash", "zsh", "fish"])
    func completions(shell: String) throws {
        let result = try Processes.prefixkit(["--generate-completion-script", shell])
        #expect(result.status == 0, "\(result.stderr)")
        for command in ["import", "export", "convert", "verify", "diff", "list", "gc"] {
            #expect(result.stdout.contains(command), "\(shell): \(command)")
        }
    }

    @Test("usage errors exit 2: unknown command, missing argument, bad option value")
    func usageErrors() throws {
        #expect(try Processes.prefixkit(["frobnicate"]).status == 2)
        #expect(try Processes.prefixkit(["list"]).status == 2)
        #expect(try Processes.prefixkit(["demo", "--layers", "0"]).status == 2)
        #expect(try Processes.prefixkit(["demo", "--heads", "3", "--width", "8"]).status == 2)
        #expect(try Processes.prefixkit(["init", "/tmp/x-\(UUID())", "--compression", "zstd"]).status == 2)
    }

    @Test("an unknown checkpoint or base exits 2 and names it")
    func unknownReference() throws {
        let dir = TemporaryDirectory()
        let store = try demoStore(dir)
        expectError(try Processes.prefixkit(["inspect", store, "ghost@4"]), status: 2, mentioning: "ghost@4")
        expectError(try Processes.prefixkit(["delete", store, "base:0000000000"]), status: 2, mentioning: "base:0000000000")
    }

    @Test("a missing store, a non-store and a corrupt catalog exit 3 naming the file")
    func unreadableStores() throws {
        let dir = TemporaryDirectory()
        expectError(try Processes.prefixkit(["list", dir.path + "/missing"]), status: 3, mentioning: dir.path + "/missing")
        expectError(try Processes.prefixkit(["list", dir.path]), status: 3, mentioning: "no PrefixKit catalog")
        try FileManager.default.createDirectory(atPath: dir.path + "/bad", withIntermediateDirectories: true)
        try Data(repeating: 7, count: 2048).write(to: URL(fileURLWithPath: dir.path + "/bad/catalog.sqlite"))
        expectError(try Processes.prefixkit(["check", dir.path + "/bad"]), status: 3, mentioning: "catalog.sqlite")
    }

    @Test("check exits 1 on corruption and names the checkpoint, tensor and file")
    func checkFindsCorruption() throws {
        let dir = TemporaryDirectory()
        let store = try demoStore(dir)
        let ok = try Processes.prefixkit(["check", store])
        #expect(ok.status == 0 && ok.stdout.contains("OK"))
        // Flip one byte of demo@2's layer_01 (path and offset straight from the catalog).
        let row = try Processes.run(
            "/usr/bin/sqlite3",
            [
                store + "/catalog.sqlite",
                """
                SELECT b.path, t.file_offset FROM checkpoint c JOIN checkpoint_tensor ct ON ct.checkpoint_id = c.id
                JOIN tensor t ON t.id = ct.tensor_id JOIN blob b ON b.id = t.blob_id
                WHERE c.name = 'demo' AND c.step = 2 AND ct.name = 'layer_01'
                """,
            ]
        ).stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|")
        let path = store + "/" + row[0]
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.seek(toOffset: UInt64(row[1]) ?? 0)
        let byte = try handle.read(upToCount: 1) ?? Data([0])
        try handle.seek(toOffset: UInt64(row[1]) ?? 0)
        try handle.write(contentsOf: Data([byte[0] ^ 0x01]))
        try handle.close()
        let bad = try Processes.prefixkit(["check", store])
        #expect(bad.status == 1)
        #expect(
            bad.stdout.contains("[digest]") && bad.stdout.contains("layer_01") && bad.stdout.contains("demo@2") && bad.stdout.contains(path)
        )
        #expect(try Processes.prefixkit(["check", store, "--quick"]).status == 0)
    }

    @Test("delete refuses a parent without --cascade (exit 2) and removes it with it")
    func deleteCascade() throws {
        let dir = TemporaryDirectory()
        let store = try demoStore(dir)
        expectError(try Processes.prefixkit(["delete", store, "demo@1"]), status: 2, mentioning: "--cascade")
        let removed = try Processes.prefixkit(["delete", store, "demo@1", "--cascade"])
        #expect(removed.status == 0 && removed.stdout.contains("demo@1, demo@2"))
        // Left: the demo's re-imported exports, which have no parent.
        let left = try Processes.prefixkit(["list", store]).stdout
        #expect(
            left.contains("checkpoints (2)") && left.contains("demo-peft@0") && left.contains("demo-safetensors@0")
                && !left.contains("demo@"))
    }

    @Test("a writer blocked by another exits 3 after --lock-timeout")
    func lockedStore() throws {
        let dir = TemporaryDirectory()
        let store = try demoStore(dir)
        let holder = try Processes.holdLock(store + "/.lock", seconds: 30)
        defer { holder.terminate() }
        expectError(try Processes.prefixkit(["gc", store, "--lock-timeout", "0.2"]), status: 3, mentioning: "another writer")
        // Readers are not blocked.
        #expect(try Processes.prefixkit(["list", store]).status == 0)
    }

    @Test("list and inspect print what is stored")
    func listAndInspect() throws {
        let dir = TemporaryDirectory()
        let store = try demoStore(dir)
        let list = try Processes.prefixkit(["list", store])
        #expect(
            list.status == 0 && list.stdout.contains("demo@1") && list.stdout.contains("demo@2") && list.stdout.contains("gpt2 L=2 d=8 H=2")
        )
        let inspect = try Processes.prefixkit(["inspect", store, "demo"])
        #expect(inspect.status == 0)
        #expect(inspect.stdout.contains("checkpoint demo@2") && inspect.stdout.contains("parent       demo@1"))
        #expect(inspect.stdout.contains("prefix rows from 0, input rows from 4"))
        #expect(inspect.stdout.contains("layer_01") && inspect.stdout.contains("[4, 8]"))
        let summary = try Processes.prefixkit(["inspect", store])
        #expect(summary.stdout.contains("1 base(s), 4 checkpoint(s)"))
    }
}
