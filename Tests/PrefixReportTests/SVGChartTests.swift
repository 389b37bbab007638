import Foundation
import PrefixReport
import Testing

@Suite("SVG charts")
struct SVGChartTests {
    static func chart(_ values: [Double?], logarithmic: Bool = true) -> SVGChart {
        var chart = SVGChart(
            title: "t <&>", xLabel: "layer", yLabel: "relative error", logarithmic: logarithmic,
            ticks: values.indices.map { (x: Double($0), label: "L\($0)") },
            series: [
                SVGChart.Series(
                    name: "teacher-forced", color: "#123456", points: values.enumerated().map { (x: Double($0.offset), y: $0.element) })
            ])
        chart.thresholds = [SVGChart.Threshold(name: "tolerance", y: 1e-6)]
        return chart
    }

    @Test("axes are titled, text is escaped, exact zeros get their own symbol and unmeasured positions a mark")
    func parts() {
        var chart = Self.chart([1e-9, 0, 3e-8, nil])
        chart.unmeasured = [(x: 3, note: "layer 3: not checked")]
        let svg = chart.svg()
        #expect(svg.contains(">layer<") && svg.contains(">relative error<") && svg.contains("t &lt;&amp;&gt;"))
        #expect(svg.contains("exactly 0") && svg.contains("<rect") && svg.contains("layer 3: not checked") && svg.contains("not measured"))
        #expect(svg.contains("stroke-dasharray=\"6 3\"") && svg.contains(">tolerance<"))
        // The range follows the data: decades from 1e-9 to the tolerance, not a fixed 1e-16 floor.
        #expect(svg.contains(">1e-9<") && !svg.contains(">1e-16<"))
    }

    @Test("the width grows with the positions")
    func width() {
        func width(_ svg: String) -> Int? {
            guard let range = svg.range(of: "width=\"") else { return nil }
            return Int(svg[range.upperBound...].prefix { $0.isNumber })
        }
        let small = width(Self.chart([1e-3, 1e-4]).svg()) ?? 0
        let large = width(Self.chart(Array(repeating: 1e-3, count: 48)).svg()) ?? 0
        #expect(small > 0 && large > small)
    }

    @Test("number formatting")
    func numbers() {
        #expect(SVGChart.number(0) == "0" && SVGChart.number(0.5) == "0.5" && SVGChart.number(1.5e-9) == "1.50e-09")
        #expect(SVGChart.number(.infinity) == "inf")
    }

    /// The `cx` of every circle, in drawing order.
    static func circleXs(_ svg: String) -> [Double] {
        svg.components(separatedBy: "<circle cx=\"").dropFirst().compactMap { Double($0.prefix { $0 != "\"" }) }
    }

    @Test("marks sharing a position are spread apart; a ring follows the mark it rings")
    func spreadMarks() throws {
        var chart = Self.chart([1e-9, 1e-8])
        chart.series += [
            SVGChart.Series(name: "end-to-end", color: "#1a7f37", points: [(x: 2, y: 1e-3)], joined: false),
            SVGChart.Series(name: "logits", color: "#bf8700", points: [(x: 2, y: 2e-3)], joined: false),
            SVGChart.Series(name: "over its tolerance", color: "#cf222e", points: [(x: 2, y: 2e-3)], joined: false, overlay: true),
        ]
        chart.ticks.append((x: 2, label: "end"))
        let xs = Self.circleXs(chart.svg())
        try #require(xs.count >= 5)  // the data marks first, then the legend's
        let (end, logits, ring) = (xs[2], xs[3], xs[4])
        #expect(abs(end - logits) >= 10, "\(xs)")
        #expect(ring == logits, "\(xs)")
        #expect(chart.svg().contains("r=\"7\""))
    }

    @Test("the lowest value or tolerance is never on the axis floor")
    func floorMargin() {
        var chart = Self.chart([1e-10, 1e-11])
        chart.thresholds = [SVGChart.Threshold(name: "tolerance per layer", y: 1e-12)]
        let svg = chart.svg()
        // The axis goes a decade below the 1e-12 tolerance, where exact zeros sit.
        #expect(svg.contains(">1e-13<") && !svg.contains(">1e-14<"), "\(svg)")
    }

    @Test("legend text is readable: 13px, rows 22px apart")
    func legend() {
        let svg = Self.chart([1e-9, 1e-8]).svg()
        #expect(svg.contains("font-size=\"13\">teacher-forced</text>"))
    }
}
