import Foundation

/// A line chart drawn as inline SVG, for the HTML reports: labelled axes, a legend, a linear or
/// logarithmic value axis whose range follows the data, exact zeros drawn as their own symbol
/// (a log axis has no place for them), thresholds as dashed lines and positions where nothing
/// was measured marked on the axis. Its width grows with the number of positions.
public struct SVGChart: Sendable {
    /// One line of points.
    public struct Series: Sendable {
        /// The legend's name.
        public var name: String
        /// A CSS colour.
        public var color: String
        /// The points, in x order; a nil value leaves a gap.
        public var points: [(x: Double, y: Double?)]
        /// Drawn dashed.
        public var dashed: Bool
        /// Points joined by a line (else marks only).
        public var joined: Bool
        /// Marks drawn over another series' point at the same place (a ring around a failure):
        /// they follow that point where marks sharing a position are spread apart.
        public var overlay: Bool

        /// Creates a series.
        public init(
            name: String, color: String, points: [(x: Double, y: Double?)], dashed: Bool = false, joined: Bool = true,
            overlay: Bool = false
        ) {
            self.name = name
            self.color = color
            self.points = points
            self.dashed = dashed
            self.joined = joined
            self.overlay = overlay
        }
    }

    /// A horizontal line across the chart (a tolerance) or across part of it.
    public struct Threshold: Sendable {
        /// The legend's name.
        public var name: String
        /// The value.
        public var y: Double
        /// The x range it covers; the whole chart when nil.
        public var from: Double?, to: Double?

        /// Creates a threshold.
        public init(name: String, y: Double, from: Double? = nil, to: Double? = nil) {
            self.name = name
            self.y = y
            self.from = from
            self.to = to
        }
    }

    /// What the chart is of (its accessible name).
    public var title: String
    /// The x axis's title and the value axis's title.
    public var xLabel: String, yLabel: String
    /// A logarithmic value axis.
    public var logarithmic: Bool
    /// The positions along x and their labels.
    public var ticks: [(x: Double, label: String)]
    /// The lines.
    public var series: [Series]
    /// Dashed horizontal lines.
    public var thresholds: [Threshold] = []
    /// Positions where nothing was measured, marked on the x axis with the reason.
    public var unmeasured: [(x: Double, note: String)] = []

