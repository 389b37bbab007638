import Foundation
import TestSupport
import Testing

/// The help text of every command is part of the user contract: changes must be deliberate.
/// Re-record with `RECORD_SNAPSHOTS=1 swift test --filter HelpSnapshotTests`.
@Suite("Help text snapshots")
struct HelpSnapshotTests {
    static let commands = [
        "", "demo", "init", "import", "export", "convert", "list", "inspect", "check", "gc", "delete", "forward", "kv", "verify",
        "reference", "diff", "recover",
        "probe", "probe add",
    ]

    @Test("help text matches the recorded snapshot", arguments: commands)
    func help(command: String) throws {
        let result = try Processes.prefixkit(
            command.split(separator: " ").map(String.init) + ["--help"], environment: ["COLUMNS": "80"])
        #expect(result.status == 0)
        let file =
            Processes.repositoryRoot
            + "/Tests/PrefixKitCLITests/Snapshots/help-\(command.isEmpty ? "prefixkit" : command.replacingOccurrences(of: " ", with: "-")).txt"
        if ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] != nil {
            try result.stdout.write(toFile: file, atomically: true, encoding: .utf8)
            return
        }
        let recorded = try String(contentsOfFile: file, encoding: .utf8)
        #expect(result.stdout == recorded, "help for '\(command)' changed; re-record with RECORD_SNAPSHOTS=1")
    }
}
