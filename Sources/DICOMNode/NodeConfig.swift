import ConvNet
import Denoising
import Foundation
import Yams

/// A DICOM peer the node sends restored series to: `AE@HOST:PORT`.
public struct Destination: Codable, Sendable, Equatable, CustomStringConvertible {
    public var ae: String
    public var host: String
    public var port: UInt16

    public init(ae: String, host: String, port: UInt16) {
        self.ae = ae
        self.host = host
        self.port = port
    }

    /// Parses `AE@HOST:PORT`.
    public init(parsing text: String) throws {
        guard let at = text.firstIndex(of: "@"), let colon = text.lastIndex(of: ":"), at < colon,
              let port = UInt16(text[text.index(after: colon)...]), port > 0 else {
            throw NodeError.configuration(reason: "destination '\(text)' is not AE@HOST:PORT")
        }
        ae = String(text[..<at])
        host = String(text[text.index(after: at)..<colon])
        self.port = port
        guard !ae.isEmpty, ae.count <= 16, !host.isEmpty else {
            throw NodeError.configuration(reason: "destination '\(text)': AE title must be 1–16 characters and a host given")
        }
    }

    public var description: String { "\(ae)@\(host):\(port)" }
    /// Name used for the destination's records in the spool.
    public var key: String { description.replacingOccurrences(of: "/", with: "_") }
}

public enum NodeError: Error, Equatable, Sendable, CustomStringConvertible {
    case configuration(reason: String)
    case listen(reason: String)
    /// A C-STORE to a destination failed (association or status); retried with backoff.
    case send(destination: String, reason: String)

    public var description: String {
        switch self {
        case .configuration(let r): return "node configuration: \(r)"
        case .listen(let r): return "cannot listen: \(r)"
        case .send(let d, let r): return "sending to \(d): \(r)"
        }
    }
}

/// Everything `ldct node` needs; from the command line or a YAML file (same names, snake_case).
public struct NodeConfig: Codable, Sendable, Equatable {
    public var ae = "LDCT"
    public var port: UInt16 = 11112
    public var forward: [Destination] = []
    /// RED-CNN weights; nil: the bundled default model.
    public var model: String?
    public var spool = "spool"
    /// Calling AE titles allowed to send; empty: any.
    public var allow: [String] = []
    /// A series counts as complete this many seconds after its last instance arrived.
    public var seriesTimeout = 30.0
    /// "refuse" (status 0122) or "ignore" (accepted, logged, dropped) for non-CT instances.
    public var nonCT = "refuse"
    /// Refuse new instances (status A700) while the spool holds more than this (MiB; 0: no limit).
    public var spoolLimitMiB = 0
    public var maxAssociations = 4
    /// First retry after a failed send (seconds); doubles per failure up to `retryMax`.
    public var retryBase = 10.0
    public var retryMax = 600.0
    /// Remove a series' received and restored files once every destination has it.
    public var keepSent = false
    /// UID root for the restored series (default: 2.25).
    public var uidRoot: String?
    /// Patient names in the log (off: series UIDs and descriptions only).
    public var showPatient = false
    /// Restore strength, as `ldct restore --strength` ("auto" or 0…2); nil: the model's default.
    public var strength: String?
    /// When some received instances of a series cannot be restored (corrupt files): send the
    /// instances that were restored, with the failure in the log and --status (false: send nothing).
    public var sendPartial = false
    /// Convolution path (`--conv`, YAML `conv`): auto, im2col or winograd.
    public var conv: ConvolutionAlgorithm = .auto
    /// Views the network is averaged over per slice (`--ensemble`, YAML `ensemble`): 1, 2, 4 or 8.
    public var ensemble = 1

