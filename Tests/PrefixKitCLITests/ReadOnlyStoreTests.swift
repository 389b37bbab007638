import Foundation
import PrefixKit
import TestSupport
import Testing

/// A store is readable by anyone who can read its files: another user while a writer works, a
/// read-only mount, a full disk; readers see the old or the new state, never a mix.
@Suite("Reading a store you cannot write", .serialized)
struct ReadOnlyStoreTests {
    static let isRoot = getuid() == 0
    /// Runs `prefixkit` as the unprivileged user `nobody`.
    static func asNobody(_ arguments: [String]) throws -> ProcessResult {
        try Processes.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", Processes.prefixkit] + arguments)
    }

    static func demo(_ path: String, checkpoints: Int = 2) throws {
        let run = try Processes.prefixkit([
            "demo", "--store", path, "--layers", "2", "--width", "8", "--heads", "2",
            "--checkpoints", "\(checkpoints)", "--input-length", "4",
        ])
        #expect(run.status == 0, "\(run.stderr)")
    }

    /// A directory `nobody` can enter and read.
    static func readableDirectory() throws -> TemporaryDirectory {
        let dir = TemporaryDirectory()
        #expect(chmod(dir.path, 0o755) == 0)
        return dir
    }

    @Test(
        "writers leave the catalog readable without write access: list, inspect, check, verify and export work as another user",
        .enabled(if: isRoot, "needs root to run a command as another user"))
    func anotherUser() throws {
        let dir = try Self.readableDirectory()
        let store = dir.path + "/s"
        try Self.demo(store)
        let out = dir.path + "/out"
        #expect(mkdir(out, 0o777) == 0 && chmod(out, 0o777) == 0)
        for command in [
            ["list", store], ["inspect", store, "demo"], ["check", store], ["check", store, "--quick"],
            ["verify", store, "demo", "--round-trip", "none"], ["export", store, "demo", "--format", "npz", "--out", out + "/p.npz"],
        ] {
            let run = try Self.asNobody(command)
            #expect(run.status == 0, "\(command): \(run.stdout)\(run.stderr)")
        }
        let verify = try Self.asNobody(["verify", store, "demo", "--round-trip", "none"])
        #expect(verify.stdout.contains("the store is read-only (no write permission): the result was not recorded"), "\(verify.stdout)")
        let write = try Self.asNobody(["delete", store, "demo@1"])
        #expect(write.status == 3 && write.stderr.contains("the store cannot be written: no write permission"), "\(write.stderr)")
    }

    @Test(
        "a reader without write access, while saves and deletes run, always sees a whole state and check finds no damage",
        .enabled(if: isRoot, "needs root to run a command as another user"))
    func concurrentReaders() throws {
        let dir = try Self.readableDirectory()
        let store = dir.path + "/s"
        try Self.demo(store, checkpoints: 1)
        let adapter = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny"
        #expect(try Processes.prefixkit(["import", store, adapter + "/base"]).status == 0)
        let writer = try Processes.run(
            "/bin/sh",
            [
                "-c",
                """
                for i in $(seq 1 12); do
                  "$0" import "$1" "$2/adapter" --name run --step $i --base-by-shape >/dev/null || exit 1
                  [ $((i % 3)) -eq 0 ] && { "$0" delete "$1" run@$((i - 1)) >/dev/null || exit 1; }
                done
                """, Processes.prefixkit, store, adapter,
            ], environment: [:], input: nil, background: true)
        var reads = 0
        while writer.isRunning || reads < 6 {
            for command in [["list", store, "--json"], ["check", store, "--quick"]] {
                let run = try Self.asNobody(command)
                #expect(run.status == 0, "\(command) while writing: \(run.stdout)\(run.stderr)")
                reads += 1
            }
        }
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 0)
        #expect(try Processes.prefixkit(["check", store]).status == 0)
    }

    @Test(
        "a read-only mount and a full disk: every reading command works; a writer says why it cannot write",
        .enabled(if: isRoot, "needs root to mount a small tmpfs"))
    func readOnlyMountAndFullDisk() throws {
        let mount = try Self.readableDirectory()
        guard try Processes.run("/bin/mount", ["-t", "tmpfs", "-o", "size=100m", "tmpfs", mount.path]).status == 0 else { return }
        defer { _ = try? Processes.run("/bin/umount", [mount.path]) }
        let store = mount.path + "/s"
        try Self.demo(store)
        let readers = [
            ["list", store], ["inspect", store, "demo"], ["check", store], ["verify", store, "demo", "--round-trip", "none"],
        ]
        #expect(try Processes.run("/bin/mount", ["-o", "remount,ro", mount.path]).status == 0)
        for command in readers {
            let run = try Processes.prefixkit(command)
            #expect(run.status == 0, "read-only mount, \(command): \(run.stdout)\(run.stderr)")
        }
        let delete = try Processes.prefixkit(["delete", store, "demo@1"])
        #expect(delete.status == 3 && delete.stderr.contains("the file system is read-only"), "\(delete.stderr)")
        #expect(try Processes.run("/bin/mount", ["-o", "remount,rw", mount.path]).status == 0)
        _ = try Processes.run("/bin/dd", ["if=/dev/zero", "of=\(mount.path)/fill", "bs=1M"])
        for command in readers {
            let run = try Processes.prefixkit(command)
            #expect(run.status == 0, "full disk, \(command): \(run.stdout)\(run.stderr)")
        }
        let full = try Processes.prefixkit(["delete", store, "demo@1"])
        #expect(full.status == 3 && full.stderr.contains("the disk is full"), "\(full.stderr)")
        let save = try Processes.prefixkit(["import", store, Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny/base"])
        #expect(save.status == 3 && save.stderr.contains("disk"), "\(save.stderr)")
    }
}
