import Foundation
import PrefixCore
import PrefixReport

/// Self-contained HTML pages for diffs (inline SVG, no scripts, nothing fetched).
public enum DiffPage {
    /// Colours for one line per layer, cycled.
    static let palette = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    ]

    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(Markup.escape(title))</title>
        <style>body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.note{color:#8a5a00}</style>
        </head><body>
        \(body)
        </body></html>
        """
    }

    /// A line chart across the steps of one name per section and part: each layer's relative L2
    /// distance from the first step.
    public static func steps(_ diff: StepsDiff) -> String {
        var body = "<h1>How far each layer of \(Markup.escape(diff.name)) moved</h1>"
        body +=
            "<p>Steps \(diff.steps.map(String.init).joined(separator: ", ")); compared in \(diff.space == "kv" ? "key/value" : "hidden") space. Relative L2 distance ||a &minus; b|| / max(||a||, ||b||) of each stored layer from step \(diff.steps.first ?? 0).</p>"
        for note in diff.notes { body += "<p class=\"note\">\(Markup.escape(note))</p>" }
        let ticks = diff.steps.enumerated().map { (x: Double($0.offset), label: String($0.element)) }
        let groups = Dictionary(grouping: diff.tracks) { "\($0.section.rawValue) \($0.part)" }
        for key in groups.keys.sorted() {
            let tracks = (groups[key] ?? []).sorted { $0.layer < $1.layer }
            let series = tracks.enumerated().map { i, track in
                SVGChart.Series(
                    name: "layer \(track.layer)", color: palette[i % palette.count],
                    points: track.fromFirst.enumerated().map { (x: Double($0.offset), y: $0.element) }, dashed: i >= palette.count)
            }
            let chart = SVGChart(
                title: "\(diff.name): relative L2 distance from step \(diff.steps.first ?? 0), \(key)", xLabel: "step",
                yLabel: "relative L2 from step \(diff.steps.first ?? 0)", logarithmic: false, ticks: ticks, series: series)
            body += "<h2>\(Markup.escape(key))</h2>" + chart.svg()
        }
        body += "<h2>Step to step</h2><table><tr><th>section, part, layer</th>"
        body += diff.steps.dropFirst().map { "<th>step \($0)</th>" }.joined() + "</tr>"
        for track in diff.tracks {
            body += "<tr><td>\(track.section.rawValue) \(track.part) \(track.layer)</td>"
            body += track.fromPrevious.dropFirst().map { "<td>\($0.map(SVGChart.number) ?? "&ndash;")</td>" }.joined() + "</tr>"
        }
        return page(title: "prefixkit diff \(diff.name) --steps", body: body + "</table>")
    }

    /// Two checkpoints: each part's relative L2 distance per layer (log scale), and the table.
    public static func pair(_ diff: CheckpointDiff) -> String {
        var body = "<h1>\(Markup.escape(diff.a)) against \(Markup.escape(diff.b))</h1>"
        body +=
            "<p>Bases: \(diff.sameBase ? "the same (base:\(diff.baseA.prefix(12)))" : "different (base:\(diff.baseA.prefix(12)), base:\(diff.baseB.prefix(12)))"); compared in \(diff.space == "kv" ? "key/value" : "hidden") space.</p>"
        for note in diff.conversions + diff.notes { body += "<p class=\"note\">\(Markup.escape(note))</p>" }
        if !diff.layers.isEmpty {
            let groups = Dictionary(grouping: diff.layers) { "\($0.section.rawValue) \($0.part)" }
            let layerCount = (diff.layers.map(\.layer).max() ?? 0) + 1
            let series = groups.keys.sorted().enumerated().map { i, key in
                SVGChart.Series(
                    name: key, color: palette[i % palette.count],
                    points: (groups[key] ?? []).map { (x: Double($0.layer), y: $0.distance.relativeL2) })
            }
            let chart = SVGChart(
                title: "relative L2 distance per layer", xLabel: "stored layer", yLabel: "relative L2 distance", logarithmic: true,
                ticks: (0..<layerCount).map { (x: Double($0), label: String($0)) }, series: series)
            body += chart.svg()
        }
        body += "<table><tr><th>section</th><th>layer</th><th>part</th><th>max |a&minus;b|</th><th>relative L2</th><th>cosine</th></tr>"
        for item in diff.layers {
            let d = item.distance
            body +=
                "<tr><td>\(item.section.rawValue)</td><td>\(item.layer)</td><td>\(item.part)</td><td>\(SVGChart.number(d.maxAbs))</td><td>\(SVGChart.number(d.relativeL2))</td><td>\(d.cosine.map(SVGChart.number) ?? "&ndash;")</td></tr>"
        }
        return page(title: "prefixkit diff \(diff.a) \(diff.b)", body: body + "</table>")
    }
}
