import DRMAACore

// The compact binary codec of LocalDRM's durable mode (the daemon's protocol and its spool).
//
// Primitives:
// - unsigned integers: LEB128 varints (7 bits a byte, low group first), at most 10 bytes for 64
//   bits, and canonical: no trailing zero group, so each value has exactly one encoding;
// - signed integers: zigzag (0, -1, 1, -2 … → 0, 1, 2, 3 …), then a varint;
// - booleans: one byte, 0 or 1;
// - doubles: the 8 bytes of the IEEE bit pattern, little-endian (NaN payloads and -0 survive);
// - byte strings: a varint length, then the bytes; a `String` travels as its `exactBytes`, so
//   any bytes, including invalid UTF-8 and NULs, come back exactly (`String(exactBytes:)`);
// - optionals: a boolean, then the value if present; lists: a varint count, then the elements.
//
// Decoding is total and strict: every malformed input throws a `WireError`, never traps, and
// never allocates more than the input could hold (a length or count is checked against the
// bytes that remain before anything is allocated). Since every decoder accepts only the one
// encoding its encoder writes, a value that decodes re-encodes to exactly the bytes it came from.

/// Why bytes could not be decoded (or a frame not made): a typed error with a precise message.
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kinds of failure.
    public enum Kind: Sendable, Equatable {
        /// The input ended inside a value.
        case truncated
        /// The bytes are not a valid encoding (overlong varint, out-of-range number, bad flag,
        /// invalid attribute value, bytes after the end of a message…).
        case malformed
        /// A tag this version does not know where it cannot be kept as unknown.
        case unknownTag
        /// A frame longer than the maximum frame size.
        case frameTooLarge
    }

    public let kind: Kind
    /// What was wrong and where, for a log or a diagnosis.
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// The DRMAA error a library call reports for it: the daemon's bytes could not be understood.
    public var drmaaError: DRMAAError {
        DRMAAError(.drmCommunicationFailure, "malformed message from the LocalDRM daemon: \(message)")
    }
}

/// Writes values in the wire format into a growing byte array.
public struct WireEncoder: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    /// An empty encoder; `capacity` reserves room for that many bytes.
    public init(capacity: Int = 0) {
        bytes = []
        if capacity > 0 { bytes.reserveCapacity(capacity) }
    }

    /// An unsigned integer as a LEB128 varint.
    public mutating func write(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// An unsigned integer (non-negative `Int` counts, lengths, tags).
    public mutating func write(unsigned value: Int) {
        write(UInt64(UInt(bitPattern: value)))
    }

    /// A signed integer, zigzag-encoded.
    public mutating func write(_ value: Int64) {
        write(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// A signed integer, zigzag-encoded.
    public mutating func write(_ value: Int) { write(Int64(value)) }

    /// A signed 32-bit integer, zigzag-encoded.
    public mutating func write(_ value: Int32) { write(Int64(value)) }

    /// A boolean as one byte, 0 or 1.
    public mutating func write(_ value: Bool) { bytes.append(value ? 1 : 0) }

    /// A double as its 8-byte bit pattern, little-endian.
    public mutating func write(_ value: Double) {
        let pattern = value.bitPattern
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: pattern >> UInt64(shift))) }
    }

    /// A length-prefixed byte string.
    public mutating func write<Bytes: Collection<UInt8>>(bytes value: Bytes) {
        write(unsigned: value.count)
        bytes.append(contentsOf: value)
    }

    /// A string as its exact bytes, length-prefixed.
    public mutating func write(_ value: String) {
        var value = value
        // The common case: no byte F4, so no code point of the escape range, so the UTF-8 is
        // the exact bytes (what `exactBytes` returns, without its generic, unspecialised path).
        let done = value.withUTF8 { (utf8) -> Bool in
            guard !utf8.containsByteF4 else { return false }
            write(unsigned: utf8.count)
            bytes.append(contentsOf: utf8)
            return true
        }
        if !done { write(bytes: value.exactBytes) }
    }

    /// Bytes as they are, without a length (a tail already encoded, such as an unknown message's body).
    public mutating func append<Bytes: Sequence<UInt8>>(raw: Bytes) {
        bytes.append(contentsOf: raw)
    }

    /// An optional: a presence flag, then the value.
    public mutating func write<Value>(_ value: Value?, _ writeValue: (inout WireEncoder, Value) -> Void) {
        write(value != nil)
        if let value { writeValue(&self, value) }
    }

    /// An optional string.
    public mutating func write(_ value: String?) {
        write(value) { $0.write($1) }
    }

    /// A list: the count, then each element.
    public mutating func write<Element>(_ values: [Element], _ writeElement: (inout WireEncoder, Element) -> Void) {
        write(unsigned: values.count)
        for value in values { writeElement(&self, value) }
    }

    /// A list of strings.
    public mutating func write(_ values: [String]) {
        write(values) { $0.write($1) }
    }

    /// A value of a ``WireCodable`` type.
    public mutating func write<Value: WireCodable>(_ value: Value) {
        value.encode(to: &self)
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// True if a byte is F4, the lead byte of every code point of the exact-bytes escape range
    /// (U+10FF80…U+10FFFF): without one, a string's UTF-8 is its exact bytes. A plain loop,
    /// which the compiler vectorises.
    var containsByteF4: Bool {
        var found = false
        for byte in self { found = found || byte == 0xF4 }
        return found
    }

    /// True if every byte is ASCII (then the bytes are valid UTF-8 and hold no escaped byte).
    var isASCII: Bool {
        var bits: UInt8 = 0
        for byte in self { bits |= byte }
        return bits < 0x80
    }
}

