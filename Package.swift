// swift-tools-version:6.0
// LowDoseCT — restores low-dose CT studies with RED-CNN. See docs/architecture.md for the module map.
import PackageDescription

/// DCMTK and OpenJPEG live in Debian's standard paths; `pkg-config dcmtk` is broken on bookworm,
/// so the libraries are named explicitly (see docs/architecture.md, "System libraries").
let dcmtkLibraries: [LinkerSetting] = [
    "dcmnet", "dcmjpls", "dcmtkcharls", "dcmjpeg", "ijg8", "ijg12", "ijg16",
    "dcmdata", "oflog", "ofstd", "openjp2", "z",
].map { .linkedLibrary($0) }

let package = Package(
    name: "LowDoseCT",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ldct", targets: ["ldct"]),
        .library(name: "DICOMIO", targets: ["DICOMIO"]),
        .library(name: "ConvNet", targets: ["ConvNet"]),
        .library(name: "Denoising", targets: ["Denoising"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // Every DCMTK/OpenJPEG call, behind a plain C header (no C++ types cross into Swift).
        .target(
            name: "CDCMTK",
            cxxSettings: [.unsafeFlags(["-I/usr/include/openjpeg-2.5"])],
            linkerSettings: dcmtkLibraries
        ),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // libpng's simplified write API, for the report's pictures.
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        // DICOM ingest (files → CT series in HU) and the derived-series writer.
        .target(name: "DICOMIO", dependencies: ["CDCMTK"]),
        // Tensors, im2col convolution layers with backward passes, losses, Adam, safetensors.
        .target(name: "ConvNet", dependencies: ["COpenBLAS", "CWinograd"]),
        // Winograd tile transforms in C (loops over tiles vectorise; AVX2+FMA build chosen at run time).
        // Always optimised (also in debug builds, where the tests run them on real slices).
        .target(name: "CWinograd", cSettings: [.unsafeFlags(["-O2"])]),
        // RED-CNN, normalisation, whole-slice restore in bounded memory.
        .target(name: "Denoising", dependencies: ["ConvNet", "DICOMIO", "ImageQuality", "ArchivePlan"]),
        // Archive scale: the plan of an archive restore and which shard restores which series.
        .target(name: "ArchivePlan", dependencies: ["DICOMIO"]),
        // Lower-dose simulation: parallel-beam projector, FBP, projection-domain noise insertion.
        .target(name: "LowDoseSimulation"),
        // PSNR, SSIM, RMSE (scikit-image's conventions); later ROI noise, NPS, CNR, Dice.
        .target(name: "ImageQuality"),
        // Dose-comparison reports: pairing, per-slice measures, PNG pictures, SVG charts, HTML/JSON/CSV.
        .target(name: "Reporting", dependencies: ["DICOMIO", "ImageQuality", "CPNG"]),
        // The DICOM node: C-STORE SCP into a durable spool, restore, C-STORE SCU with retries.
        .target(name: "DICOMNode", dependencies: ["CDCMTK", "DICOMIO", "Denoising", .product(name: "Yams", package: "Yams")]),
        // Simulated studies as DICOM: synthetic phantom studies and lower-dose series of real ones.
        .target(name: "StudySimulation", dependencies: ["DICOMIO", "LowDoseSimulation", "ImageQuality"]),
        // Training RED-CNN on low/normal-dose pairs: configuration, data, checkpoints, validation.
        .target(name: "Training", dependencies: ["DICOMIO", "ConvNet", "Denoising", "LowDoseSimulation", "ImageQuality", "StudySimulation", "CMPI"]),
        // The MPI calls of data-parallel training, through dlopen (no MPI needed to build or run ldct).
        .target(name: "CMPI", linkerSettings: [.linkedLibrary("dl")]),
        // Declarative YAML pipelines (`ldct run`): files → validated stage argument lists.
        .target(name: "Pipelines", dependencies: [.product(name: "Yams", package: "Yams")]),
        // The command line: parsing, progress, exit codes. No logic of its own.
        .executableTarget(
            name: "ldct",
            dependencies: [
                "DICOMIO", "ArchivePlan", "ConvNet", "Denoising", "LowDoseSimulation", "StudySimulation", "Training", "Pipelines", "Reporting", "DICOMNode",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Makes the synthetic DICOM fixtures and the sample study (scripts/make-fixtures).
        .executableTarget(name: "FixtureMaker", dependencies: ["DICOMIO"]),
        .testTarget(name: "DICOMIOTests", dependencies: ["DICOMIO"]),
        .testTarget(name: "ConvNetTests", dependencies: ["ConvNet", "ImageQuality"]),
        .testTarget(name: "ArchivePlanTests", dependencies: ["ArchivePlan", "DICOMIO"]),
        .testTarget(name: "DenoisingTests", dependencies: ["Denoising", "ConvNet", "DICOMIO"]),
        .testTarget(name: "LowDoseSimulationTests", dependencies: ["LowDoseSimulation", "ImageQuality"]),
        .testTarget(name: "ImageQualityTests", dependencies: ["ImageQuality", "ConvNet"]),
        .testTarget(name: "StudySimulationTests", dependencies: ["StudySimulation", "DICOMIO", "LowDoseSimulation"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "StudySimulation", "DICOMIO", "ConvNet", "LowDoseSimulation"]),
        .testTarget(name: "PipelinesTests", dependencies: ["Pipelines", "ArchivePlan", .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "DICOMNodeTests", dependencies: ["DICOMNode", "DICOMIO", "Denoising"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting", "ImageQuality", "DICOMIO"]),
        .testTarget(name: "LdctCLITests", dependencies: ["ldct", "DICOMIO", "ConvNet", "Denoising"]),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
