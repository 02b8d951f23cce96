import DICOMIO
import Foundation
import ImageQuality

/// The conventions every number of a report is computed in, written next to the numbers.
public struct ReportConventions: Codable, Sendable, Equatable {
    public var psnr = "PSNR = 10·log10(400² / MSE) on HU clipped to [−160, 240] (data range 400); equals scikit-image peak_signal_noise_ratio(data_range=400) on the clipped images"
    public var ssim = "SSIM on HU clipped to [−160, 240], data range 400, 11×11 Gaussian window σ 1.5, K1 0.01, K2 0.03, population covariance; equals scikit-image structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=400)"
    public var rmse = "RMSE in HU over every pixel (no clipping)"
    public var clipLow = -160.0
    public var clipHigh = 240.0
    public var dataRange = 400.0
    public var noise = "σ: root-mean-square of the standard deviations inside up to 6 automatically found uniform soft-tissue squares (side rows/32, at least 16 px; 8 px below 128², mean −20…150 HU in the low-dose image, flat by the spread of their 4×4 sub-block means — at most twice the third-lowest score — and spread over the image rather than the very flattest, which would favour squares whose noise happens to be low); the same squares for low, restored and normal dose"
    public var huBias = "mean HU difference over soft-tissue pixels (−20…300 HU in the low-dose image smoothed by a 5×5 box, eroded by 2 pixels so class boundaries stay out; padding excluded)"
    public var cnr = "|mean(soft tissue) − mean(fat)| / σ, tissue masks from the smoothed low-dose image, eroded by 2 pixels (skin against air would otherwise read as fat)"
    public var nps = "radial noise power spectrum of the uniform squares (means removed), HU²·mm², rings of width 1/(side·spacing); mean frequency = Σ f·NPS / Σ NPS over the 2-D spectrum"
    public var dice = "Dice 2|A∩B|/(|A|+|B|) of tissue classes (" + TissueClass.thresholdsLabel + ") between restored (or low) and normal dose, padding excluded"
    public var doseFromNoise = "dose ratio from noise = (σ normal / σ low)², σ in the same uniform squares: an estimate that assumes quantum noise ∝ 1/√dose, the same kernel and slice thickness on both sides and no other noise; used when the headers cannot tell the dose (identical dose tags on both sides, as in copied headers)"
    public var equivalentDose = "equivalent dose of the restored image = dose of the low-dose scan × (σ low / σ restored)²: assumes quantum noise ∝ 1/√dose with the same kernel, slice thickness and patient; a denoiser changes noise texture too, so this is an indication, not a dose"

    public init() {}
}

/// Per-slice numbers. Values against normal dose are absent when no normal-dose partner exists.
public struct SliceReport: Codable, Sendable, Equatable {
    public var seriesIndex: Int
    public var lowSOPInstanceUID: String
    public var restoredSOPInstanceUID: String
    public var normalSOPInstanceUID: String?
    /// Position along the slice normal (mm), when the header has one.
    public var position: Double?
    public var psnrLow: Double?
    public var psnrRestored: Double?
    public var ssimLow: Double?
    public var ssimRestored: Double?
    public var rmseLow: Double?
    public var rmseRestored: Double?
    public var noiseLow: Double?
    public var noiseRestored: Double?
    public var noiseNormal: Double?
    /// Mean (restored − low) over soft tissue, HU.
    public var huShiftRestoredVsLow: Double?
    /// Mean (low − normal) and (restored − normal) over soft tissue, HU.
    public var huBiasLow: Double?
    public var huBiasRestored: Double?
    public var cnrLow: Double?
    public var cnrRestored: Double?
    public var cnrNormal: Double?
    /// Dice against normal dose per tissue class (keys: TissueClass names).
    public var diceLow: [String: Double]?
    public var diceRestored: [String: Double]?
    /// Uniform squares used for noise and NPS on this slice.
    public var uniformRegions: Int
    /// X-Ray Tube Current (mA) the low- and normal-dose headers state for this slice (it varies
    /// along z under tube-current modulation).
    public var tubeCurrentLowMA: Double? = nil
    public var tubeCurrentNormalMA: Double? = nil
    /// Strength α the restore gave this slice and the noise (HU) its network removed, from the
    /// restored file's Image Comments (`auto` varies α from slice to slice); nil when the restored
    /// file was not written by LowDoseCT.
    public var strength: Double? = nil
    public var removedNoise: Double? = nil
}

/// Dose and technique of one series, as its headers state them.
public struct SeriesDose: Codable, Sendable, Equatable {
    public var kvp: Double?
    public var tubeCurrentMA: Double?
    public var exposureMAs: Double?
    public var ctdiVolMGy: Double?
    public var dlpMGyCm: Double?

    public init(_ d: DoseInfo) {
        kvp = d.kvp
        tubeCurrentMA = d.tubeCurrentMA
        exposureMAs = d.exposureMAs
        ctdiVolMGy = d.ctdiVolMGy
        dlpMGyCm = d.dlpMGyCm
    }
}

