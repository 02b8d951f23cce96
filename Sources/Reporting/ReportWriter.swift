import DICOMIO
import Foundation
import ImageQuality

/// Writes OUT/report.html (self-contained: images as data URIs, charts as inline SVG, no script),
/// OUT/report.json (docs/report-schema.md) and OUT/slices.csv, each atomically.
public enum ReportWriter {
    public static func write(_ report: DoseReport, pictures: [ReportPicture], to folder: String) throws -> [String] {
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw ReportError.writeFailed(file: folder, reason: error.localizedDescription)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let paths = ["report.json", "slices.csv", "report.html"].map { (folder as NSString).appendingPathComponent($0) }
        do {
            try AtomicFile.write(try encoder.encode(report), to: paths[0])
            try AtomicFile.write(Data(csv(report).utf8), to: paths[1])
            try AtomicFile.write(Data(html(report, pictures: pictures).utf8), to: paths[2])
        } catch let e as ReportError {
            throw e
        } catch {
            throw ReportError.writeFailed(file: folder, reason: "\(error)")
        }
        return paths
    }

    // MARK: CSV

    public static let csvColumns = [
        "series", "lowSOPInstanceUID", "restoredSOPInstanceUID", "normalSOPInstanceUID", "position_mm",
        "psnrLow", "psnrRestored", "ssimLow", "ssimRestored", "rmseLow", "rmseRestored",
        "noiseLow", "noiseRestored", "noiseNormal", "huShiftRestoredVsLow", "huBiasLow", "huBiasRestored",
        "cnrLow", "cnrRestored", "cnrNormal",
    ] + TissueClass.allCases.flatMap { ["diceLow_\($0.name)", "diceRestored_\($0.name)"] } + ["strength", "removedNoise"]

