import DRMAACore
import LocalDRMWire

/// The wire format of LocalDRM's durable mode (`LocalDRMWire`): every decoder and the frame reader.
///
/// Input: the first byte chooses what the rest is: 0 a client message, 1 a daemon message,
/// 2 submission inputs, 3 a job outcome, 4 a job template, 5 a job record, 6 a byte stream cut
/// into frames (the second byte sets the size of the reads, 1 to 256 bytes; each frame is then
/// decoded as both kinds of message).
/// Invariants: decoding throws a `WireError` or gives a value that re-encodes to exactly the
/// input (the format has one encoding per value), and those bytes decode again; the frames
/// read, framed again, are the stream's start, and what remains is less than a frame; a reader
/// fails only on a length over the maximum.
enum WireTarget {
    static func run(_ data: [UInt8]) -> Int32 {
        guard let selector = data.first else { return 0 }
        let rest = Array(data.dropFirst())
        switch selector % 7 {
        case 0: roundTrip(ClientMessage.self, rest)
        case 1: roundTrip(DaemonMessage.self, rest)
        case 2: roundTrip(SubmissionInputs.self, rest)
        case 3: roundTrip(JobOutcome.self, rest)
        case 4: roundTrip(JobTemplate.self, rest)
        case 5: roundTrip(JobRecord.self, rest)
        default: frames(rest)
        }
        return 0
    }

    static func roundTrip<Value: WireCodable>(_ type: Value.Type, _ bytes: [UInt8]) {
        let value: Value
        do {
            value = try Value(wireBytes: bytes)
        } catch {
            check(!error.message.isEmpty, "\(Value.self): an error without a message")
            return
        }
        let again = value.wireBytes
        check(again == bytes, "\(Value.self): \(bytes) decodes, but re-encodes as \(again)")
        do {
            let second = try Value(wireBytes: again)
            check(second.wireBytes == again, "\(Value.self): \(again) re-encodes differently a second time")
        } catch {
            fail("\(Value.self): the re-encoding \(again) of \(bytes) does not decode: \(error)")
        }
    }

    static func frames(_ data: [UInt8]) {
        guard let first = data.first else { return }
        let stream = Array(data.dropFirst())
        let chunk = Int(first) + 1
        var reader = FrameReader(maximumPayloadSize: 1 << 16)
        var payloads: [[UInt8]] = []
        var offset = 0
        var failed = false
        reading: while offset < stream.count {
            let end = min(stream.count, offset + chunk)
            reader.append(stream[offset..<end])
            offset = end
            do {
                while let payload = try reader.next() { payloads.append(payload) }
            } catch {
                check(error.kind == .frameTooLarge, "the frame reader failed with \(error)")
                failed = true
                break reading
            }
        }
        var reframed: [UInt8] = []
        for payload in payloads {
            do { try Frame.append(payload, to: &reframed) } catch { fail("a payload read cannot be framed again: \(error)") }
            roundTrip(ClientMessage.self, payload)
            roundTrip(DaemonMessage.self, payload)
        }
        check(Array(stream.prefix(reframed.count)) == reframed, "the frames read, framed again, are not the start of the stream")
        if !failed {
            check(reader.bufferedByteCount == stream.count - reframed.count, "the reader lost or invented bytes")
            let left = stream.dropFirst(reframed.count)
            if left.count >= Frame.headerSize {
                let length = left.prefix(4).reversed().reduce(0) { $0 << 8 | Int($1) }
                check(left.count < Frame.headerSize + length, "a complete frame was left in the reader")
            }
        }
    }
}