public struct SpectrumSet: Codable, Sendable, Equatable {
    public var low: NoisePowerSpectrum?
    public var restored: NoisePowerSpectrum?
    public var normal: NoisePowerSpectrum?
}

/// Per-series summary: means over slices (σ as root-mean-square), doses, spectra.
public struct SeriesReport: Codable, Sendable, Equatable {
    public var lowSeriesUID: String
    public var restoredSeriesUID: String?
    public var normalSeriesUID: String?
    public var description: String
    /// What was done to the restored series: its Derivation Description (model, fingerprint,
    /// strength), as the restore wrote it; nil when it has none.
    public var restoration: String? = nil
    /// [min, max] of the per-slice strengths when the slices carry them (see SliceReport.strength).
    public var strengthRange: [Double]? = nil
    public var convolutionKernel: String?
    public var sliceThickness: Double?
    public var pixelSpacing: [Double]?
    public var rows: Int
    public var columns: Int
    public var slices: Int
    public var slicesWithNormal: Int
    public var doseLow: SeriesDose
    public var doseNormal: SeriesDose?
    /// CTDIvol ratio low / normal (else mAs ratio), when both are known and the tags differ; nil
    /// when both sides carry identical dose tags (see `doseTagsIdentical`).
    public var doseRatio: Double?
    /// True when every paired slice carries the same dose tags (mA, mAs, CTDIvol) on both sides:
    /// the headers cannot tell the dose (a copied header, as in public low-dose sets); nil without
    /// normal dose or dose tags.
    public var doseTagsIdentical: Bool? = nil
    /// (σ normal / σ low)²: the dose ratio the noise suggests (an estimate; conventions.doseFromNoise).
    public var doseRatioFromNoise: Double? = nil
    /// [min, max] of the per-slice tube current when it varies along the series (tube-current
    /// modulation); nil when constant or unknown.
    public var tubeCurrentRangeLow: [Double]? = nil
    public var tubeCurrentRangeNormal: [Double]? = nil
    /// Plain statements about the dose that the numbers alone would hide.
    public var doseNotes: [String] = []
    /// CTDIvol the restored image's noise corresponds to (see conventions.equivalentDose).
    public var equivalentCTDIvolMGy: Double?
    /// (σ low / σ restored)²: how many times the dose the restored noise corresponds to.
    public var equivalentDoseFactor: Double?
    public var psnrLow: Double?
    public var psnrRestored: Double?
    public var ssimLow: Double?
    public var ssimRestored: Double?
    public var rmseLow: Double?
    public var rmseRestored: Double?
    public var noiseLow: Double?
    public var noiseRestored: Double?
    public var noiseNormal: Double?
    public var huShiftRestoredVsLow: Double?
    public var huBiasLow: Double?
    public var huBiasRestored: Double?
    public var cnrLow: Double?
    public var cnrRestored: Double?
    public var cnrNormal: Double?
    public var diceLow: [String: Double]?
    public var diceRestored: [String: Double]?
    public var nps: SpectrumSet
}

/// One figure of the report: a representative slice in one window.
public struct ReportPicture: Sendable {
    public var seriesIndex: Int
    public var sliceIndex: Int
    public var window: DisplayWindow
    /// Captions of the panels, left to right.
    public var captions: [String]
    public var png: Data
}

/// How the low-dose slices found their normal-dose partners.
public struct PairingReport: Codable, Sendable, Equatable {
    /// `--pair-by`: auto, source, frame or position.
    public var mode: String
    /// Pairs through Source Image Sequence, by frame of reference and position, by geometry alone.
    public var source: Int
    public var frame: Int
    public var position: Int
    public var unpaired: Int
    /// E.g. the inputs look swapped.
    public var warnings: [String]

    public init(_ result: PairingResult, mode: PairingMode, warnings: [String] = []) {
        self.mode = mode.rawValue
        let c = result.counts
        source = c[.source] ?? 0
        frame = c[.frame] ?? 0
        position = c[.position] ?? 0
        unpaired = result.unpaired.count
        self.warnings = warnings
    }

    public var summary: String {
        "\(source + frame + position) pair(s): \(source) through Source Image Sequence, \(frame) by frame of reference and position, \(position) by geometry alone; \(unpaired) unpaired"
    }
}

/// The whole report (report.json is this, minus pictures).
public struct DoseReport: Codable, Sendable {
    public var schema = "https://lowdosect.invalid/schema/report/1"
    public var schemaVersion = 1
    public var generated: String
    public var tool = "LowDoseCT ldct report"
    public var conventions = ReportConventions()
    public var series: [SeriesReport]
    public var slices: [SliceReport]
    /// Low-dose slices without a restored partner, and restored / normal files that matched nothing.
    public var unpaired: [Rejection]
    /// Files under the inputs that were not CT or could not be read.
    public var skipped: [Rejection]
    /// Low ↔ normal pairing, when normal dose was given.
    public var pairing: PairingReport? = nil

    enum CodingKeys: String, CodingKey {
        case schema, schemaVersion, generated, tool, conventions, series, slices, unpaired, skipped, pairing
    }
}
