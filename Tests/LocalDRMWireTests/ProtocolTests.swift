import Testing
import DRMAACore
import LocalDRMWire

@Suite("Wire protocol v1: messages and handshake", .timeLimit(.minutes(2)))
struct WireMessageTests {
    @Test("every request, reply, event and message of both directions round-trips")
    func roundTrips() throws {
        for request in Samples.requests { try expectRoundTrip(request) }
        for reply in Samples.replies { try expectRoundTrip(reply) }
        for event in Samples.events { try expectRoundTrip(event) }
        for message in Samples.clientMessages { try expectRoundTrip(message) }
        for message in Samples.daemonMessages { try expectRoundTrip(message) }
    }

    @Test("truncating any message at any byte throws, never traps")
    func truncation() {
        for message in Samples.clientMessages { expectEveryTruncationThrows(message) }
        for message in Samples.daemonMessages { expectEveryTruncationThrows(message) }
    }

    @Test("the layout of hello and welcome is the frozen one: kind, magic DRMAA, version, pid")
    func handshakeLayout() throws {
        #expect(ClientMessage.hello(Hello(version: 1, clientPID: 5)).wireBytes == [1, 0x44, 0x52, 0x4D, 0x41, 0x41, 1, 10])
        #expect(DaemonMessage.welcome(Welcome(version: 1, daemonPID: -1)).wireBytes == [1, 1, 1])
        #expect(ClientMessage.request(id: 3, .exitSession).wireBytes == [2, 3, 7])
        let notDRMAA = decodeError(ClientMessage.self, [1, 0x48, 0x54, 0x54, 0x50, 0x2F, 1, 0])
        #expect(notDRMAA?.message.contains("does not start with the magic \"DRMAA\"") == true)
    }

    @Test("unknown requests, replies and events decode as unknown with their bytes, and re-encode the same")
    func unknownTags() throws {
        let request: [UInt8] = [2, 9, 0x63, 0xFF, 0x00, 0x01]
        let decoded = try ClientMessage(wireBytes: request)
        #expect(decoded == .request(id: 9, .unknown(tag: 0x63, body: [0xFF, 0x00, 0x01])))
        #expect(decoded.wireBytes == request)
        #expect(try DaemonMessage(wireBytes: [3, 1, 100]) == .reply(id: 1, .unknown(tag: 100, body: [])))
        #expect(try DaemonMessage(wireBytes: [4, 0, 7]) == .event(.unknown(tag: 0, body: [7])))
        // An unknown message kind cannot be answered: refused, naming it.
        #expect(decodeError(ClientMessage.self, [3]) == WireError(.unknownTag, "client message kind 3 is neither hello (1) nor request (2)"))
        #expect(decodeError(DaemonMessage.self, [0])?.kind == .unknownTag)
    }

    @Test("a block of job ids is 1 to 1,024 ids that fit 64 bits; other counts and ranges are refused")
    func jobIDBlocks() {
        #expect(decodeError(Request.self, [9, 0]) == WireError(.malformed, "0 job ids asked for at once; 1 to 1024 may be"))
        #expect(decodeError(Request.self, [9, 0x81, 0x08]) == WireError(.malformed, "1025 job ids asked for at once; 1 to 1024 may be"))
        #expect(decodeError(Reply.self, [7, 0, 1]) == WireError(.malformed, "job ids from 0, 1 of them, are out of range"))
        let last = Reply.reservedJobIDs(first: Int64.max - 1, count: 2).wireBytes
        #expect(decodeError(Reply.self, last)?.kind == .malformed)
    }

    @Test("a client of the daemon's version is welcomed; a newer or older one gets an error naming both versions")
    func versionNegotiation() throws {
        let welcome = WireProtocol.answer(Hello(clientPID: 10), daemonPID: 20)
        #expect(welcome == .welcome(Welcome(version: WireProtocol.version, daemonPID: 20)))
        #expect(try WireProtocol.accept(welcome) == Welcome(version: WireProtocol.version, daemonPID: 20))

        let newer = WireProtocol.answer(Hello(version: 2, clientPID: 10), daemonPID: 20, supportedVersions: 1...1)
        guard case .refused(let tooNew) = newer else { Issue.record("a newer client was welcomed: \(newer)"); return }
        #expect(tooNew.code == .drmsInitFailed)
        #expect(tooNew.message.contains("protocol version 2") && tooNew.message.contains("speaks version 1"))
        #expect(tooNew.message.contains("the library is newer than the daemon"))
        // The refusal reaches the client through the wire and becomes its error.
        let received = try DaemonMessage(wireBytes: newer.wireBytes)
        #expect(throws: tooNew) { try WireProtocol.accept(received, clientVersion: 2) }

        let older = WireProtocol.answer(Hello(version: 1, clientPID: 10), daemonPID: 20, supportedVersions: 2...3)
        guard case .refused(let tooOld) = older else { Issue.record("an older client was welcomed: \(older)"); return }
        #expect(tooOld.message.contains("protocol version 1") && tooOld.message.contains("versions 2 to 3"))
        #expect(tooOld.message.contains("the library is older than the daemon"))

        // A welcome at another version than the client's (a daemon that got it wrong) is refused by the client.
        #expect(throws: DRMAAError.self) { try WireProtocol.accept(.welcome(Welcome(version: 7, daemonPID: 1)), clientVersion: 1) }
        #expect(throws: DRMAAError.self) { try WireProtocol.accept(.reply(id: 0, .ok)) }
    }

