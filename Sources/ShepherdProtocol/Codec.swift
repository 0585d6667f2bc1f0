// The byte layout shared by the shepherd's messages and its outcome file: little-endian,
// fixed-width integers; a Double travels as the 8 bytes of its IEEE bit pattern (so -0 and NaN
// payloads survive); a string as a UInt32 byte count and its UTF-8 bytes.
//
// Decoding is strict: it names the field it was reading when the input ended, refuses a string
// that is not valid UTF-8, and never allocates more than the input holds (a length is checked
// against the bytes that remain first). Every value has exactly one encoding, so whatever decodes
// re-encodes to the bytes it came from.

/// Appends fixed-width little-endian values to a byte array.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func write(_ value: UInt8) { bytes.append(value) }

    mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func write(_ value: Double) { write(value.bitPattern) }

    /// A UInt32 byte count, then the string's UTF-8 bytes.
    mutating func write(_ string: String) {
        write(UInt32(truncatingIfNeeded: string.utf8.count))
        bytes.append(contentsOf: string.utf8)
    }

    mutating func write(_ raw: some Sequence<UInt8>) { bytes.append(contentsOf: raw) }

    /// A UInt32 byte count, then the bytes.
    mutating func writeBytes(_ raw: [UInt8]) {
        write(UInt32(truncatingIfNeeded: raw.count))
        bytes.append(contentsOf: raw)
    }
}

/// Reads fixed-width little-endian values from bytes, front to back.
struct ByteReader {
    private let bytes: [UInt8]
    private(set) var offset = 0
    /// What is being decoded, for the error messages ("finished message", "outcome file").
    let what: String

    /// A reader of `bytes` from offset `skipping` (a tag already looked at: offsets in messages
    /// count from the start of the input).
    init(_ bytes: some Collection<UInt8>, what: String, skipping: Int = 0) {
        self.bytes = Array(bytes)
        self.what = what
        offset = min(skipping, self.bytes.count)
    }

    var remaining: Int { bytes.count - offset }

    private func truncated(_ field: String, needing count: Int) -> ShepherdProtocolError {
        ShepherdProtocolError("\(what) is truncated: \(field) needs \(count) bytes at offset \(offset), "
                              + "only \(remaining) remain (\(bytes.count) bytes in all)")
    }

    mutating func readByte(_ field: String) throws(ShepherdProtocolError) -> UInt8 {
        guard remaining >= 1 else { throw truncated(field, needing: 1) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: String) throws(ShepherdProtocolError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw truncated(field, needing: size) }
        var value: T = 0
        for index in 0..<size { value |= T(truncatingIfNeeded: bytes[offset + index]) << (8 * index) }
        offset += size
        return value
    }

    mutating func readDouble(_ field: String) throws(ShepherdProtocolError) -> Double {
        Double(bitPattern: try read(UInt64.self, field))
    }

    /// `count` raw bytes (checked against what remains before anything is copied).
    mutating func readBytes(_ count: Int, _ field: String) throws(ShepherdProtocolError) -> ArraySlice<UInt8> {
        guard remaining >= count else { throw truncated(field, needing: count) }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    /// A UInt32 byte count and that many bytes of valid UTF-8.
    mutating func readString(_ field: String) throws(ShepherdProtocolError) -> String {
        let start = offset
        let count = Int(try read(UInt32.self, "the length of \(field)"))
        let raw = try readBytes(count, field)
        guard let string = String(validating: raw, as: UTF8.self) else {
            throw ShepherdProtocolError("\(what): \(field) at offset \(start) is not valid UTF-8")
        }
        return string
    }

    /// A UInt32 byte count and that many bytes, none of them NUL (a C string's contents).
    mutating func readCString(_ field: String) throws(ShepherdProtocolError) -> [UInt8] {
        let start = offset
        let count = Int(try read(UInt32.self, "the length of \(field)"))
        let raw = try readBytes(count, field)
        guard !raw.contains(0) else { throw ShepherdProtocolError("\(what): \(field) at offset \(start) contains a NUL byte") }
        return Array(raw)
    }

    /// Throws if bytes are left after the last field.
    func expectEnd() throws(ShepherdProtocolError) {
        guard remaining == 0 else {
            throw ShepherdProtocolError("\(what) is too long: \(remaining) unexpected bytes after offset \(offset) "
                                        + "(\(bytes.count) bytes in all)")
        }
    }
}
