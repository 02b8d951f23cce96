import DICOMIO
import Foundation

/// What can go wrong in planning an archive restore and choosing a shard; every case names what
/// was given and why it cannot be used.
public enum PlanError: Error, Equatable, CustomStringConvertible {
    /// `--shard` text that is neither `K/N`, `auto` nor `auto/N`.
    case badShardSpec(String, reason: String)
    /// K outside 0 … N−1 (shards count from 0, like Slurm arrays `--array=0-3` and Kubernetes'
    /// JOB_COMPLETION_INDEX).
    case shardOutOfRange(index: Int, count: Int, source: String)
    /// `--shard auto` where no scheduler variable is set, or one that is not a number.
    case noSchedulerIndex(detail: String)
    case planNotFound(path: String)
    case planUnreadable(path: String, reason: String)
    /// The inputs given on the command line are not the archive the plan was made from.
    case otherArchive(plan: String, planInputs: [String], given: [String])
    /// None of this shard's series is where the plan says (the archive was replaced or moved).
    case archiveChanged(plan: String, evidence: String)

    public var description: String {
        switch self {
        case .badShardSpec(let text, let reason): return "--shard \(text): \(reason) (use K/N with 0 ≤ K < N, auto, or auto/N)"
        case .shardOutOfRange(let k, let n, let source):
            return "shard \(k) of \(n) from \(source) is out of range: shards count from 0 to \(max(n - 1, 0))"
        case .noSchedulerIndex(let detail): return "--shard auto: \(detail)"
        case .planNotFound(let path): return "\(path): plan not found (make one with `ldct plan ARCHIVE… -o \(path)`)"
        case .planUnreadable(let path, let reason): return "\(path): not a LowDoseCT restore plan: \(reason)"
        case .otherArchive(let plan, let planInputs, let given):
            return "\(plan) was made for \(planInputs.joined(separator: ", ")), not for \(given.joined(separator: ", ")); make a plan of this archive"
        case .archiveChanged(let plan, let evidence):
            return "\(plan) does not match the files: \(evidence); the archive changed since the plan, make a new one"
        }
    }
}

/// Which of N shards this process is: `K/N` (0 ≤ K < N), or taken from the scheduler.
public struct ShardSpec: Equatable, Sendable, CustomStringConvertible {
    public var index: Int
    public var count: Int
    /// Where K and N came from ("--shard", "SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX").
    public var source: String

    public init(index: Int, count: Int, source: String = "--shard") throws {
        guard count >= 1 else { throw PlanError.badShardSpec("\(index)/\(count)", reason: "N must be at least 1") }
        guard index >= 0, index < count else { throw PlanError.shardOutOfRange(index: index, count: count, source: source) }
        self.index = index
        self.count = count
        self.source = source
    }

    public var description: String { "\(index)/\(count)" }

