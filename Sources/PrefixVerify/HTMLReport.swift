import Foundation
import PrefixCore
import PrefixReport

/// A self-contained HTML page (no scripts, no external files): the verdicts and the evidence
/// they rest on first, then per checkpoint an SVG chart of every check's relative error per
/// layer (and end to end) against its tolerance on a log scale, and every check.
public enum HTMLReport {
    /// The report as one self-contained HTML page.
    public static func page(_ report: VerificationReport) -> String {
        let e = Markup.escape
        var body = """
            <h1>PrefixKit verification: \(badge(report.verdict))</h1>
            <p>Store <code>\(e(report.store))</code>, \(e(report.startedAt)), PrefixKit \(e(report.toolVersion))\(report.shard.map { ", shard \(e($0))" } ?? "").
            \(report.recorded ? "Recorded in the catalog." : e(report.recordNote ?? "Not recorded."))</p>
            \(summary(report))
            <h2>Store</h2>
            \(table(report.catalog))
            """
        for checkpoint in report.checkpoints {
            body += "<h2>\(e(checkpoint.checkpoint)): \(badge(checkpoint.verdict))</h2>"
            body += "<p class=evidence><b>Evidence:</b> \(e(evidenceText(checkpoint)))</p>"
            if let diagnosis = checkpoint.diagnosis {
                body += "<p class=diagnosis><b>Diagnosis:</b> \(e(diagnosis.summary))<br><b>Fix:</b> \(e(diagnosis.fix))</p>"
            }
            body += "<div class=chart>" + chart(checkpoint) + "</div>"
            body += table(checkpoint.checks + [JUnitReport.verdictCheck(checkpoint, requireReference: report.requireReference)])
        }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>PrefixKit verification</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
            table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; white-space: nowrap; }
            td.text { white-space: normal; min-width: 16em; }
            .pass { color: #1a7f37; font-weight: bold; } .fail { color: #cf222e; font-weight: bold; } .skip { color: #777; } .unverified { color: #9a6700; font-weight: bold; }
            .summary td { vertical-align: top; } .chart { margin: 1em 0; }
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
                "; recomputed in \(checkpoint.computeDType.rawValue), tolerances \(checkpoint.tolerances.perLayer) per layer, \(checkpoint.tolerances.endToEnd) end to end"
            if !evidence.layersUnchecked.isEmpty {
                text += "; layer(s) \(evidence.layersUnchecked.map(String.init).joined(separator: ", ")) not covered per layer"
            }
        }
        if let reason = checkpoint.unverifiedReason, checkpoint.verdict == .unverified { text += ". UNVERIFIED: \(reason)" }
        return text
    }

    static func table(_ checks: [CheckResult]) -> String {
        let e = Markup.escape
        let rows = checks.map { c in
            "<tr><td>\(e(c.check.rawValue))</td><td>\(c.section.map { $0.rawValue + " " } ?? "")\(c.layer.map(String.init) ?? "")</td><td class=\(c.status.rawValue)>\(c.status.rawValue)</td>"
                + "<td>\(c.rowsIn.map(String.init) ?? "")\(c.rowsOut.map { " -> \($0)" } ?? "")</td>"
                + "<td>\(c.maxAbsError.map { String(format: "%.2e", $0) } ?? "")</td><td>\(c.relativeError.map { String(format: "%.2e", $0) } ?? "")</td>"
                + "<td>\(c.tolerance.map { String(format: "%.0e", $0) } ?? "")</td><td class=text>\(e(c.message))\(c.fix.map { "<br><i>fix: \(e($0))</i>" } ?? "")</td></tr>"
        }.joined(separator: "\n")
        return
            "<table><tr><th>check</th><th>layer</th><th>verdict</th><th>rows</th><th>max abs</th><th>relative</th><th>tolerance</th><th>detail</th></tr>\n\(rows)</table>"
    }

    /// The verdict of every checkpoint and what it rests on, before any detail.
    static func summary(_ report: VerificationReport) -> String {
        let e = Markup.escape
        let rows = report.checkpoints.map { checkpoint in
            let evidence = checkpoint.evidence
            let layers =
                evidence.layersChecked.isEmpty && evidence.layersUnchecked.isEmpty
                ? "none per layer"
                : "\(evidence.layersChecked.count) checked, \(evidence.layersUnchecked.count) not"
            return
                "<tr><td>\(e(checkpoint.checkpoint))</td><td>\(badge(checkpoint.verdict))</td><td class=text>\(e(evidenceText(checkpoint)))</td><td>\(layers)</td><td>\(evidence.endToEndChecked ? "yes" : "no")</td></tr>"
        }.joined(separator: "\n")
        return
            "<table class=summary><tr><th>checkpoint</th><th>verdict</th><th>evidence</th><th>layers</th><th>end to end</th></tr>\n\(rows)</table>"
    }

    /// Every check with a relative error, per layer (teacher-forced, self-consistency, prefix
    /// rows...) and end to end (the last position), on a log scale from the data: exact zeros
    /// as their own symbol, layers no check measured marked with why, tolerances dashed, checks
    /// over their tolerance ringed in red.
    static func chart(_ checkpoint: CheckpointVerification) -> String {
        let measured = checkpoint.checks.filter { $0.relativeError != nil && $0.check != .verdict }
        let encoder = checkpoint.encoderLayerCount ?? 0
        let decoder = checkpoint.layerCount ?? ((measured.compactMap(\.layer).max() ?? -1) + 1)
        guard decoder > 0 || !measured.isEmpty else { return "" }
        func x(_ check: CheckResult) -> Double {
            guard let layer = check.layer else { return Double(encoder + decoder) }
            return Double(check.section == .encoder ? layer : encoder + layer)
        }
        var ticks = (0..<encoder).map { (x: Double($0), label: "e\($0)") }
        ticks += (0..<decoder).map { (x: Double(encoder + $0), label: encoder > 0 ? "d\($0)" : "\($0)") }
        ticks.append((x: Double(encoder + decoder), label: "end"))
        let palette = ["#0969da", "#8250df", "#1a7f37", "#bf8700", "#57606a", "#e16f24", "#116329"]
        let kinds = measured.map(\.check).reduce(into: [CheckKind]()) { if !$0.contains($1) { $0.append($1) } }
        var series = kinds.enumerated().map { i, kind in
            SVGChart.Series(
                name: kind.rawValue, color: palette[i % palette.count],
                points: measured.filter { $0.check == kind }.map { (x: x($0), y: $0.relativeError) }.sorted { $0.x < $1.x },
                joined: measured.contains { $0.check == kind && $0.layer != nil })
        }
        let failed = measured.filter { $0.status == .fail }
        if !failed.isEmpty {
            series.append(
                SVGChart.Series(
                    name: "over its tolerance", color: "#cf222e", points: failed.map { (x: x($0), y: $0.relativeError) }, joined: false,
                    overlay: true))
        }
        var chart = SVGChart(
            title: "\(checkpoint.checkpoint): relative error per layer and end to end",
            xLabel: encoder > 0 ? "layer (e: encoder, d: decoder)" : "layer",
            yLabel: "relative error", logarithmic: true, ticks: ticks, series: series)
        let perLayer = Set(measured.filter { $0.layer != nil }.compactMap(\.tolerance))
        let whole = Set(measured.filter { $0.layer == nil }.compactMap(\.tolerance))
        chart.thresholds =
            perLayer.sorted().map { SVGChart.Threshold(name: "tolerance per layer", y: $0, from: 0, to: Double(encoder + decoder) - 1) }
            + whole.sorted().map {
                SVGChart.Threshold(
                    name: "tolerance end to end", y: $0, from: Double(encoder + decoder) - 0.4, to: Double(encoder + decoder) + 0.4)
            }
        let covered = Set(measured.filter { $0.layer != nil }.map { x($0) })
        let skipped = Dictionary(
            checkpoint.checks.filter { $0.status == .skip && $0.layer != nil }.map { (x($0), $0.message) }, uniquingKeysWith: { a, _ in a })
        let why =
            checkpoint.evidence.kind == .selfConsistency
            ? "no reference: self-consistency end to end only" : "not checked per layer"
        chart.unmeasured = ticks.dropLast().filter { !covered.contains($0.x) }.map { tick in
            (x: tick.x, note: skipped[tick.x] ?? "layer \(tick.label): \(why)")
        }
        return chart.svg()
    }
}