/// Reads values in the wire format from bytes; every read either succeeds or throws a ``WireError``.
public struct WireDecoder: Sendable {
    private let bytes: [UInt8]
    /// The offset of the next byte to read.
    public private(set) var position: Int
    private let end: Int

    /// A decoder over all of `bytes`.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        position = 0
        end = bytes.count
    }

    /// How many bytes are left.
    public var remaining: Int { end - position }

    /// True when every byte has been read.
    public var isAtEnd: Bool { position == end }

    /// Throws unless every byte has been read: a message is exactly its fields.
    public func finish(_ what: String) throws(WireError) {
        guard position == end else {
            throw WireError(.malformed, "\(remaining) unexpected bytes after the end of \(what) (at offset \(position))")
        }
    }

    /// An unsigned LEB128 varint: at most 10 bytes, canonical.
    public mutating func readUInt64(_ what: @autoclosure () -> String = "a number") throws(WireError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        let start = position
        while true {
            guard position < end else {
                throw WireError(.truncated, "the input ends inside \(what()) (at offset \(start))")
            }
            let byte = bytes[position]
            position += 1
            if shift == 63 && byte > 1 {
                throw WireError(.malformed, "\(what()) at offset \(start) does not fit 64 bits")
            }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 {
                    throw WireError(.malformed, "\(what()) at offset \(start) is not in its shortest encoding")
                }
                return value
            }
            shift += 7
        }
    }

    /// A non-negative number that fits an `Int`.
    public mutating func readUnsigned(_ what: @autoclosure () -> String = "a number") throws(WireError) -> Int {
        let start = position
        let value = try readUInt64(what())
        guard value <= UInt64(Int.max) else {
            throw WireError(.malformed, "\(what()) at offset \(start) is \(value), larger than \(Int.max)")
        }
        return Int(value)
    }

    /// A count of elements (or a length in bytes) that the remaining input can hold, at
    /// `minimumSize` bytes per element: the cap that keeps decoding from allocating unboundedly.
    public mutating func readCount(_ what: @autoclosure () -> String, minimumSize: Int = 1) throws(WireError) -> Int {
        let start = position
        let value = try readUInt64(what())
        guard value <= UInt64(remaining / max(1, minimumSize)) else {
            throw WireError(.truncated, "\(what()) at offset \(start) is \(value), but only \(remaining) bytes follow")
        }
        return Int(value)
    }

    /// A zigzag-encoded signed integer.
    public mutating func readInt64(_ what: @autoclosure () -> String = "a number") throws(WireError) -> Int64 {
        let raw = try readUInt64(what())
        return Int64(bitPattern: raw >> 1) ^ -Int64(bitPattern: raw & 1)
    }

    /// A zigzag-encoded signed integer that fits an `Int`.
    public mutating func readInt(_ what: @autoclosure () -> String = "a number") throws(WireError) -> Int {
        Int(try readInt64(what()))  // Int is 64 bits on every platform this library supports.
    }

    /// A zigzag-encoded signed integer that fits 32 bits.
    public mutating func readInt32(_ what: @autoclosure () -> String = "a number") throws(WireError) -> Int32 {
        let start = position
        let value = try readInt64(what())
        guard let narrow = Int32(exactly: value) else {
            throw WireError(.malformed, "\(what()) at offset \(start) is \(value), out of the 32-bit range")
        }
        return narrow
    }

    /// An unsigned integer that fits 32 bits.
    public mutating func readUInt32(_ what: @autoclosure () -> String = "a number") throws(WireError) -> UInt32 {
        let start = position
        let value = try readUInt64(what())
        guard let narrow = UInt32(exactly: value) else {
            throw WireError(.malformed, "\(what()) at offset \(start) is \(value), out of the 32-bit range")
        }
        return narrow
    }

    /// A boolean: exactly 0 or 1.
    public mutating func readBool(_ what: @autoclosure () -> String = "a flag") throws(WireError) -> Bool {
        guard position < end else { throw WireError(.truncated, "the input ends before \(what()) (at offset \(position))") }
        let byte = bytes[position]
        guard byte <= 1 else { throw WireError(.malformed, "\(what()) at offset \(position) is \(byte), not 0 or 1") }
        position += 1
        return byte == 1
    }

    /// A double from its 8-byte bit pattern.
    public mutating func readDouble(_ what: @autoclosure () -> String = "a number") throws(WireError) -> Double {
        guard remaining >= 8 else {
            throw WireError(.truncated, "the input ends inside \(what()) (at offset \(position), 8 bytes needed, \(remaining) left)")
        }
        var pattern: UInt64 = 0
        for offset in 0..<8 { pattern |= UInt64(bytes[position + offset]) << UInt64(offset * 8) }
        position += 8
        return Double(bitPattern: pattern)
    }

    /// A length-prefixed byte string.
    public mutating func readBytes(_ what: @autoclosure () -> String = "a byte string") throws(WireError) -> ArraySlice<UInt8> {
        let length = try readCount("the length of \(what())")
        defer { position += length }
        return bytes[position..<position + length]
    }

    /// A length-prefixed string of exact bytes.
    public mutating func readString(_ what: @autoclosure () -> String = "a string") throws(WireError) -> String {
        let length = try readCount("the length of \(what())")
        let start = position
        position += length
        return bytes.withUnsafeBufferPointer { buffer in
            let slice = UnsafeBufferPointer(rebasing: buffer[start..<start + length])
            // Valid UTF-8 without a byte F4 is what `String(exactBytes:)` keeps as it is;
            // anything else takes its escaping path.
            if slice.isASCII { return String(decoding: slice, as: UTF8.self) }  // the fast, specialised path
            if !slice.containsByteF4, let plain = String(validating: slice, as: UTF8.self) { return plain }
            return String(exactBytes: slice)
        }
    }

    /// One byte as it is (no length, no varint): fixed-layout fields such as a magic.
    public mutating func readRawByte() throws(WireError) -> UInt8 {
        guard position < end else { throw WireError(.truncated, "the input ends at offset \(position), where a byte was expected") }
        defer { position += 1 }
        return bytes[position]
    }

    /// The rest of the input, as it is.
    public mutating func readRest() -> [UInt8] {
        defer { position = end }
        return Array(bytes[position..<end])
    }

    /// An optional: a presence flag, then the value.
    public mutating func readOptional<Value>(
        _ what: @autoclosure () -> String, _ readValue: (inout WireDecoder) throws(WireError) -> Value
    ) throws(WireError) -> Value? {
        guard try readBool("the presence flag of \(what())") else { return nil }
        return try readValue(&self)
    }

    /// An optional string.
    public mutating func readOptionalString(_ what: @autoclosure () -> String) throws(WireError) -> String? {
        let name = what()
        return try readOptional(name) { (decoder) throws(WireError) in try decoder.readString(name) }
    }

    /// A list: a count (checked against the remaining bytes at `minimumSize` each), then the elements.
    public mutating func readList<Element>(
        _ what: @autoclosure () -> String, minimumSize: Int = 1,
        _ readElement: (inout WireDecoder) throws(WireError) -> Element
    ) throws(WireError) -> [Element] {
        let count = try readCount("the count of \(what())", minimumSize: minimumSize)
        var elements: [Element] = []
        elements.reserveCapacity(count)
        for _ in 0..<count { elements.append(try readElement(&self)) }
        return elements
    }

    /// A list of strings.
    public mutating func readStrings(_ what: @autoclosure () -> String) throws(WireError) -> [String] {
        let name = what()
        return try readList(name) { (decoder) throws(WireError) in try decoder.readString("an element of \(name)") }
    }

    /// A value of a ``WireCodable`` type.
    public mutating func read<Value: WireCodable>(_ type: Value.Type = Value.self) throws(WireError) -> Value {
        try Value(from: &self)
    }
}

/// A value with a wire encoding: one exact encoding, which decoding accepts and nothing else.
public protocol WireCodable {
    /// Appends this value's encoding.
    func encode(to encoder: inout WireEncoder)
    /// Reads a value; throws on anything that is not a valid encoding.
    init(from decoder: inout WireDecoder) throws(WireError)
}

extension WireCodable {
    /// This value's encoding on its own (a spool payload, a message body).
    public var wireBytes: [UInt8] {
        var encoder = WireEncoder(capacity: 256)
        encode(to: &encoder)
        return encoder.bytes
    }

    /// Decodes a value that must fill `bytes` exactly.
    public init(wireBytes bytes: [UInt8]) throws(WireError) {
        var decoder = WireDecoder(bytes)
        self = try Self(from: &decoder)
        try decoder.finish("\(Self.self)")
    }
}