    /// Parses `--shard`: `K/N`; `auto` (a Slurm job array: K = SLURM_ARRAY_TASK_ID −
    /// SLURM_ARRAY_TASK_MIN, N = SLURM_ARRAY_TASK_COUNT, or MAX − MIN + 1); `auto/N` (a Kubernetes
    /// Indexed Job: K = JOB_COMPLETION_INDEX, N = the Job's completions, given here because the pod
    /// is not told it; a Slurm array also works and must then have N tasks).
    public static func parse(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ShardSpec {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2 else { throw PlanError.badShardSpec(text, reason: "more than one '/'") }
        var givenCount: Int?
        if parts.count == 2 {
            guard let n = Int(parts[1]) else { throw PlanError.badShardSpec(text, reason: "N is not a whole number") }
            guard n >= 1 else { throw PlanError.badShardSpec(text, reason: "N must be at least 1") }
            givenCount = n
        }
        if parts[0] != "auto" {
            guard let n = givenCount else { throw PlanError.badShardSpec(text, reason: "no N") }
            guard let k = Int(parts[0]) else { throw PlanError.badShardSpec(text, reason: "K is not a whole number") }
            return try ShardSpec(index: k, count: n)
        }
        func number(_ name: String) throws -> Int? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            guard let n = Int(value.trimmingCharacters(in: .whitespaces)) else {
                throw PlanError.noSchedulerIndex(detail: "\(name)=\(value) is not a whole number")
            }
            return n
        }
        if let id = try number("SLURM_ARRAY_TASK_ID") {
            let lo = try number("SLURM_ARRAY_TASK_MIN") ?? 0
            var n = try number("SLURM_ARRAY_TASK_COUNT")
            if n == nil, let hi = try number("SLURM_ARRAY_TASK_MAX") { n = hi - lo + 1 }
            guard let count = givenCount ?? n else {
                throw PlanError.noSchedulerIndex(detail: "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX; give auto/N")
            }
            if let g = givenCount, let n, g != n {
                throw PlanError.badShardSpec(text, reason: "the Slurm array has \(n) tasks, not \(g)")
            }
            return try ShardSpec(index: id - lo, count: count, source: "SLURM_ARRAY_TASK_ID")
        }
        if let index = try number("JOB_COMPLETION_INDEX") {
            guard let count = givenCount else {
                throw PlanError.noSchedulerIndex(detail: "JOB_COMPLETION_INDEX is set (Kubernetes Indexed Job) but the shard count is not: give auto/N with N = the Job's completions")
            }
            return try ShardSpec(index: index, count: count, source: "JOB_COMPLETION_INDEX")
        }
        throw PlanError.noSchedulerIndex(detail: "neither SLURM_ARRAY_TASK_ID (Slurm job array) nor JOB_COMPLETION_INDEX (Kubernetes Indexed Job) is set; give K/N")
    }
}

/// The work list of an archive restore, made once by `ldct plan` so that N shards need not scan
/// the archive: every CT series with its files (slice order), the archive's roots, and what was
/// left out. It holds paths and UIDs only, no patient data. JSON, written atomically.
public struct RestorePlan: Codable, Sendable, Equatable {
    public struct Series: Codable, Sendable, Equatable {
        public var seriesInstanceUID: String
        public var studyInstanceUID: String
        public var slices: Int
        /// The series' files in slice order, each once (a multi-frame file holds several slices).
        public var files: [String]

        public init(seriesInstanceUID: String, studyInstanceUID: String, slices: Int, files: [String]) {
            self.seriesInstanceUID = seriesInstanceUID
            self.studyInstanceUID = studyInstanceUID
            self.slices = slices
            self.files = files
        }
    }

    public var tool = "LowDoseCT ldct plan"
    public var version = 1
    public var created: String
    /// The archive: the paths given to `ldct plan`, absolute and standardised.
    public var inputs: [String]
    public var filesExamined: Int
    /// Files that are not CT slices, and CT files that cannot be used, with the reason.
    public var rejected: [Rejection]
    /// In the scanner's order (study, series number, UID).
    public var series: [Series]
    /// FNV-1a over the inputs and every series' UID and files: names this plan in shard state.
    public var fingerprint: String

    public static func standardized(_ paths: [String]) -> [String] {
        paths.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
    }

    public init(scan: ScanResult, inputs: [String], created: Date = Date()) {
        let series = scan.series.map { s in
            var seen = Set<String>()
            let files = s.slices.map(\.file).filter { seen.insert($0).inserted }
            return Series(seriesInstanceUID: s.seriesInstanceUID, studyInstanceUID: s.studyInstanceUID, slices: s.slices.count,
                          files: RestorePlan.standardized(files))
        }
        self.init(inputs: inputs, series: series, filesExamined: scan.filesExamined,
                  rejected: scan.rejected + scan.errors.map { Rejection(file: $0.file, reason: $0.reason) }, created: created)
    }

    public init(inputs: [String], series: [Series], filesExamined: Int = 0, rejected: [Rejection] = [], created: Date = Date()) {
        self.inputs = RestorePlan.standardized(inputs)
        self.created = ISO8601DateFormatter().string(from: created)
        self.filesExamined = filesExamined
        self.rejected = rejected
        self.series = series
        var text = self.inputs.joined(separator: "\n")
        for s in series { text += "\n" + s.seriesInstanceUID + "\n" + s.files.joined(separator: "\n") }
        fingerprint = String(format: "%016llx", UIDFactory.fnv1a64(text))
    }

