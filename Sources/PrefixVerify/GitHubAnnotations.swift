import Foundation
import PrefixCore

/// A verification as GitHub Actions workflow commands (`::error title=...::message`), which the
/// runner turns into annotations on the workflow run: one error per failed check (catalog and per
/// checkpoint), one per diagnosis, and a warning per checkpoint whose composition is UNVERIFIED
/// (an error when `--require-reference` makes that a failure). Passing checks print nothing.
///
/// Values are escaped as the runner expects: `%`, carriage returns and newlines in the message;
/// also `:` and `,` in properties. Everything else (names from a store someone else wrote)
/// passes through the terminal escaper first.
public enum GitHubAnnotations {
    /// The workflow command lines, in report order.
    public static func lines(_ report: VerificationReport) -> [String] {
        var lines: [String] = []
        for check in report.catalog where check.status == .fail {
            lines.append(command("error", title: "prefixkit verify: \(check.check)", message: check.message))
        }
        for checkpoint in report.checkpoints {
            let name = checkpoint.checkpoint
            for check in checkpoint.checks where check.status == .fail {
                let place = check.place.map { " " + $0 } ?? ""
                var message = check.message
                if let fix = check.fix { message += "\nfix: \(fix)" }
                lines.append(command("error", title: "prefixkit verify \(name): \(check.check)\(place)", message: message))
            }
            if let diagnosis = checkpoint.diagnosis {
                lines.append(
                    command(
                        "error", title: "prefixkit verify \(name): \(diagnosis.bug.rawValue)",
                        message: "\(diagnosis.summary)\nfix: \(diagnosis.fix)"))
            }
            if checkpoint.verdict == .unverified {
                lines.append(
                    command(
                        report.requireReference ? "error" : "warning", title: "prefixkit verify \(name): UNVERIFIED",
                        message:
                            "\(checkpoint.unverifiedReason ?? "no independent evidence"): the composition was not checked against an independent reference"
                    ))
            }
        }
        return lines
    }

    /// One workflow command.
    static func command(_ kind: String, title: String, message: String) -> String {
        "::\(kind) title=\(property(title))::\(data(message))"
    }

    /// A command's message: `%`, `\r` and `\n` escaped.
    static func data(_ text: String) -> String {
        TerminalText.escapeLines(text).replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D")
            .replacingOccurrences(of: "\n", with: "%0A")
    }

    /// A command's property value: as ``data(_:)``, and `:` and `,`.
    static func property(_ text: String) -> String {
        data(text).replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C")
    }
}
