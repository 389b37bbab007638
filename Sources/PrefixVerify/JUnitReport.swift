import Foundation
import PrefixReport

/// JUnit XML, as CI systems read it: a testsuite per checkpoint (plus one for the store), a
/// testcase per check per layer, with a `<failure>` that carries the message and the fix, and per
/// checkpoint a `verdict` testcase: passed with independent evidence, `<skipped>` when the
/// composition is unverified (a `<failure>` with `--require-reference`), failed otherwise.
public enum JUnitReport {
    /// The verdict of a checkpoint as a check, for the JUnit and HTML reports.
    static func verdictCheck(_ checkpoint: CheckpointVerification, requireReference: Bool) -> CheckResult {
        switch checkpoint.verdict {
        case .pass:
            return CheckResult(
                check: .verdict, status: .pass,
                message: "PASS: checked against \(checkpoint.evidence.source)\(checkpoint.evidence.tool.map { " (\($0))" } ?? "")",
                evidence: checkpoint.evidence.kind)
        case .unverified:
            let message = "UNVERIFIED: \(checkpoint.unverifiedReason ?? "no independent evidence")"
            return CheckResult(
                check: .verdict, status: requireReference ? .fail : .skip, message: message,
                fix: checkpoint.fix, evidence: checkpoint.evidence.kind)
        case .fail:
            return CheckResult(
                check: .verdict, status: .fail, message: "FAIL: \(checkpoint.diagnosis?.summary ?? "a check failed")",
                fix: checkpoint.fix, evidence: checkpoint.evidence.kind)
        }
    }

    /// The report as JUnit XML: one testsuite per checkpoint, one testcase per check, each named
    /// uniquely within its suite (`teacher-forced layer 3`, `round-trip[peft]`), with `time`
    /// where it was measured (each suite; per-layer checks and round trips), and a failure
    /// message that carries the checkpoint's diagnosis.
    public static func xml(_ report: VerificationReport) -> String {
        var suites: [String] = []
        func time(_ seconds: Double?) -> String { seconds.map { String(format: " time=\"%.6f\"", $0) } ?? "" }
        func testcase(_ check: CheckResult, name: String, classname: String, diagnosis: Diagnosis?) -> String {
            var body = "    <testcase classname=\"\(Markup.escape(classname))\" name=\"\(Markup.escape(name))\"\(time(check.seconds))>"
            switch check.status {
            case .fail:
                let message = check.message + (diagnosis.map { "; diagnosis: \($0.summary)" } ?? "")
                let detail = [
                    check.message, check.relativeError.map { "relative error \($0) (tolerance \(check.tolerance ?? .nan))" },
                    diagnosis.map { "diagnosis: \($0.summary)" }, (check.fix ?? diagnosis?.fix).map { "fix: \($0)" },
                ]
                .compactMap { $0 }.joined(separator: "\n")
                body += "<failure message=\"\(Markup.escape(message))\">\(Markup.escape(detail))</failure>"
            case .skip:
                body +=
                    check.fix.map { "<skipped message=\"\(Markup.escape(check.message))\">fix: \(Markup.escape($0))</skipped>" }
                    ?? "<skipped message=\"\(Markup.escape(check.message))\"/>"
            case .pass:
                body += "<system-out>\(Markup.escape(check.message))</system-out>"
            }
            return body + "</testcase>"
        }
        func suite(_ name: String, _ checks: [CheckResult], seconds: Double?, diagnosis: Diagnosis? = nil, extra: String = "") -> String {
            let failures = checks.filter { $0.status == .fail }.count, skipped = checks.filter { $0.status == .skip }.count
            let names = uniqueNames(checks)
            return
                "  <testsuite name=\"\(Markup.escape(name))\" tests=\"\(checks.count)\" failures=\"\(failures)\" skipped=\"\(skipped)\" errors=\"0\"\(time(seconds)) timestamp=\"\(Markup.escape(report.startedAt))\">\n"
                + zip(checks, names).map { testcase($0, name: $1, classname: name, diagnosis: diagnosis) }.joined(separator: "\n")
                + extra + "\n  </testsuite>"
        }
        suites.append(suite("store \(report.store)", report.catalog, seconds: report.timings["catalog"]))
        for checkpoint in report.checkpoints {
            let diagnosis =
                checkpoint.diagnosis.map { "\n    <system-err>\(Markup.escape("diagnosis: \($0.summary)\nfix: \($0.fix)"))</system-err>" }
                ?? ""
            suites.append(
                suite(
                    "checkpoint \(checkpoint.checkpoint)",
                    checkpoint.checks + [verdictCheck(checkpoint, requireReference: report.requireReference)], seconds: checkpoint.seconds,
                    diagnosis: checkpoint.diagnosis, extra: diagnosis))
        }
        let all = report.catalog + report.checkpoints.flatMap { $0.checks + [verdictCheck($0, requireReference: report.requireReference)] }
        let tests = all.count
        let failures = all.filter { $0.status == .fail }.count
        let total = report.timings["catalog"].map { $0 + report.checkpoints.compactMap(\.seconds).reduce(0, +) }
        return
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"prefixkit verify\" tests=\"\(tests)\" failures=\"\(failures)\"\(time(total))>\n"
            + suites.joined(separator: "\n") + "\n</testsuites>\n"
    }

    /// A name per check, unique among `checks`: the check, its subject in brackets, its place
    /// (`round-trip[peft]`, `teacher-forced layer 3`), and `#2`, `#3` for repeats.
    static func uniqueNames(_ checks: [CheckResult]) -> [String] {
        var seen: [String: Int] = [:]
        return checks.map { check in
            let base = check.check.rawValue + (check.subject.map { "[\($0)]" } ?? "") + (check.place.map { " \($0)" } ?? "")
            seen[base, default: 0] += 1
            return seen[base] == 1 ? base : "\(base) #\(seen[base] ?? 0)"
        }
    }
}