    public var sliceCount: Int { series.reduce(0) { $0 + $1.slices } }

    /// The shard of every series (same order as `series`), for `count` shards: longest series
    /// first, each to the shard with the fewest slices so far (ties: lower shard, then plan order).
    /// A pure function of the plan, so every shard computes the same split without talking to the
    /// others, and every series belongs to exactly one shard.
    public func assignment(shards count: Int) -> [Int] {
        let n = max(count, 1)
        let order = series.indices.sorted { a, b in
            series[a].slices != series[b].slices ? series[a].slices > series[b].slices : a < b
        }
        var load = [Int](repeating: 0, count: n)
        var shard = [Int](repeating: 0, count: series.count)
        for i in order {
            var best = 0
            for k in 1..<n where load[k] < load[best] { best = k }
            shard[i] = best
            load[best] += series[i].slices
        }
        return shard
    }

    /// The series of one shard, in plan order.
    public func series(of shard: ShardSpec) -> [Series] {
        let owner = assignment(shards: shard.count)
        return series.indices.filter { owner[$0] == shard.index }.map { series[$0] }
    }

    public func save(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(self)
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try AtomicFile.write(data, to: path)
    }

    public static func load(_ path: String) throws -> RestorePlan {
        guard FileManager.default.fileExists(atPath: path) else { throw PlanError.planNotFound(path: path) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PlanError.planUnreadable(path: path, reason: "cannot be read")
        }
        let plan: RestorePlan
        do { plan = try JSONDecoder().decode(RestorePlan.self, from: data) } catch {
            throw PlanError.planUnreadable(path: path, reason: "\(error)".prefix(200).description)
        }
        guard plan.tool == "LowDoseCT ldct plan" else { throw PlanError.planUnreadable(path: path, reason: "made by \(plan.tool)") }
        guard plan.version == 1 else { throw PlanError.planUnreadable(path: path, reason: "version \(plan.version), this ldct reads 1") }
        return plan
    }

    /// Refuses inputs that are not the plan's archive (the same paths, in any order).
    public func check(inputs given: [String], planPath: String) throws {
        guard !given.isEmpty else { return }
        let g = RestorePlan.standardized(given)
        if Set(g) != Set(inputs) { throw PlanError.otherArchive(plan: planPath, planInputs: inputs, given: g) }
    }

    /// Reads the headers of one shard's files only (not the archive) and returns its series as the
    /// scanner sees them now, plus the plan series that no longer match (files gone, another
    /// series, another slice count) with the evidence. Throws `archiveChanged` when none matches.
    public func scan(shard: ShardSpec, planPath: String) throws -> (scan: ScanResult, mismatched: [(Series, String)]) {
        let mine = series(of: shard)
        var scan = StudyScanner.scan(mine.flatMap(\.files))
        var mismatched: [(Series, String)] = []
        var matched = Set<String>()
        for s in mine {
            if let missing = s.files.first(where: { !FileManager.default.fileExists(atPath: $0) }) {
                mismatched.append((s, "\(missing): file missing since the plan was made"))
            } else if let found = scan.series.first(where: { $0.seriesInstanceUID == s.seriesInstanceUID }) {
                if found.slices.count == s.slices {
                    matched.insert(s.seriesInstanceUID)
                } else {
                    mismatched.append((s, "\(found.slices.count) slices now, \(s.slices) in the plan"))
                }
            } else {
                mismatched.append((s, "\(s.files.first ?? "?"): no longer holds series \(s.seriesInstanceUID)"))
            }
        }
        // Series the shard's files hold that the plan did not put here (a file rewritten with
        // another series) are not this shard's to restore.
        scan.series.removeAll { !matched.contains($0.seriesInstanceUID) }
        if !mine.isEmpty && matched.isEmpty, let first = mismatched.first {
            throw PlanError.archiveChanged(plan: planPath, evidence: first.1)
        }
        return (scan, mismatched)
    }
}