    public static func csv(_ report: DoseReport) -> String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.6g", $0) } ?? "" }
        var out = csvColumns.map { $0.replacingOccurrences(of: " ", with: "_").replacingOccurrences(of: "/", with: "_") }
            .joined(separator: ",") + "\n"
        for s in report.slices {
            var cells = [String(s.seriesIndex), s.lowSOPInstanceUID, s.restoredSOPInstanceUID, s.normalSOPInstanceUID ?? "", f(s.position),
                         f(s.psnrLow), f(s.psnrRestored), f(s.ssimLow), f(s.ssimRestored), f(s.rmseLow), f(s.rmseRestored),
                         f(s.noiseLow), f(s.noiseRestored), f(s.noiseNormal), f(s.huShiftRestoredVsLow), f(s.huBiasLow),
                         f(s.huBiasRestored), f(s.cnrLow), f(s.cnrRestored), f(s.cnrNormal)]
            for t in TissueClass.allCases { cells += [f(s.diceLow?[t.name]), f(s.diceRestored?[t.name])] }
            cells += [f(s.strength), f(s.removedNoise)]
            out += cells.joined(separator: ",") + "\n"
        }
        return out
    }

    // MARK: HTML

    static func esc(_ s: String) -> String { LineChart.esc(s) }

    static func n(_ v: Double?, _ format: String = "%.1f", unit: String = "") -> String {
        guard let v, v.isFinite else { return "—" }
        return String(format: format, v) + unit
    }

    static let css = """
        body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2327;background:#f4f5f7;margin:0}
        main{max-width:1180px;margin:0 auto;padding:24px}
        h1{font-size:24px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;border-bottom:1px solid #d5d8dc;padding-bottom:4px}
        h3{font-size:16px;margin:20px 0 8px}.sub{color:#5f6b76;margin:0 0 16px}
        .cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(210px,1fr));gap:12px;margin:12px 0}
        .card{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08);border-left:5px solid #8a96a3}
        .card.good{border-left-color:#2e8b57}.card.warn{border-left-color:#d08b00}.card.bad{border-left-color:#c0392b}
        .card .k{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#5f6b76}
        .card .v{font-size:21px;font-weight:600;margin:2px 0}.card .d{font-size:13px;color:#3d4750}
        table{border-collapse:collapse;background:#fff;margin:8px 0;font-variant-numeric:tabular-nums}
        th,td{padding:5px 10px;border-bottom:1px solid #e3e6e8;text-align:right}th:first-child,td:first-child{text-align:left}
        th{background:#eef0f2;font-weight:600}
        figure{margin:10px 0;background:#111;padding:8px;border-radius:6px;display:block;max-width:100%}
        figure img{width:100%;height:auto;display:block}
        figcaption{color:#e8e8e8;font-size:13px;padding:6px 2px 0;display:flex;justify-content:space-around;gap:8px}
        .charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{background:#fff;border-radius:6px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
        details{margin:10px 0}summary{cursor:pointer;font-weight:600}
        .conv{background:#fff;padding:10px 16px;border-radius:6px}.conv dt{font-weight:600;margin-top:6px}.conv dd{margin:2px 0 4px 0}
        .note{color:#5f6b76;font-size:13px}code{font-size:13px}
        """

    public static func html(_ report: DoseReport, pictures: [ReportPicture]) -> String {
        var h = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
            <title>LowDoseCT dose report</title><style>\(css)</style></head><body><main>
            <h1>What the denoiser did to this study</h1>
            <p class="sub">LowDoseCT dose-comparison report · \(report.series.count) series · \(report.slices.count) slice(s) compared · generated \(esc(report.generated))</p>

            """
        if let p = report.pairing {
            h += "<p class=\"sub\">Pairing with normal dose (--pair-by \(esc(p.mode))): \(esc(p.summary)).</p>"
            for w in p.warnings { h += "<div class=\"cards\">" + card("Check the inputs", "swapped?", esc(w), "bad") + "</div>" }
        }
        for (k, s) in report.series.enumerated() {
            h += seriesSection(s, index: k, report: report, pictures: pictures.filter { $0.seriesIndex == k })
        }
        h += conventionsSection(report.conventions)
        h += sliceTable(report)
        if !report.unpaired.isEmpty || !report.skipped.isEmpty {
            h += "<h2>Files not compared</h2><details><summary>\(report.unpaired.count) unpaired slice(s), \(report.skipped.count) skipped file(s)</summary><table><tr><th>file</th><th>reason</th></tr>"
            for r in (report.unpaired + report.skipped).prefix(500) { h += "<tr><td><code>\(esc(r.file))</code></td><td style=\"text-align:left\">\(esc(r.reason))</td></tr>" }
            h += "</table></details>"
        }
        h += "<p class=\"note\">Numbers are also in report.json (schema: docs/report-schema.md) and slices.csv. This page carries no patient name or ID.</p></main></body></html>\n"
        return h
    }

    static func card(_ key: String, _ value: String, _ detail: String, _ tone: String = "") -> String {
        "<div class=\"card \(tone)\"><div class=\"k\">\(esc(key))</div><div class=\"v\">\(value)</div><div class=\"d\">\(detail)</div></div>"
    }

    static func seriesSection(_ s: SeriesReport, index: Int, report: DoseReport, pictures: [ReportPicture]) -> String {
        var h = "<h2>Series \(index + 1): \(esc(s.description.isEmpty ? "(no description)" : s.description))</h2>"
        let facts = [s.convolutionKernel.map { "kernel \(esc($0))" }, s.sliceThickness.map { String(format: "%.2g mm slices", $0) },
                     "\(s.columns)×\(s.rows)", "\(s.slices) slice(s) compared", s.slicesWithNormal > 0 ? "\(s.slicesWithNormal) with normal dose" : "no normal dose"]
        h += "<p class=\"sub\">\(facts.compactMap { $0 }.joined(separator: " · "))</p>"
        if let r = s.restoration { h += "<p class=\"sub\">Restored: \(esc(r))</p>" }
        if let r = s.strengthRange, r.count == 2, r[0] != r[1] || r[0] != 1 {
            // `auto` gives each slice its own α: say how far it ranged (per slice in the table and chart).
            h += "<p class=\"sub\">" + (r[0] == r[1] ? String(format: "Strength %.2f on every slice", r[0])
                : String(format: "Strength per slice %.2f–%.2f (from the noise the network removed; per slice below)", r[0], r[1])) + "</p>"
        }
        h += "<div class=\"cards\">"
        // Noise.
        if let a = s.noiseLow, let b = s.noiseRestored, a > 0 {
            h += card("Noise σ (uniform tissue)", String(format: "%.1f → %.1f HU", a, b),
                      String(format: "%+.0f %% noise", (b / a - 1) * 100) + (s.noiseNormal.map { String(format: "; normal dose %.1f HU", $0) } ?? ""),
                      b < a ? "good" : "warn")
        }
        // HU accuracy.
        if let shift = s.huShiftRestoredVsLow {
            let ok = abs(shift) <= 2
            var detail = ok ? "within ±2 HU: CT numbers kept" : "beyond ±2 HU: check CT numbers before quantitative use"
            if let b = s.huBiasRestored, let a = s.huBiasLow { detail += String(format: "; vs normal dose: low %+.1f, restored %+.1f HU", a, b) }
            h += card("Soft-tissue HU shift", String(format: "%+.2f HU", shift), detail, ok ? "good" : "bad")
        }
        // Against normal dose.
        if let pl = s.psnrLow, let pr = s.psnrRestored {
            h += card("Against normal dose", String(format: "%.2f → %.2f dB", pl, pr),
                      String(format: "PSNR; SSIM %.3f → %.3f; RMSE %.1f → %.1f HU", s.ssimLow ?? .nan, s.ssimRestored ?? .nan,
                             s.rmseLow ?? .nan, s.rmseRestored ?? .nan), pr >= pl ? "good" : "bad")
        }
        // Texture.
        if let fl = s.nps.low?.meanFrequency, let fr = s.nps.restored?.meanFrequency, fl > 0 {
            let ratio = fr / fl
            let tone = ratio < 0.6 ? "warn" : "good"
            let detail = (ratio < 0.6 ? "noise texture much coarser: look for a smooth, “plastic” appearance" : "noise texture kept reasonably fine")
                + (s.nps.normal.map { String(format: "; normal dose %.2f", $0.meanFrequency) } ?? "")
            h += card("NPS mean frequency", String(format: "%.2f → %.2f mm⁻¹", fl, fr), detail, tone)
        }
        // Dose.
        let fromNoise = s.doseRatioFromNoise.map { String(format: "the noise suggests ≈ %.0f %% of the normal dose (estimate)", $0 * 100) }
        if s.doseTagsIdentical == true {
            h += card("Dose", fromNoise.map { _ in String(format: "≈ %.0f %%", (s.doseRatioFromNoise ?? 0) * 100) } ?? "unknown",
                      "identical dose tags on both series: the headers cannot tell the dose" + (fromNoise.map { "; \($0)" } ?? ""), "warn")
        } else if let ctdi = s.doseLow.ctdiVolMGy {
            var detail = s.doseRatio.map { String(format: "%.0f %% of the normal-dose scan", $0 * 100) } ?? "normal dose unknown"
            if let r = s.tubeCurrentRangeLow { detail += String(format: "; mean over slices, mA %.0f–%.0f (modulated)", r[0], r[1]) }
            if let f = fromNoise { detail += "; \(f)" }
            if let e = s.equivalentCTDIvolMGy, let f = s.equivalentDoseFactor {
                detail += String(format: "; restored noise ≈ %.2f mGy (×%.1f), an estimate", e, f)
            }
            h += card("Dose (CTDIvol)", String(format: "%.2f mGy", ctdi), detail)
        } else if let f = s.equivalentDoseFactor {
            h += card("Equivalent dose", String(format: "×%.1f", f), "restored noise corresponds to this multiple of the scan's dose (estimate)")
        }
        h += "</div>"
        for note in s.doseNotes { h += "<p class=\"note\">Dose: \(esc(note)).</p>" }
        // Dose and technique table (the normal-dose column only when a normal-dose series was compared).
        let nd = s.doseNormal
        let hasNormal = s.slicesWithNormal > 0
        func row(_ label: String, _ cells: [String]) -> String {
            "<tr><td>\(label)</td>" + cells.enumerated().filter { hasNormal || $0.offset != 1 }.map { "<td>\($0.element)</td>" }.joined() + "</tr>"
        }
        h += "<h3>Dose and technique</h3><table>" + row("", ["<b>low dose</b>", "<b>normal dose</b>", "<b>restored (estimate)</b>"])
            .replacingOccurrences(of: "<td>", with: "<th>").replacingOccurrences(of: "</td>", with: "</th>")
        h += row("kVp", [n(s.doseLow.kvp, "%.0f"), n(nd?.kvp, "%.0f"), n(s.doseLow.kvp, "%.0f")])
        func mA(_ mean: Double?, _ range: [Double]?) -> String {
            guard let r = range else { return n(mean, "%.0f") }
            return String(format: "%.0f–%.0f (modulated; mean %.0f)", r[0], r[1], mean ?? .nan)
        }
        h += row("tube current (mA)", [mA(s.doseLow.tubeCurrentMA, s.tubeCurrentRangeLow), mA(nd?.tubeCurrentMA, s.tubeCurrentRangeNormal), "—"])
        h += row("exposure (mAs)", [n(s.doseLow.exposureMAs, "%.0f"), n(nd?.exposureMAs, "%.0f"), "—"])
        let copied = s.doseTagsIdentical == true ? " (tag as in normal dose)" : ""
        h += row("CTDIvol (mGy)", [n(s.doseLow.ctdiVolMGy, "%.2f") + copied, n(nd?.ctdiVolMGy, "%.2f"), n(s.equivalentCTDIvolMGy, "%.2f")])
        h += row("DLP (mGy·cm)", [n(s.doseLow.dlpMGyCm, "%.1f"), n(nd?.dlpMGyCm, "%.1f"), "—"])
        if hasNormal {
            if s.doseTagsIdentical == true {
                h += row("dose ratio to normal (headers)", ["not stated: identical tags", "—", "—"])
            } else {
                h += row("dose ratio to normal (headers)", [n(s.doseRatio.map { $0 * 100 }, "%.0f", unit: " %"), "100 %",
                                                            n(s.doseRatio.flatMap { r in s.equivalentDoseFactor.map { r * $0 * 100 } }, "%.0f", unit: " %")])
            }
            h += row("dose ratio from noise (estimate)", [n(s.doseRatioFromNoise.map { $0 * 100 }, "%.0f", unit: " %"), "100 %",
                                                          n(s.doseRatioFromNoise.flatMap { r in s.equivalentDoseFactor.map { r * $0 * 100 } }, "%.0f", unit: " %")])
        }
        h += row("dose factor (σ low / σ)²", ["1", "—", n(s.equivalentDoseFactor, "%.1f")]) + "</table>"
        // Quality table.
        h += "<h3>Image quality</h3><table>" + row("<b>measure</b>", ["<b>low dose</b>", "<b>normal dose</b>", "<b>restored</b>"])
            .replacingOccurrences(of: "<td>", with: "<th>").replacingOccurrences(of: "</td>", with: "</th>")
        if hasNormal {
            h += row("PSNR vs normal (dB)", [n(s.psnrLow, "%.2f"), "—", n(s.psnrRestored, "%.2f")])
            h += row("SSIM vs normal", [n(s.ssimLow, "%.4f"), "—", n(s.ssimRestored, "%.4f")])
            h += row("RMSE vs normal (HU)", [n(s.rmseLow), "—", n(s.rmseRestored)])
        }
        h += row("noise σ (HU)", [n(s.noiseLow), n(s.noiseNormal), n(s.noiseRestored)])
        h += row("soft-tissue HU shift from low dose", ["0", "—", n(s.huShiftRestoredVsLow, "%+.2f")])
        if hasNormal { h += row("soft-tissue HU bias vs normal", [n(s.huBiasLow, "%+.2f"), "0", n(s.huBiasRestored, "%+.2f")]) }
        h += row("CNR soft tissue / fat", [n(s.cnrLow, "%.2f"), n(s.cnrNormal, "%.2f"), n(s.cnrRestored, "%.2f")])
        h += row("NPS mean frequency (mm⁻¹)", [n(s.nps.low?.meanFrequency, "%.3f"), n(s.nps.normal?.meanFrequency, "%.3f"), n(s.nps.restored?.meanFrequency, "%.3f")])
        if hasNormal {
            for t in TissueClass.allCases {
                h += row("Dice vs normal, \(t.name)", [n(s.diceLow?[t.name], "%.3f"), "1", n(s.diceRestored?[t.name], "%.3f")])
            }
        }
        h += "</table>"
        // Pictures.
        let bySlice = Dictionary(grouping: pictures, by: \.sliceIndex).sorted { $0.key < $1.key }
        if !bySlice.isEmpty { h += "<h3>Representative slices</h3>" }
        for (slice, pics) in bySlice {
            for (j, p) in pics.enumerated() {
                let figure = "<figure><img alt=\"slice \(slice + 1), \(esc(p.window.label))\" src=\"\(PNG.dataURI(p.png))\"><figcaption>"
                    + p.captions.map { "<span>\(esc($0))</span>" }.joined() + "</figcaption></figure>"
                let title = p.window.name == "difference" ? "slice \(slice + 1): difference" : "slice \(slice + 1), \(p.window.label)"
                if j == 0 {
                    h += "<p class=\"note\">\(esc(title))</p>" + figure
                } else {
                    h += "<details><summary>\(esc(title))</summary>\(figure)</details>"
                }
            }
        }
        // Charts.
        let rows = report.slices.filter { $0.seriesIndex == index }
        let xs = rows.enumerated().map { Double($0.offset + 1) }
        func line(_ name: String, _ color: String, _ key: KeyPath<SliceReport, Double?>, dashed: Bool = false) -> LineChart.Series? {
            let pts = zip(xs, rows).compactMap { x, r in r[keyPath: key].map { (x: x, y: $0) } }
            return pts.isEmpty ? nil : LineChart.Series(name: name, color: color, points: pts, dashed: dashed)
        }
        h += "<h3>Per slice and noise power</h3><div class=\"charts\">"
        let psnr = [line("low dose", "#c0392b", \.psnrLow), line("restored", "#1f6fb2", \.psnrRestored)].compactMap { $0 }
        if !psnr.isEmpty { h += LineChart(title: "PSNR against normal dose", xLabel: "slice", yLabel: "dB", series: psnr).svg() }
        let ssim = [line("low dose", "#c0392b", \.ssimLow), line("restored", "#1f6fb2", \.ssimRestored)].compactMap { $0 }
        if !ssim.isEmpty { h += LineChart(title: "SSIM against normal dose", xLabel: "slice", yLabel: "SSIM", series: ssim).svg() }
        let noise = [line("low dose", "#c0392b", \.noiseLow), line("restored", "#1f6fb2", \.noiseRestored),
                     line("normal dose", "#555", \.noiseNormal, dashed: true)].compactMap { $0 }
        if !noise.isEmpty { h += LineChart(title: "Noise σ in uniform tissue", xLabel: "slice", yLabel: "HU", series: noise).svg() }
        var nps: [LineChart.Series] = []
        for (name, color, spec, dashed) in [("low dose", "#c0392b", s.nps.low, false), ("restored", "#1f6fb2", s.nps.restored, false),
                                            ("normal dose", "#555", s.nps.normal, true)] {
            if let spec { nps.append(LineChart.Series(name: name, color: color, points: zip(spec.frequencies, spec.power).map { (x: $0, y: $1) }, dashed: dashed)) }
        }
        if !nps.isEmpty { h += LineChart(title: "Noise power spectrum (radial)", xLabel: "spatial frequency (mm⁻¹)", yLabel: "HU²·mm²", series: nps).svg() }
        if let r = s.strengthRange, r.count == 2, r[0] != r[1], let alpha = line("strength α", "#1f6fb2", \.strength) {
            h += LineChart(title: "Restoration strength per slice", xLabel: "slice", yLabel: "α", series: [alpha]).svg()
        }
        if s.tubeCurrentRangeLow != nil || s.tubeCurrentRangeNormal != nil {
            let mA = [line("low dose", "#c0392b", \.tubeCurrentLowMA), line("normal dose", "#555", \.tubeCurrentNormalMA, dashed: true)].compactMap { $0 }
            if !mA.isEmpty { h += LineChart(title: "Tube current per slice (as the headers state it)", xLabel: "slice", yLabel: "mA", series: mA).svg() }
        }
        h += "</div>"
        return h
    }

    static func conventionsSection(_ c: ReportConventions) -> String {
        let items: [(String, String)] = [("PSNR", c.psnr), ("SSIM", c.ssim), ("RMSE", c.rmse), ("Noise σ", c.noise), ("HU bias / shift", c.huBias),
                                         ("CNR", c.cnr), ("Noise power spectrum", c.nps), ("Dice", c.dice), ("Dose from noise", c.doseFromNoise), ("Equivalent dose", c.equivalentDose)]
        return "<h2>How the numbers are computed</h2><dl class=\"conv\">" + items.map { "<dt>\(esc($0.0))</dt><dd>\(esc($0.1))</dd>" }.joined() + "</dl>"
    }

    static func sliceTable(_ report: DoseReport) -> String {
        var h = "<h2>Per slice</h2><details><summary>\(report.slices.count) slice(s)</summary><table><tr><th>series</th><th>position (mm)</th><th>PSNR low</th><th>PSNR restored</th><th>SSIM low</th><th>SSIM restored</th><th>σ low</th><th>σ restored</th><th>HU shift</th><th>strength</th></tr>"
        for s in report.slices {
            h += "<tr><td>\(s.seriesIndex + 1)</td><td>\(n(s.position, "%.1f"))</td><td>\(n(s.psnrLow, "%.2f"))</td><td>\(n(s.psnrRestored, "%.2f"))</td><td>\(n(s.ssimLow, "%.4f"))</td><td>\(n(s.ssimRestored, "%.4f"))</td><td>\(n(s.noiseLow))</td><td>\(n(s.noiseRestored))</td><td>\(n(s.huShiftRestoredVsLow, "%+.2f"))</td><td>\(n(s.strength, "%.2f"))</td></tr>"
        }
        return h + "</table></details>"
    }
}