    /// Creates a chart.
    public init(
        title: String, xLabel: String, yLabel: String, logarithmic: Bool, ticks: [(x: Double, label: String)], series: [Series]
    ) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.logarithmic = logarithmic
        self.ticks = ticks
        self.series = series
    }

    /// The chart as an `<svg>` element.
    public func svg() -> String {
        let values = series.flatMap { $0.points.compactMap(\.y) }.filter(\.isFinite) + thresholds.map(\.y)
        let (lo, hi) = range(values)
        let xs = ticks.map(\.x) + series.flatMap { $0.points.map(\.x) } + unmeasured.map(\.x)
        let xMin = xs.min() ?? 0, xMax = max(xs.max() ?? 1, (xs.min() ?? 0) + 1)
        let left = 78.0, right = 16.0, top = 16.0, plotHeight = 220.0
        let plotWidth = max(480, min(1800, Double(max(ticks.count, 2)) * 36))
        // Legend columns as wide as the longest entry.
        let names =
            series.map(\.name) + thresholds.map(\.name) + (hasZeros ? ["exactly 0"] : []) + (unmeasured.isEmpty ? [] : ["not measured"])
        let column = max(140, Double(names.map(\.count).max() ?? 0) * 7.6 + 40)
        let columns = max(1, Int(plotWidth / column))
        let legendRows = Double((names.count + columns - 1) / columns)
        let width = left + plotWidth + right, height = top + plotHeight + 50 + legendRows * 22
        func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * plotWidth }
        func py(_ y: Double) -> Double {
            let v = logarithmic ? log10(max(y, pow(10, lo))) : y
            return top + plotHeight * (1 - (min(max(v, lo), hi) - lo) / (hi - lo))
        }
        let floorY = top + plotHeight
        var out =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(Markup.escape(title))\" font-family=\"sans-serif\" font-size=\"12\">"
        out += "<title>\(Markup.escape(title))</title>"
        // Value grid and labels.
        for tick in valueTicks(lo, hi) {
            let y = logarithmic ? top + plotHeight * (1 - (tick - lo) / (hi - lo)) : py(tick)
            out += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotWidth))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#e5e5e5\"/>"
            let label = logarithmic ? "1e\(Int(tick))" : Self.number(tick)
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(label)</text>"
        }
        out += "<line x1=\"\(f(left))\" x2=\"\(f(left))\" y1=\"\(f(top))\" y2=\"\(f(floorY))\" stroke=\"#555\"/>"
        out += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotWidth))\" y1=\"\(f(floorY))\" y2=\"\(f(floorY))\" stroke=\"#555\"/>"
        // Position labels, thinned to fit.
        let every = max(1, Int((Double(ticks.count) * 30 / plotWidth).rounded(.up)))
        for (i, tick) in ticks.enumerated() where i % every == 0 {
            out += "<text x=\"\(f(px(tick.x)))\" y=\"\(f(floorY + 14))\" text-anchor=\"middle\">\(Markup.escape(tick.label))</text>"
        }
        out +=
            "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(floorY + 30))\" text-anchor=\"middle\" font-weight=\"bold\">\(Markup.escape(xLabel))</text>"
        out +=
            "<text transform=\"translate(14 \(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\" font-weight=\"bold\">\(Markup.escape(yLabel))</text>"
        for threshold in thresholds {
            let y = py(threshold.y)
            out +=
                "<line x1=\"\(f(px(max(xMin, threshold.from ?? xMin))))\" x2=\"\(f(px(min(xMax, threshold.to ?? xMax))))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"#333\" stroke-dasharray=\"6 3\"><title>\(Markup.escape(threshold.name)): \(Self.number(threshold.y))</title></line>"
        }
        for mark in unmeasured {
            out +=
                "<text x=\"\(f(px(mark.x)))\" y=\"\(f(floorY - 4))\" text-anchor=\"middle\" fill=\"#888\" font-size=\"13\">×<title>\(Markup.escape(mark.note))</title></text>"
        }
        // Marks of unjoined series that share a position (the end-to-end checks at "end") are
        // spread apart so that none hides another; overlays follow the mark they ring.
        var spread: [Double: [Int]] = [:]
        for (index, line) in series.enumerated() where !line.joined && !line.overlay {
            for point in line.points where point.y != nil { spread[point.x, default: []].append(index) }
        }
        func markX(_ index: Int, _ point: (x: Double, y: Double?)) -> Double {
            var owner = index
            if series[index].overlay {
                owner =
                    spread[point.x]?.first { other in series[other].points.contains { $0.x == point.x && $0.y == point.y } } ?? index
            }
            guard let group = spread[point.x], group.count > 1, let slot = group.firstIndex(of: owner) else { return px(point.x) }
            return px(point.x) + (Double(slot) - Double(group.count - 1) / 2) * 11
        }
        for (index, line) in series.enumerated() {
            var path = "", pen = false
            for point in line.points {
                guard let y = point.y, y.isFinite, !(logarithmic && y <= 0) else {
                    pen = false
                    continue
                }
                path += "\(pen ? "L" : "M")\(f(px(point.x))) \(f(py(y))) "
                pen = true
            }
            if !path.isEmpty, line.joined {
                out +=
                    "<path d=\"\(path)\" fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"1.6\"\(line.dashed ? " stroke-dasharray=\"4 2\"" : "")/>"
            }
            for point in line.points {
                guard let y = point.y else { continue }
                let tip = "\(Markup.escape(line.name)) at \(Markup.escape(label(point.x))): \(y == 0 ? "exactly 0" : Self.number(y))"
                if logarithmic && y <= 0 {
                    // An exact zero: a hollow square on the floor.
                    out +=
                        "<rect x=\"\(f(markX(index, point) - 3.5))\" y=\"\(f(floorY - 7))\" width=\"7\" height=\"7\" fill=\"white\" stroke=\"\(line.color)\"><title>\(tip)</title></rect>"
                } else if y.isFinite {
                    out +=
                        "<circle cx=\"\(f(markX(index, point)))\" cy=\"\(f(py(y)))\" r=\"\(line.joined ? "2.6" : line.overlay ? "7" : "4.5")\" fill=\"\(line.joined ? line.color : "none")\" stroke=\"\(line.color)\" stroke-width=\"1.6\"><title>\(tip)</title></circle>"
                } else {
                    out +=
                        "<text x=\"\(f(px(point.x)))\" y=\"\(f(top + 8))\" text-anchor=\"middle\" fill=\"\(line.color)\">∞<title>\(tip)</title></text>"
                }
            }
        }
        // Legend.
        var entries: [(String, String)] = series.map {
            (
                $0.joined
                    ? "<line x1=\"0\" x2=\"16\" y1=\"-4\" y2=\"-4\" stroke=\"\($0.color)\" stroke-width=\"2\"\($0.dashed ? " stroke-dasharray=\"4 2\"" : "")/>"
                    : "<circle cx=\"8\" cy=\"-4\" r=\"\($0.overlay ? "6" : "4.5")\" fill=\"none\" stroke=\"\($0.color)\" stroke-width=\"1.6\"/>",
                $0.name
            )
        }
        entries += thresholds.map { ("<line x1=\"0\" x2=\"16\" y1=\"-4\" y2=\"-4\" stroke=\"#333\" stroke-dasharray=\"6 3\"/>", $0.name) }
        if hasZeros { entries.append(("<rect x=\"4\" y=\"-8\" width=\"7\" height=\"7\" fill=\"white\" stroke=\"#333\"/>", "exactly 0")) }
        if !unmeasured.isEmpty { entries.append(("<text x=\"4\" y=\"0\" fill=\"#888\" font-size=\"13\">×</text>", "not measured")) }
        for (i, entry) in entries.enumerated() {
            let x = left + Double(i % columns) * column, y = floorY + 56 + Double(i / columns) * 22
            out +=
                "<g transform=\"translate(\(f(x)) \(f(y)))\">\(entry.0)<text x=\"22\" y=\"0\" font-size=\"13\">\(Markup.escape(entry.1))</text></g>"
        }
        return out + "</svg>"
    }

    private var hasZeros: Bool { logarithmic && series.contains { $0.points.contains { $0.y == 0 } } }

    private func label(_ x: Double) -> String { ticks.first { $0.x == x }?.label ?? Self.number(x) }

    /// The value range: decades around the positive values on a log axis, else 0 to the largest.
    private func range(_ values: [Double]) -> (Double, Double) {
        if logarithmic {
            let positive = values.filter { $0 > 0 }
            guard let low = positive.min(), let high = positive.max() else { return (-3, 0) }
            // At least half a decade below the lowest value (a tolerance included), so that no
            // line or mark sits on the axis, where exact zeros are drawn.
            let lo = floor(log10(low) - 0.5) - (low == high ? 1 : 0), hi = max(ceil(log10(high)), lo + 1)
            return (lo, hi)
        }
        let low = min(0, values.min() ?? 0), high = max(values.max() ?? 1, low + 1e-12)
        return (low, high + (high - low) * 0.05)
    }

    private func valueTicks(_ lo: Double, _ hi: Double) -> [Double] {
        if logarithmic {
            let span = Int(hi - lo), step = max(1, span / 6)
            return stride(from: Int(lo), through: Int(hi), by: step).map(Double.init)
        }
        let raw = (hi - lo) / 5, magnitude = pow(10, floor(log10(raw))),
            step = ([1, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw }) ?? raw
        return stride(from: (lo / step).rounded(.up) * step, through: hi, by: step).map { $0 }
    }

    private func f(_ value: Double) -> String { String(format: "%.1f", value) }

    /// `1.2e-07`, `0.034`, `12`.
    public static func number(_ value: Double) -> String {
        if value == 0 { return "0" }
        if !value.isFinite { return value > 0 ? "inf" : "-inf" }
        let magnitude = abs(value)
        return magnitude >= 1e-3 && magnitude < 1e4 ? String(format: "%.4g", value) : String(format: "%.2e", value)
    }
}
