import Foundation
import PrefixKit
import TestSupport
import Testing

/// Progress lines: off when stderr is not a terminal, forced with --progress, never with --quiet.
@Suite("Progress")
struct ProgressTests {
    static let fixture = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny"

    static func lines(_ text: String, _ prefix: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
    }

    @Test("import, check, export and verify report bytes of the real total, or stages and layers, when forced")
    func forced() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let imported = try Processes.prefixkit(["import", store, Self.fixture + "/base", "--progress"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let importing = Self.lines(imported.stderr, "importing [")
        // The last line is the whole: the total is the bytes to write, never 0 B.
        #expect(importing.last?.contains("100% ") == true && importing.last?.hasSuffix("/0 B") == false, "\(imported.stderr)")
        #expect(importing.allSatisfy { !$0.contains("/0 B") } && importing.count <= 4, "\(imported.stderr)")
        let check = try Processes.prefixkit(["check", store, "--progress"])
        #expect(Self.lines(check.stderr, "checking [").last?.contains("100%") == true, "\(check.stderr)")
        let bases = try Store.open(at: store).bases()
        let exported = try Processes.prefixkit([
            "export", store, bases[0].shortReference, "--format", "hf", "--out", dir.path + "/hf", "--progress",
        ])
        #expect(exported.status == 0 && Self.lines(exported.stderr, "exporting [").last?.contains("100%") == true, "\(exported.stderr)")
        #expect(try Processes.prefixkit(["import", store, Self.fixture + "/adapter", "--name", "ad", "--base-by-shape"]).status == 0)
        let verified = try Processes.prefixkit([
            "verify", store, "ad", "--reference", Self.fixture + "/expected.npz", "--no-record", "--progress",
        ])
        #expect(verified.status == 0, "\(verified.stderr)")
        let forward = try Processes.prefixkit([
            "forward", store, "ad", "--input", Self.fixture + "/expected.npz", "--progress", "--out", dir.path + "/o.npz",
        ])
        #expect(forward.status == 0 && Self.lines(forward.stderr, "forward layer ").last == "forward layer 2/2", "\(forward.stderr)")
        let stages = Self.lines(verified.stderr, "verifying ")
        #expect(stages.first == "verifying catalog and blobs", "\(stages)")
        #expect(stages.contains("verifying ad@0 (1/1): composition: layer 1/1"), "\(stages)")
        #expect(stages.last == "verifying ad@0 (1/1): round trip", "\(stages)")
    }

    @Test("gc counts the leftovers it removes and recover the manifests it settles, when forced")
    func gcAndRecover() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        #expect(try Processes.prefixkit(["import", store, Self.fixture + "/base"]).status == 0)
        for name in ["a", "b"] {
            let leftover = store + "/tmp/" + String(repeating: name, count: 32) + ".h5.partial"
            try Data(count: 10).write(to: URL(fileURLWithPath: leftover))
        }
        let gc = try Processes.prefixkit(["gc", store, "--progress"])
        #expect(gc.status == 0 && Self.lines(gc.stderr, "gc leftover ").last == "gc leftover 2/2", "\(gc.stderr)")
        let recovered = try Processes.prefixkit(["recover", store, "--progress"])
        #expect(
            recovered.status == 0 && Self.lines(recovered.stderr, "recovering ").last == "recovering manifest 1/1", "\(recovered.stderr)")
    }

    @Test("without a terminal nothing is drawn; --quiet with --progress is a usage error")
    func quiet() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let plain = try Processes.prefixkit(["import", store, Self.fixture + "/base"])
        #expect(plain.status == 0 && plain.stderr.isEmpty, "\(plain.stderr)")
        let quiet = try Processes.prefixkit(["check", store, "--quiet"])
        #expect(quiet.status == 0 && quiet.stderr.isEmpty, "\(quiet.stderr)")
        let both = try Processes.prefixkit(["check", store, "--quiet", "--progress"])
        #expect(both.status == 2 && both.stderr.contains("contradict"), "\(both.stderr)")
    }
}
