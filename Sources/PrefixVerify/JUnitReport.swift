import Foundation

/// JUnit XML, as CI systems read it: a testsuite per checkpoint (plus one for the store), a
/// testcase per check per layer, with a `<failure>` that carries the message and the fix.
public enum JUnitReport {
    public static func xml(_ report: VerificationReport) -> String {
        var suites: [String] = []
        func testcase(_ check: CheckResult, classname: String) -> String {
            let name = check.layer.map { "\(check.check) layer \($0)" } ?? check.check
            var body = "    <testcase classname=\"\(escape(classname))\" name=\"\(escape(name))\">"
            switch check.status {
            case .fail:
                let detail = [check.message, check.relativeError.map { "relative error \($0) (tolerance \(check.tolerance ?? .nan))" }, check.fix.map { "fix: \($0)" }]
                    .compactMap { $0 }.joined(separator: "\n")
                body += "<failure message=\"\(escape(check.message))\">\(escape(detail))</failure>"
            case .skip:
                body += "<skipped message=\"\(escape(check.message))\"/>"
            case .pass:
                body += "<system-out>\(escape(check.message))</system-out>"
            }
            return body + "</testcase>"
        }
        func suite(_ name: String, _ checks: [CheckResult], extra: String = "") -> String {
            let failures = checks.filter { $0.status == .fail }.count, skipped = checks.filter { $0.status == .skip }.count
            return "  <testsuite name=\"\(escape(name))\" tests=\"\(checks.count)\" failures=\"\(failures)\" skipped=\"\(skipped)\" errors=\"0\" timestamp=\"\(escape(report.startedAt))\">\n"
                + checks.map { testcase($0, classname: name) }.joined(separator: "\n") + extra + "\n  </testsuite>"
        }
        suites.append(suite("store \(report.store)", report.catalog))
        for checkpoint in report.checkpoints {
            let diagnosis = checkpoint.diagnosis.map { "\n    <system-err>\(escape("diagnosis: \($0.summary)\nfix: \($0.fix)"))</system-err>" } ?? ""
            suites.append(suite("checkpoint \(checkpoint.checkpoint)", checkpoint.checks, extra: diagnosis))
        }
        let tests = report.catalog.count + report.checkpoints.reduce(0) { $0 + $1.checks.count }
        let failures = (report.catalog + report.checkpoints.flatMap(\.checks)).filter { $0.status == .fail }.count
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"prefixkit verify\" tests=\"\(tests)\" failures=\"\(failures)\">\n"
            + suites.joined(separator: "\n") + "\n</testsuites>\n"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                // XML 1.0 forbids most control characters.
                if scalar.value < 0x20 && scalar != "\n" && scalar != "\t" && scalar != "\r" { out += "?" } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}
