import Foundation

/// Makes DICOM UIDs for the series and instances LowDoseCT writes.
///
/// Without a site root, UIDs use the `2.25.` arc (PS3.5 §B.2: a UUID as a decimal integer), which
/// needs no registration. With a root (the site's own, e.g. `1.2.826.0.1.3680043.10.1234`) the
/// suffix is a decimal number cut to keep the UID within 64 characters.
///
/// `deterministic` UIDs are a 128-bit FNV-1a hash of a key (source instance + purpose), so
/// writing the same output twice gives the same UIDs and a PACS replaces instead of doubling.
public struct UIDFactory: Sendable {
    public let root: String?

    public init(root: String? = nil) throws {
        if let root {
            if let problem = UIDCheck.problem(root) {
                throw DICOMError.invalidAttribute(file: "", tag: .sopInstanceUID, value: root,
                                                  expected: "a UID root (\(problem))")
            }
            if root.count > 40 {
                throw DICOMError.invalidAttribute(file: "", tag: .sopInstanceUID, value: root,
                                                  expected: "a UID root of at most 40 characters")
            }
        }
        self.root = root
    }

    /// A new random UID.
    public func random() -> String {
        var rng = SystemRandomNumberGenerator()
        let value = UInt128(rng.next() as UInt64) << 64 | UInt128(rng.next() as UInt64)
        return make(value)
    }

    /// The same UID every time for the same key.
    public func deterministic(_ key: String) -> String {
        make(UIDFactory.fnv1a128(key))
    }

    private func make(_ value: UInt128) -> String {
        let prefix = root ?? "2.25"
        var digits = String(value)
        let room = 64 - prefix.count - 1
        if digits.count > room { digits = String(digits.prefix(room)) }
        // Components may not start with 0 (unless "0" alone).
        if digits.count > 1, digits.hasPrefix("0") { digits = "1" + digits.dropFirst() }
        return prefix + "." + digits
    }

    /// FNV-1a, 64-bit variant (short stable names).
    public static func fnv1a64(_ key: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }

    /// FNV-1a, 128-bit variant.
    static func fnv1a128(_ key: String) -> UInt128 {
        var hash: UInt128 = 0x6c62272e07bb014262b821756295c58d
        let prime: UInt128 = 0x0000000001000000000000000000013B
        for byte in key.utf8 {
            hash ^= UInt128(byte)
            hash = hash &* prime
        }
        return hash
    }
}
