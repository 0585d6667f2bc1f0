/// Byte-exact strings: how DRMAA values that are not valid UTF-8 travel through Swift `String`s.
///
/// C callers pass bytes (`char *`): file names, arguments and environment values on Unix are
/// byte strings, and need not be UTF-8. A Swift `String` is always valid Unicode, so a plain
/// conversion would replace such bytes with U+FFFD and the job would see other bytes than its
/// submitter gave. Instead, every byte of the input that is not part of a well-formed UTF-8
/// sequence is kept as one code point of the range U+10FF80…U+10FFFF (the last 128 code points
/// of Supplementary Private Use Area-B): byte `b` becomes U+10FF00 + `b`. Converting back turns
/// each such code point into its byte again, so C → Swift → C gives back exactly the bytes given.
///
/// Valid UTF-8 that itself encodes a code point of that range is escaped byte by byte too, so the
/// round trip from bytes is exact for every input. Only a Swift string that contains those code
/// points on purpose would not survive the trip to bytes unchanged; nothing uses them otherwise.
extension String {
    /// The first code point of the escape range: byte `b` (0x80…0xFF) is kept as `escapeBase + b`.
    static let escapeBase: UInt32 = 0x10FF00

    /// A string holding exactly `bytes`: UTF-8 sequences decode as usual, any other byte is
    /// escaped as described at the top of this extension.
    public init<Bytes: Collection<UInt8>>(exactBytes bytes: Bytes) {
        if let plain = String(validating: bytes, as: UTF8.self), !plain.utf8.containsEscapeRange {
            self = plain
            return
        }
        let bytes = Array(bytes)
        var scalars = String.UnicodeScalarView()
        var index = 0
        while index < bytes.count {
            if let (value, length) = Self.wellFormedScalar(bytes, at: index), value < Self.escapeBase + 0x80 {
                scalars.append(Unicode.Scalar(value)!)
                index += length
            } else {
                // Not UTF-8, or a code point of the escape range: keep this one byte, go on after it.
                scalars.append(Self.escaped(bytes[index]))
                index += 1
            }
        }
        self = String(scalars)
    }

    /// The well-formed UTF-8 sequence at `index` (Unicode's table 3-7), as its value and length.
    private static func wellFormedScalar(_ bytes: [UInt8], at index: Int) -> (UInt32, Int)? {
        let lead = bytes[index]
        if lead < 0x80 { return (UInt32(lead), 1) }
        let length: Int, second: ClosedRange<UInt8>
        switch lead {
        case 0xC2...0xDF: (length, second) = (2, 0x80...0xBF)
        case 0xE0: (length, second) = (3, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (length, second) = (3, 0x80...0xBF)
        case 0xED: (length, second) = (3, 0x80...0x9F)
        case 0xF0: (length, second) = (4, 0x90...0xBF)
        case 0xF1...0xF3: (length, second) = (4, 0x80...0xBF)
        case 0xF4: (length, second) = (4, 0x80...0x8F)
        default: return nil
        }
        guard index + length <= bytes.count, second.contains(bytes[index + 1]) else { return nil }
        var value = UInt32(lead) & (0xFF >> (length + 1))
        for offset in 1..<length {
            let byte = bytes[index + offset]
            guard byte & 0xC0 == 0x80 else { return nil }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        return (value, length)
    }

    /// A string holding exactly the bytes of a NUL-terminated C string.
    public init(exactCString pointer: UnsafePointer<CChar>) {
        let length = strlenOf(pointer)
        self = pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(exactBytes: UnsafeBufferPointer(start: $0, count: length))
        }
    }

    /// The bytes this string stands for: its UTF-8, with escaped bytes turned back into themselves.
    public var exactBytes: [UInt8] {
        guard utf8.containsEscapeRange else { return Array(utf8) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        for scalar in unicodeScalars {
            if scalar.value >= Self.escapeBase + 0x80 {
                bytes.append(UInt8(scalar.value - Self.escapeBase))
            } else {
                bytes.append(contentsOf: UTF8.encode(scalar)!)
            }
        }
        return bytes
    }

    /// Calls `body` with this string's ``exactBytes`` as a NUL-terminated C string.
    public func withExactCString<Result, Failure: Error>(
        _ body: (UnsafePointer<CChar>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        var bytes = exactBytes
        bytes.append(0)
        return try bytes.withUnsafeBufferPointer { (buffer) throws(Failure) in
            try buffer.withMemoryRebound(to: CChar.self) { (chars) throws(Failure) in try body(chars.baseAddress!) }
        }
    }

    /// The longest start of this string whose ``exactBytes`` are at most `limit` bytes, cut between
    /// code points, so that it never ends inside a UTF-8 sequence (an escaped byte counts as one).
    public func prefix(exactByteCount limit: Int) -> String {
        var kept = String.UnicodeScalarView()
        var count = 0
        for scalar in unicodeScalars {
            let size = scalar.value >= Self.escapeBase + 0x80 ? 1 : UTF8.width(scalar)
            guard count + size <= limit else { return String(kept) }
            count += size
            kept.append(scalar)
        }
        return self
    }

    private static func escaped(_ byte: UInt8) -> Unicode.Scalar {
        Unicode.Scalar(escapeBase + UInt32(byte))!
    }
}

private func strlenOf(_ pointer: UnsafePointer<CChar>) -> Int {
    var length = 0
    while pointer[length] != 0 { length += 1 }
    return length
}

extension String.UTF8View {
    /// True if the UTF-8 holds a lead sequence of the escape range (F4 8F BE… or F4 8F BF…).
    var containsEscapeRange: Bool {
        var state = 0
        for byte in self {
            switch (state, byte) {
            case (_, 0xF4): state = 1
            case (1, 0x8F): state = 2
            case (2, 0xBE), (2, 0xBF): return true
            default: state = 0
            }
        }
        return false
    }
}