    enum CodingKeys: String, CodingKey {
        case ae, port, forward, model, spool, allow
        case seriesTimeout = "series_timeout", nonCT = "non_ct", spoolLimitMiB = "spool_limit_mib"
        case maxAssociations = "max_associations", retryBase = "retry_base", retryMax = "retry_max"
        case keepSent = "keep_sent", uidRoot = "uid_root", showPatient = "show_patient", strength, sendPartial = "send_partial", conv, ensemble
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var d = NodeConfig()
        d.ae = try c.decodeIfPresent(String.self, forKey: .ae) ?? d.ae
        d.port = try c.decodeIfPresent(UInt16.self, forKey: .port) ?? d.port
        if let list = try c.decodeIfPresent([String].self, forKey: .forward) { d.forward = try list.map(Destination.init(parsing:)) }
        d.model = try c.decodeIfPresent(String.self, forKey: .model)
        d.spool = try c.decodeIfPresent(String.self, forKey: .spool) ?? d.spool
        d.allow = try c.decodeIfPresent([String].self, forKey: .allow) ?? []
        d.seriesTimeout = try c.decodeIfPresent(Double.self, forKey: .seriesTimeout) ?? d.seriesTimeout
        d.nonCT = try c.decodeIfPresent(String.self, forKey: .nonCT) ?? d.nonCT
        d.spoolLimitMiB = try c.decodeIfPresent(Int.self, forKey: .spoolLimitMiB) ?? 0
        d.maxAssociations = try c.decodeIfPresent(Int.self, forKey: .maxAssociations) ?? d.maxAssociations
        d.retryBase = try c.decodeIfPresent(Double.self, forKey: .retryBase) ?? d.retryBase
        d.retryMax = try c.decodeIfPresent(Double.self, forKey: .retryMax) ?? d.retryMax
        d.keepSent = try c.decodeIfPresent(Bool.self, forKey: .keepSent) ?? false
        d.uidRoot = try c.decodeIfPresent(String.self, forKey: .uidRoot)
        d.showPatient = try c.decodeIfPresent(Bool.self, forKey: .showPatient) ?? false
        d.strength = try c.decodeIfPresent(String.self, forKey: .strength)
        d.sendPartial = try c.decodeIfPresent(Bool.self, forKey: .sendPartial) ?? false
        if let text = try c.decodeIfPresent(String.self, forKey: .conv) {
            guard let value = ConvolutionAlgorithm(rawValue: text) else {
                throw DecodingError.dataCorruptedError(forKey: .conv, in: c, debugDescription: "conv must be auto, im2col or winograd, not \(text)")
            }
            d.conv = value
        }
        if let views = try c.decodeIfPresent(Int.self, forKey: .ensemble) {
            guard ViewEnsemble(count: views) != nil else {
                throw DecodingError.dataCorruptedError(forKey: .ensemble, in: c, debugDescription: "\(EnsembleError(text: String(views)))")
            }
            d.ensemble = views
        }
        self = d
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ae, forKey: .ae)
        try c.encode(port, forKey: .port)
        try c.encode(forward.map(\.description), forKey: .forward)
        try c.encodeIfPresent(model, forKey: .model)
        try c.encode(spool, forKey: .spool)
        try c.encode(allow, forKey: .allow)
        try c.encode(seriesTimeout, forKey: .seriesTimeout)
        try c.encode(nonCT, forKey: .nonCT)
        try c.encode(spoolLimitMiB, forKey: .spoolLimitMiB)
        try c.encode(maxAssociations, forKey: .maxAssociations)
        try c.encode(retryBase, forKey: .retryBase)
        try c.encode(retryMax, forKey: .retryMax)
        try c.encode(keepSent, forKey: .keepSent)
        try c.encodeIfPresent(uidRoot, forKey: .uidRoot)
        try c.encode(showPatient, forKey: .showPatient)
        try c.encode(conv.rawValue, forKey: .conv)
        try c.encodeIfPresent(strength, forKey: .strength)
        try c.encode(sendPartial, forKey: .sendPartial)
        try c.encode(ensemble, forKey: .ensemble)
    }

    /// Reads a YAML file whose top level (or `node:` section) holds these keys.
    public static func load(yaml path: String) throws -> NodeConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw NodeError.configuration(reason: "cannot read \(path)")
        }
        do {
            if let node = try Yams.compose(yaml: text), let section = node.mapping?["node"] {
                return try YAMLDecoder().decode(NodeConfig.self, from: try Yams.serialize(node: section))
            }
            return try YAMLDecoder().decode(NodeConfig.self, from: text)
        } catch let e as NodeError {
            throw e
        } catch {
            throw NodeError.configuration(reason: "\(path): \(error)")
        }
    }

    public func validate() throws {
        func bad(_ r: String) -> NodeError { .configuration(reason: r) }
        guard !ae.isEmpty, ae.count <= 16 else { throw bad("AE title must be 1–16 characters") }
        guard port > 0 else { throw bad("port must be 1–65535") }
        guard !forward.isEmpty else { throw bad("no destination (--forward AE@HOST:PORT)") }
        guard ["refuse", "ignore"].contains(nonCT) else { throw bad("non_ct must be refuse or ignore") }
        guard seriesTimeout >= 0, retryBase > 0, retryMax >= retryBase else { throw bad("timeouts must be positive") }
        guard maxAssociations >= 1 else { throw bad("max_associations must be at least 1") }
        guard ViewEnsemble(count: ensemble) != nil else { throw bad("\(EnsembleError(text: String(ensemble)))") }
    }
}
