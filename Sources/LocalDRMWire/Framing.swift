/// Frames on the daemon's stream socket: a 4-byte little-endian payload length, then the payload
/// (one message). The payload may be empty; it is never longer than ``maximumPayloadSize``.
public enum Frame {
    /// The largest payload a frame may carry: 64 MiB. Far above any real message (a template with
    /// a large environment is a few KiB; a re-attach of 100,000 unreaped jobs a few MiB), low
    /// enough that a corrupt or hostile length cannot make a peer buffer gigabytes.
    public static let maximumPayloadSize = 64 << 20

    /// The size of the length prefix.
    public static let headerSize = 4

    /// `payload` framed: its length, then itself; `frameTooLarge` above the maximum.
    public static func make<Bytes: Collection<UInt8>>(_ payload: Bytes, maximumPayloadSize: Int = Frame.maximumPayloadSize) throws(WireError) -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(headerSize + payload.count)
        try append(payload, to: &frame, maximumPayloadSize: maximumPayloadSize)
        return frame
    }

    /// Appends `payload` framed to `output` (several frames can go out in one write).
    public static func append<Bytes: Collection<UInt8>>(_ payload: Bytes, to output: inout [UInt8],
                                                        maximumPayloadSize: Int = Frame.maximumPayloadSize) throws(WireError) {
        let length = payload.count
        // The length field has 32 bits, whatever maximum the caller gives.
        guard length <= min(maximumPayloadSize, Int(UInt32.max)) else {
            throw WireError(.frameTooLarge, "a message of \(length) bytes is larger than the maximum frame size of \(maximumPayloadSize) bytes")
        }
        let value = UInt32(length)
        output.append(contentsOf: [UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8),
                                   UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 24)])
        output.append(contentsOf: payload)
    }
}

/// Cuts a byte stream into frames: feed it whatever each (non-blocking) read returned, then take
/// the complete frames. A read may end inside a length or a payload, or hold many frames.
///
/// A length above the maximum is a `frameTooLarge` error, and the reader stays failed (the
/// stream has lost its framing: the connection must be closed); nothing of such a frame is
/// buffered beyond what was already read.
public struct FrameReader: Sendable {
    private var buffer: [UInt8] = []
    /// Where the unread bytes of `buffer` begin (consumed bytes are dropped lazily).
    private var start = 0
    private var failure: WireError?
    /// The largest payload accepted.
    public let maximumPayloadSize: Int

    public init(maximumPayloadSize: Int = Frame.maximumPayloadSize) {
        self.maximumPayloadSize = max(0, min(maximumPayloadSize, Int(UInt32.max)))
    }

    /// The bytes received but not yet returned as frames.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Adds bytes read from the stream.
    public mutating func append<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// Adds bytes read from the stream.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame's payload, `nil` until one is complete; throws once the stream
    /// announced a frame longer than the maximum (and on every later call).
    public mutating func next() throws(WireError) -> [UInt8]? {
        if let failure { throw failure }
        let available = buffer.count - start
        guard available >= Frame.headerSize else { return nil }
        let length = Int(buffer[start]) | Int(buffer[start + 1]) << 8 | Int(buffer[start + 2]) << 16 | Int(buffer[start + 3]) << 24
        guard length <= maximumPayloadSize else {
            let error = WireError(.frameTooLarge, "the peer announced a frame of \(length) bytes, larger than the maximum of \(maximumPayloadSize) bytes")
            failure = error
            buffer = []
            start = 0
            throw error
        }
        guard available - Frame.headerSize >= length else { return nil }
        let payloadStart = start + Frame.headerSize
        let payload = Array(buffer[payloadStart..<payloadStart + length])
        start = payloadStart + length
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        return payload
    }

    /// Every complete frame now buffered.
    public mutating func frames() throws(WireError) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        while let frame = try next() { frames.append(frame) }
        return frames
    }

    /// Drops the consumed bytes once they are at least half of the buffer, so that appending
    /// stays amortised O(1) per byte.
    private mutating func compact() {
        guard start > 0, start * 2 >= buffer.count else { return }
        buffer.removeSubrange(0..<start)
        start = 0
    }
}