    @Test("lists of 100,000 job ids and an empty list travel in one frame")
    func largeLists() throws {
        let ids = (1...100_000).map { "\($0).\($0 % 7)" }
        let frame = try ClientMessage.request(id: 1, .status(jobIDs: ids)).framed()
        var reader = FrameReader()
        reader.append(frame)
        let payload = try #require(try reader.next())
        #expect(try ClientMessage(wireBytes: payload) == .request(id: 1, .status(jobIDs: ids)))
        try expectRoundTrip(Request.reap(jobIDs: []))
    }
}

@Suite("Wire framing", .timeLimit(.minutes(2)))
struct FramingTests {
    static var stream: (bytes: [UInt8], payloads: [[UInt8]]) {
        let payloads = Samples.daemonMessages.prefix(12).map(\.wireBytes) + [[]]
        var bytes: [UInt8] = []
        for payload in payloads { try! Frame.append(payload, to: &bytes) }
        return (bytes, payloads)
    }

    @Test("a frame is a little-endian u32 length and the payload")
    func layout() throws {
        #expect(try Frame.make([0xAA, 0xBB]) == [2, 0, 0, 0, 0xAA, 0xBB])
        #expect(try Reply.ok.framed() == [1, 0, 0, 0, 1])
        #expect(try Frame.make([]) == [0, 0, 0, 0])
    }

    @Test("a stream split at every offset yields the same frames")
    func splitAtEveryOffset() throws {
        let (bytes, payloads) = Self.stream
        for split in 0...bytes.count {
            var reader = FrameReader()
            reader.append(bytes[..<split])
            var frames = try reader.frames()
            reader.append(bytes[split...])
            frames += try reader.frames()
            #expect(frames == payloads, "split at \(split)")
            #expect(reader.bufferedByteCount == 0)
        }
    }

    @Test("byte by byte, and all frames in one read")
    func byteByByteAndAllAtOnce() throws {
        let (bytes, payloads) = Self.stream
        var reader = FrameReader()
        var frames: [[UInt8]] = []
        for byte in bytes {
            reader.append(CollectionOfOne(byte))
            frames += try reader.frames()
        }
        #expect(frames == payloads)
        var once = FrameReader()
        bytes.withUnsafeBytes { once.append($0) }
        #expect(try once.frames() == payloads)
        #expect(try once.next() == nil)
    }

    @Test("a length over the maximum is an error at once, and the reader stays failed")
    func tooLarge() throws {
        var reader = FrameReader(maximumPayloadSize: 16)
        reader.append([16, 0, 0, 0] + [UInt8](repeating: 7, count: 16))
        #expect(try reader.next() == [UInt8](repeating: 7, count: 16))
        reader.append([17, 0, 0])
        #expect(try reader.next() == nil)
        reader.append([0])
        #expect(throws: WireError(.frameTooLarge, "the peer announced a frame of 17 bytes, larger than the maximum of 16 bytes")) { try reader.next() }
        reader.append([0, 0, 0, 0])
        #expect(throws: WireError.self) { try reader.next() }
        var huge = FrameReader()
        huge.append([0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: WireError.self) { try huge.next() }
        #expect(throws: WireError.self) { try Frame.make([UInt8](repeating: 0, count: 17), maximumPayloadSize: 16) }
        #expect(throws: WireError.self) { try Reply.submitted(jobID: String(repeating: "1", count: 20)).framed(maximumPayloadSize: 16) }
    }

    @Test("a payload of exactly the maximum frame size (64 MiB) passes; one byte more is refused")
    func maximumSize() throws {
        #expect(Frame.maximumPayloadSize == 64 * 1024 * 1024)
        // kind 3, id 0, tag 4, a length of 4 bytes: 7 bytes before the id's text.
        let text = String(repeating: "9", count: Frame.maximumPayloadSize - 7)
        let message = DaemonMessage.reply(id: 0, .submitted(jobID: text))
        let frame = try message.framed()
        #expect(frame.count == Frame.headerSize + Frame.maximumPayloadSize)
        var reader = FrameReader()
        reader.append(frame)
        let payload = try #require(try reader.next())
        #expect(try DaemonMessage(wireBytes: payload) == message)
        #expect(throws: WireError.self) { try DaemonMessage.reply(id: 0, .submitted(jobID: text + "9")).framed() }
    }
}
