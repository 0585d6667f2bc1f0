import DRMAACore
import Testing

/// Values that are not UTF-8 (file names, arguments, environment values from C) survive the trip
/// through Swift strings byte for byte.
@Suite("Byte-exact strings", .timeLimit(.minutes(1)))
struct ExactBytesTests {
    @Test("valid UTF-8 is an ordinary string, and gives its UTF-8 back")
    func validUTF8() {
        for text in ["", "plain", "café ✓ 日本", "$drmaa_hd_ph$/out", "\u{10FF7F}"] {
            let string = String(exactBytes: Array(text.utf8))
            #expect(string == text && string.exactBytes == Array(text.utf8))
        }
    }

    @Test("every invalid byte is kept and given back: lone continuation bytes, truncated and overlong sequences, surrogates")
    func invalidBytes() {
        let cases: [[UInt8]] = [
            [0xFF], [0x80], Array("caf".utf8) + [0xE9, 0xFF], [0xE9, 0x74, 0xE9], [0xC0, 0xAF], [0xE0, 0x80, 0xAF],
            [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xF0, 0x9F, 0x98], [0xE2, 0x9C], Array("a".utf8) + [0xC3],
        ]
        for bytes in cases {
            let string = String(exactBytes: bytes)
            #expect(string.exactBytes == bytes, "\(bytes)")
            #expect(!string.unicodeScalars.contains("\u{FFFD}"))
        }
    }

    @Test("UTF-8 of the escape range itself is escaped too, so bytes always round-trip")
    func escapeRangeIsEscaped() {
        let bytes = Array("\u{10FF80}\u{10FFFF}".utf8)
        let string = String(exactBytes: bytes)
        #expect(string.exactBytes == bytes)
        #expect(string.unicodeScalars.count == bytes.count)
    }

    @Test("every byte string of up to two bytes round-trips, and random ones of any length")
    func exhaustiveAndRandom() {
        for first in 1...255 {
            for second in [0x01, 0x41, 0x7F, 0x80, 0xA9, 0xBF, 0xC3, 0xE9, 0xFF] {
                let bytes = [UInt8(first), UInt8(second)]
                #expect(String(exactBytes: bytes).exactBytes == bytes)
            }
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let bytes = (0..<Int.random(in: 0...24, using: &generator)).map { _ in UInt8.random(in: 1...255, using: &generator) }
            #expect(String(exactBytes: bytes).exactBytes == bytes, "\(bytes)")
        }
    }

    @Test("a C string converts through the same rules, and withExactCString gives the bytes back NUL-terminated")
    func cStrings() {
        let bytes: [CChar] = [0x6F, 0x75, 0x74, CChar(bitPattern: 0xE9), CChar(bitPattern: 0xFF), 0]
        let string = bytes.withUnsafeBufferPointer { String(exactCString: $0.baseAddress!) }
        #expect(string.exactBytes == [0x6F, 0x75, 0x74, 0xE9, 0xFF])
        let back = string.withExactCString { pointer in (0..<6).map { pointer[$0] } }
        #expect(back == bytes)
    }

    @Test("a template keeps such values exactly (set and get by name)")
    func templateRoundTrip() throws {
        var template = JobTemplate()
        let path = String(exactBytes: Array(":/tmp/out-".utf8) + [0xE9, 0xFF])
        try template.setAttribute("drmaa_output_path", path)
        #expect(try template.attribute("drmaa_output_path").exactBytes == path.exactBytes)
    }

    @Test("prefix(exactByteCount:) cuts between code points: never inside UTF-8, an escaped byte counts as one")
    func prefixByBytes() {
        let accents = String(repeating: "é", count: 5)  // 10 bytes
        #expect(accents.prefix(exactByteCount: 5) == "éé")
        #expect(accents.prefix(exactByteCount: 10) == accents)
        #expect(accents.prefix(exactByteCount: 0) == "")
        let raw = String(exactBytes: [0x61, 0xFF, 0xFE, 0x62])
        #expect(raw.prefix(exactByteCount: 3).exactBytes == [0x61, 0xFF, 0xFE])
        #expect("a😀b".prefix(exactByteCount: 4) == "a")
    }
}
