import CPNG
import Foundation

/// A display window in HU (width, level), as radiologists name them.
public struct DisplayWindow: Sendable, Equatable, Codable {
    public var name: String
    public var width: Double
    public var level: Double

    public init(name: String, width: Double, level: Double) {
        self.name = name
        self.width = width
        self.level = level
    }

    public static let softTissue = DisplayWindow(name: "soft tissue", width: 400, level: 40)
    public static let lung = DisplayWindow(name: "lung", width: 1500, level: -600)
    public static let bone = DisplayWindow(name: "bone", width: 2000, level: 500)
    public static let standard = [softTissue, lung, bone]

    public var label: String { String(format: "%@ W%.0f/L%.0f", name, width, level) }

    /// HU → 0…255 (linear, clamped).
    @inline(__always) public func gray(_ hu: Float) -> UInt8 {
        let v = (Double(hu) - (level - width / 2)) / width * 255
        return UInt8(max(0, min(255, v.rounded())))
    }
}

public enum PNGError: Error, CustomStringConvertible, Equatable {
    case encode(reason: String)
    public var description: String {
        switch self {
        case .encode(let r): return "PNG encoding failed: \(r)"
        }
    }
}

/// 8-bit PNG encoding through libpng's simplified API (no setjmp crosses into Swift).
public enum PNG {
    /// `pixels`: rows × columns × channels (1 gray, 3 RGB), row-major.
    public static func encode(pixels: [UInt8], width: Int, height: Int, channels: Int) throws -> Data {
        guard channels == 1 || channels == 3, width > 0, height > 0, pixels.count == width * height * channels else {
            throw PNGError.encode(reason: "bad geometry \(width)×\(height)×\(channels) for \(pixels.count) bytes")
        }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        var size: Int = 0
        let stride = Int32(width * channels)
        let ok = pixels.withUnsafeBytes { raw in
            png_image_write_to_memory(&image, nil, &size, 0, raw.baseAddress, stride, nil)
        }
        guard ok != 0, size > 0 else {
            let reason = message(image)
            png_image_free(&image)
            throw PNGError.encode(reason: reason)
        }
        var out = [UInt8](repeating: 0, count: size)
        let ok2 = out.withUnsafeMutableBytes { dst in
            pixels.withUnsafeBytes { raw in
                png_image_write_to_memory(&image, dst.baseAddress, &size, 0, raw.baseAddress, stride, nil)
            }
        }
        let reason = ok2 != 0 ? "" : message(image)
        png_image_free(&image)
        guard ok2 != 0 else { throw PNGError.encode(reason: reason) }
        return Data(out[0..<size])
    }

    static func message(_ image: png_image) -> String {
        var m = image.message
        return withUnsafeBytes(of: &m) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// A row of equally sized HU images side by side, shown in one window, separated by `gap` black columns.
    public static func panel(_ images: [[Float]], rows: Int, columns: Int, window: DisplayWindow, gap: Int = 4) -> (pixels: [UInt8], width: Int) {
        let width = images.count * columns + max(0, images.count - 1) * gap
        var out = [UInt8](repeating: 0, count: width * rows)
        for (k, image) in images.enumerated() {
            let x0 = k * (columns + gap)
            for y in 0..<rows {
                for x in 0..<columns { out[y * width + x0 + x] = window.gray(image[y * columns + x]) }
            }
        }
        return (out, width)
    }

    /// A signed difference image as RGB: blue for negative, red for positive, black for 0, full
    /// colour at ±`range` HU.
    public static func difference(_ d: [Float], range: Float) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: d.count * 3)
        for (i, v) in d.enumerated() {
            let t = UInt8(max(0, min(255, (abs(v) / range * 255).rounded())))
            if v > 0 { out[3 * i] = t } else { out[3 * i + 2] = t; out[3 * i + 1] = t / 3 }
        }
        return out
    }

    /// `data:` URI for embedding.
    public static func dataURI(_ png: Data) -> String { "data:image/png;base64," + png.base64EncodedString() }
}
