import Foundation
import TestSupport
import Testing

/// `prefixkit verify STORE NAME [--reference FILE] --json --no-record`, read back.
enum VerifyRun {
    /// The exit status, the one checkpoint's report, and the JSON as printed.
    static func checkpoint(_ store: String, _ name: String, reference: String?) throws -> (
        status: Int32, report: [String: Any], json: String
    ) {
        let run = try Processes.prefixkit(
            ["verify", store, name, "--json", "--no-record"] + (reference.map { ["--reference", $0] } ?? []))
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let checkpoint = try #require((object?["checkpoints"] as? [[String: Any]])?.first, "\(run.stdout)\(run.stderr)")
        return (run.status, checkpoint, run.stdout)
    }
}
