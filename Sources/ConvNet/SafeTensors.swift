import Foundation

/// The safetensors format (8-byte little-endian header length, a JSON header mapping each tensor
/// name to dtype, shape and [begin, end) byte offsets in the data block, and `__metadata__` with
/// string values; then the data). Tensors are read as Float32 whatever they were stored in
/// (F32, F64, F16, BF16); they are written as F32.
public struct SafeTensors: Sendable, Equatable {
    public var tensors: [String: Tensor]
    public var metadata: [String: String]

    public init(tensors: [String: Tensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Reads and validates a file: every offset inside the data block, sizes matching shapes.
    public static func read(_ path: String) throws -> SafeTensors {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConvNetError.unreadable(file: path, reason: error.localizedDescription)
        }
        return try parse(data, file: path)
    }

    public static func parse(_ data: Data, file: String = "(memory)") throws -> SafeTensors {
        guard data.count >= 8 else { throw ConvNetError.malformed(file: file, reason: "shorter than 8 bytes") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength > 1, headerLength <= UInt64(data.count - 8), headerLength < 100_000_000 else {
            throw ConvNetError.malformed(file: file, reason: "header length \(headerLength) does not fit the file (\(data.count) bytes)")
        }
        let headerEnd = 8 + Int(headerLength)
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<headerEnd)) } catch {
            throw ConvNetError.malformed(file: file, reason: "header is not JSON")
        }
        guard let header = json as? [String: Any] else {
            throw ConvNetError.malformed(file: file, reason: "header is not a JSON object")
        }
        let body = data.count - headerEnd
        var result = SafeTensors()
        if let meta = header["__metadata__"] {
            guard let dict = meta as? [String: Any] else {
                throw ConvNetError.malformed(file: file, reason: "__metadata__ is not an object")
            }
            for (k, v) in dict {
                guard let s = v as? String else {
                    throw ConvNetError.malformed(file: file, reason: "__metadata__ value of '\(k)' is not a string")
                }
                result.metadata[k] = s
            }
        }
        for (name, entry) in header where name != "__metadata__" {
            guard let e = entry as? [String: Any], let dtype = e["dtype"] as? String,
                  let shape = (e["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  let offsets = (e["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  offsets.count == 2, shape.allSatisfy({ $0 >= 0 })
            else {
                throw ConvNetError.malformed(file: file, reason: "entry '\(name)' lacks dtype, shape or data_offsets")
            }
            let width: Int
            switch dtype {
            case "F32": width = 4
            case "F64": width = 8
            case "F16", "BF16": width = 2
            default: throw ConvNetError.unsupportedDType(file: file, name: name, dtype: dtype)
            }
            let count = shape.reduce(1, *)
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin, end <= body, end - begin == count * width else {
                throw ConvNetError.malformed(file: file, reason: "tensor '\(name)': offsets [\(begin), \(end)) do not hold \(count) \(dtype) values inside \(body) data bytes")
            }
            var values = [Float](repeating: 0, count: count)
            data.withUnsafeBytes { raw in
                let base = raw.baseAddress! + headerEnd + begin
                for i in 0..<count {
                    switch dtype {
                    case "F32": values[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    case "F64": values[i] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                    case "F16": values[i] = Float(Float16(bitPattern: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
                    default: values[i] = Float(bitPattern: UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
                    }
                }
            }
            result.tensors[name] = Tensor(shape: shape, data: values)
        }
        return result
    }

    /// The file's bytes: tensors in name order, F32, header padded with spaces to 8 bytes.
    public func serialized() throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.count]] as [String: Any]
            offset += 4 * t.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for name in names {
            tensors[name]!.data.withUnsafeBufferPointer { buf in
                for v in buf { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
            }
        }
        return out
    }

    /// Writes atomically (temporary file in the same folder, then rename).
    public func write(to path: String) throws {
        let data = try serialized()
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = (dir.isEmpty ? "." : dir) + "/.\((path as NSString).lastPathComponent).\(getpid()).tmp"
        do {
            try data.write(to: URL(fileURLWithPath: tmp))
            let fd = open(tmp, O_RDONLY)
            if fd >= 0 { fsync(fd); close(fd) }
            guard rename(tmp, path) == 0 else { throw ConvNetError.writeFailed(file: path, reason: String(cString: strerror(errno))) }
        } catch let e as ConvNetError {
            unlink(tmp)
            throw e
        } catch {
            unlink(tmp)
            throw ConvNetError.writeFailed(file: path, reason: error.localizedDescription)
        }
    }
}
