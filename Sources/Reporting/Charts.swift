import Foundation

/// Small self-contained SVG line charts (no script, no external fonts), for reports.
public struct LineChart {
    public struct Series {
        public var name: String
        public var color: String
        public var points: [(x: Double, y: Double)]
        public var dashed = false
        public init(name: String, color: String, points: [(x: Double, y: Double)], dashed: Bool = false) {
            self.name = name
            self.color = color
            self.points = points
            self.dashed = dashed
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var width = 560.0
    public var height = 300.0
    public var logY = false

    public init(title: String, xLabel: String, yLabel: String, series: [Series], logY: Bool = false) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.logY = logY
    }

    /// Text → HTML/SVG text and attribute content (the one escape the report uses).
    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// "Nice" tick values covering [lo, hi].
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        var t = ceil(lo / step) * step
        var out: [Double] = []
        while t <= hi + step * 1e-9 {
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return out
    }

    static func format(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1000 || abs(v) < 0.01 { return String(format: "%.2g", v) }
        if v == v.rounded() { return String(format: "%.0f", v) }
        return String(format: "%.3g", v)
    }

    public func svg() -> String {
        let left = 64.0, right = 16.0, top = 34.0, bottom = 62.0
        let pw = width - left - right, ph = height - top - bottom
        let transform: (Double) -> Double = logY ? { log10(max($0, 1e-12)) } : { $0 }
        let all = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite && (!logY || $0.y > 0) }
        var x0 = all.map(\.x).min() ?? 0, x1 = all.map(\.x).max() ?? 1
        var y0 = all.map { transform($0.y) }.min() ?? 0, y1 = all.map { transform($0.y) }.max() ?? 1
        if x1 <= x0 { x1 = x0 + 1 }
        if y1 <= y0 { y0 -= 0.5; y1 += 0.5 }
        let pad = (y1 - y0) * 0.08
        y0 -= pad
        y1 += pad
        if !logY, y0 > 0, y0 < (y1 - y0) * 0.3 { y0 = 0 }
        if x0 < 0 && all.allSatisfy({ $0.x >= 0 }) { x0 = 0 }
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * pw }
        func py(_ y: Double) -> Double { top + (1 - (transform(y) - y0) / (y1 - y0)) * ph }
        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(Int(width)) \(Int(height))" width="\(Int(width))" height="\(Int(height))" font-family="system-ui, sans-serif" font-size="12" role="img" aria-label="\(LineChart.esc(title))">
            <rect width="100%" height="100%" fill="#fff"/>
            <text x="\(left)" y="20" font-size="14" font-weight="600" fill="#222">\(LineChart.esc(title))</text>

            """
        // Grid and ticks.
        let yt: [Double] = logY ? (Int(floor(y0))...Int(ceil(y1))).map { pow(10, Double($0)) } : LineChart.ticks(y0, y1)
        for t in yt where transform(t) >= y0 && transform(t) <= y1 {
            let y = py(t)
            s += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(left + pw)\" y2=\"\(y)\" stroke=\"#e5e5e5\"/>"
            s += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\" fill=\"#555\">\(LineChart.format(t))</text>\n"
        }
        for t in LineChart.ticks(x0, x1) where t >= x0 && t <= x1 {
            let x = px(t)
            s += "<line x1=\"\(x)\" y1=\"\(top + ph)\" x2=\"\(x)\" y2=\"\(top + ph + 4)\" stroke=\"#888\"/>"
            s += "<text x=\"\(x)\" y=\"\(top + ph + 18)\" text-anchor=\"middle\" fill=\"#555\">\(LineChart.format(t))</text>\n"
        }
        s += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"none\" stroke=\"#888\"/>\n"
        s += "<text x=\"\(left + pw / 2)\" y=\"\(height - 26)\" text-anchor=\"middle\" fill=\"#333\">\(LineChart.esc(xLabel))</text>\n"
        s += "<text transform=\"translate(14 \(top + ph / 2)) rotate(-90)\" text-anchor=\"middle\" fill=\"#333\">\(LineChart.esc(yLabel))</text>\n"
        // Lines.
        for line in series {
            let pts = line.points.filter { $0.x.isFinite && $0.y.isFinite && (!logY || $0.y > 0) }
            guard !pts.isEmpty else { continue }
            let d = pts.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
            let dash = line.dashed ? " stroke-dasharray=\"5 4\"" : ""
            s += "<polyline points=\"\(d)\" fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\"\(dash)/>\n"
            if pts.count <= 40 {
                for p in pts { s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%@\"/>", px(p.x), py(p.y), line.color) }
                s += "\n"
            }
        }
        // Legend below the axis label.
        var lx = left
        for line in series where !line.name.isEmpty {  // an unnamed series (a guide line) has no entry
            let dash = line.dashed ? " stroke-dasharray=\"5 4\"" : ""
            s += "<line x1=\"\(lx)\" y1=\"\(height - 8)\" x2=\"\(lx + 22)\" y2=\"\(height - 8)\" stroke=\"\(line.color)\" stroke-width=\"2\"\(dash)/>"
            s += "<text x=\"\(lx + 27)\" y=\"\(height - 4)\" fill=\"#333\">\(LineChart.esc(line.name))</text>\n"
            lx += 40 + Double(line.name.count) * 6.6
        }
        s += "</svg>"
        return s
    }
}
