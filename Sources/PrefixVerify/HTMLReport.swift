import Foundation

/// A self-contained HTML page (no scripts, no external files) with every check and, per
/// checkpoint, an SVG chart of each layer's relative error against its tolerance on a log scale.
public enum HTMLReport {
    /// The report as one self-contained HTML page.
    public static func page(_ report: VerificationReport) -> String {
        let e = JUnitReport.escape
        var body = """
            <h1>PrefixKit verification: \(badge(report.verdict))</h1>
            <p>Store <code>\(e(report.store))</code>, \(e(report.startedAt)), PrefixKit \(e(report.toolVersion))\(report.shard.map { ", shard \(e($0))" } ?? "").
            \(report.recorded ? "Recorded in the catalog." : e(report.recordNote ?? "Not recorded."))</p>
            \(table(report.catalog))
            """
        for checkpoint in report.checkpoints {
            body += "<h2>\(e(checkpoint.checkpoint)): \(badge(checkpoint.verdict))</h2>"
            body += "<p class=evidence><b>Evidence:</b> \(e(evidenceText(checkpoint)))</p>"
            if let diagnosis = checkpoint.diagnosis {
                body += "<p class=diagnosis><b>Diagnosis:</b> \(e(diagnosis.summary))<br><b>Fix:</b> \(e(diagnosis.fix))</p>"
            }
            body += chart(checkpoint)
            body += table(checkpoint.checks + [JUnitReport.verdictCheck(checkpoint, requireReference: report.requireReference)])
        }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>PrefixKit verification</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
            table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
            .pass { color: #1a7f37; font-weight: bold; } .fail { color: #cf222e; font-weight: bold; } .skip { color: #777; } .unverified { color: #9a6700; font-weight: bold; }
            .evidence { background: #f6f8fa; padding: .6em; border-left: 4px solid #8c959f; }
            .diagnosis { background: #fff4e5; padding: .6em; border-left: 4px solid #d97706; }
            code { background: #f3f3f3; padding: 0 3px; }
            </style></head><body>
            \(body)
            </body></html>
            """
    }

    static func badge(_ verdict: Verdict) -> String {
        "<span class=\(verdict.rawValue)>\(verdict.label)</span>"
    }

    /// What the composition was checked against, in a sentence.
    static func evidenceText(_ checkpoint: CheckpointVerification) -> String {
        let evidence = checkpoint.evidence
        var text: String
        switch evidence.kind {
        case .independentReference:
            text = "independent reference: \(evidence.source)\(evidence.tool.map { ", computed by \($0)" } ?? ", tool not recorded")"
        case .sameEngine:
            text = "\(evidence.source), computed by PrefixKit itself (\(evidence.tool ?? "prefixkit")): not independent"
        case .selfConsistency:
            text = "no reference: self-consistency only (PrefixKit in f32 against itself in f64)"
        case .integrity, .structure, .roundTrip:
            text = "structure only: the composition was not checked"
        }
        if evidence.kind == .independentReference || evidence.kind == .sameEngine {
            text +=
                "; recomputed in \(checkpoint.computeDType), tolerances \(checkpoint.tolerances.perLayer) per layer, \(checkpoint.tolerances.endToEnd) end to end"
            if !evidence.layersUnchecked.isEmpty {
                text += "; layer(s) \(evidence.layersUnchecked.map(String.init).joined(separator: ", ")) not covered per layer"
            }
        }
        if let reason = checkpoint.unverifiedReason, checkpoint.verdict == .unverified { text += ". UNVERIFIED: \(reason)" }
        return text
    }

    static func table(_ checks: [CheckResult]) -> String {
        let e = JUnitReport.escape
        let rows = checks.map { c in
            "<tr><td>\(e(c.check))</td><td>\(c.section.map { $0 + " " } ?? "")\(c.layer.map(String.init) ?? "")</td><td class=\(c.status.rawValue)>\(c.status.rawValue)</td>"
                + "<td>\(c.rowsIn.map(String.init) ?? "")\(c.rowsOut.map { " -> \($0)" } ?? "")</td>"
                + "<td>\(c.maxAbsError.map { String(format: "%.2e", $0) } ?? "")</td><td>\(c.relativeError.map { String(format: "%.2e", $0) } ?? "")</td>"
                + "<td>\(c.tolerance.map { String(format: "%.0e", $0) } ?? "")</td><td>\(e(c.message))\(c.fix.map { "<br><i>fix: \(e($0))</i>" } ?? "")</td></tr>"
        }.joined(separator: "\n")
        return
            "<table><tr><th>check</th><th>layer</th><th>verdict</th><th>rows</th><th>max abs</th><th>relative</th><th>tolerance</th><th>detail</th></tr>\n\(rows)</table>"
    }

    /// Per-layer relative errors of the teacher-forced (or self-consistency) checks, log scale,
    /// with the tolerance as a dashed line.
    static func chart(_ checkpoint: CheckpointVerification) -> String {
        let points = checkpoint.checks.filter { ($0.check == "teacher-forced" || $0.check == "self-consistency") && $0.layer != nil }
        guard !points.isEmpty else { return "" }
        let width = 640.0, height = 220.0, left = 60.0, bottom = 30.0
        let lo = -16.0, hi = 1.0
        func y(_ value: Double) -> Double {
            let v = max(lo, min(hi, log10(max(value, 1e-16))))
            return (height - bottom) * (1 - (v - lo) / (hi - lo)) + 5
        }
        let step = (width - left - 10) / Double(points.count)
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"relative error per layer\">"
        for exponent in stride(from: -16, through: 0, by: 4) {
            let yy = y(pow(10, Double(exponent)))
            svg +=
                "<line x1=\"\(left)\" x2=\"\(width - 10)\" y1=\"\(yy)\" y2=\"\(yy)\" stroke=\"#eee\"/><text x=\"4\" y=\"\(yy + 4)\" font-size=\"11\">1e\(exponent)</text>"
        }
        for (i, point) in points.enumerated() {
            let x = left + Double(i) * step + step * 0.15
            let value = point.relativeError ?? 1
            let top = y(value)
            let color = point.status == .pass ? "#1a7f37" : "#cf222e"
            svg +=
                "<rect x=\"\(x)\" y=\"\(top)\" width=\"\(step * 0.7)\" height=\"\(max(1, height - bottom - top))\" fill=\"\(color)\"><title>layer \(point.layer ?? 0): \(String(format: "%.2e", value))</title></rect>"
            let label = (point.section.map { String($0.prefix(1)) } ?? "") + "\(point.layer ?? 0)"
            svg += "<text x=\"\(x)\" y=\"\(height - 12)\" font-size=\"11\">\(label)</text>"
            if let tolerance = point.tolerance {
                let ty = y(tolerance)
                svg +=
                    "<line x1=\"\(x - step * 0.1)\" x2=\"\(x + step * 0.8)\" y1=\"\(ty)\" y2=\"\(ty)\" stroke=\"#333\" stroke-dasharray=\"4 2\"/>"
            }
        }
        svg += "<text x=\"\(left)\" y=\"\(height - 1)\" font-size=\"11\">layer (bars: relative error, dashed: tolerance)</text></svg>"
        return svg
    }
}
