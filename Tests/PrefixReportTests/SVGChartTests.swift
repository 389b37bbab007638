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
}
