import DRMAACore

// Protocol v1 of LocalDRM's durable mode: the messages between the library (the client) and
// the per-user daemon, one message per frame (Framing.swift). A message is a kind tag, then
// its fields in the order written here. Docs/Architecture.md ("Wire protocol") lists them.
//
// Extending: a request, reply or event this version does not know decodes as `.unknown(tag:
// body:)` (the frame tells where it ends), so a daemon can answer an unknown request with an
// error under its request id, and a client can skip an unknown event. Everything else that is
// unknown (a message kind, a tag inside a value) is rejected with a `WireError` naming it.
// Fields are never added to an existing message: a new field is a new tag, or a new version.

/// The protocol version and the handshake.
public enum WireProtocol {
    /// The version this library speaks.
    public static let version: UInt32 = 1
    /// The versions this library's daemon accepts from clients.
    public static let supportedVersions: ClosedRange<UInt32> = 1...1
    /// The five bytes every hello starts with.
    public static let magic: [UInt8] = Array("DRMAA".utf8)

    /// The daemon's answer to a client's hello: welcome at the client's version if the daemon
    /// speaks it, else a refusal whose message names both versions.
    public static func answer(_ hello: Hello, daemonPID: Int32,
                              supportedVersions: ClosedRange<UInt32> = WireProtocol.supportedVersions) -> DaemonMessage {
        guard supportedVersions.contains(hello.version) else {
            return .refused(mismatch(client: hello.version, daemon: supportedVersions, daemonPID: daemonPID))
        }
        return .welcome(Welcome(version: hello.version, daemonPID: daemonPID))
    }

    /// The client's reading of the daemon's first message: the welcome, or the error to report
    /// (the daemon's refusal, a welcome at another version, or anything else).
    public static func accept(_ message: DaemonMessage, clientVersion: UInt32 = WireProtocol.version) throws(DRMAAError) -> Welcome {
        switch message {
        case .welcome(let welcome):
            guard welcome.version == clientVersion else {
                throw mismatch(client: clientVersion, daemon: welcome.version...welcome.version, daemonPID: welcome.daemonPID)
            }
            return welcome
        case .refused(let error):
            throw error
        case .reply, .event:
            throw DRMAAError(.drmCommunicationFailure, "the LocalDRM daemon answered the hello with another message than a welcome")
        }
    }

    /// The error of a client and a daemon that share no version: both versions named, and which is newer.
    static func mismatch(client: UInt32, daemon: ClosedRange<UInt32>, daemonPID: Int32) -> DRMAAError {
        let daemonText = daemon.lowerBound == daemon.upperBound ? "version \(daemon.lowerBound)" : "versions \(daemon.lowerBound) to \(daemon.upperBound)"
        let which = client > daemon.upperBound
            ? "the library is newer than the daemon: stop the daemon (pid \(daemonPID)); the library starts its own on the next use"
            : "the library is older than the daemon (pid \(daemonPID)): use the library installed with it"
        return DRMAAError(.drmsInitFailed,
                          "this DRMAA library speaks LocalDRM protocol version \(client), the running LocalDRM daemon speaks \(daemonText); \(which)")
    }
}

/// The client's first message. Its layout is frozen for every version (the magic, the version,
/// the pid), so that a daemon can always read it and answer with a clear version error.
public struct Hello: Sendable, Equatable {
    /// The protocol version the client speaks.
    public var version: UInt32
    /// The client's process id (the daemon logs it; a forked child reconnects with its own).
    public var clientPID: Int32

    public init(version: UInt32 = WireProtocol.version, clientPID: Int32) {
        self.version = version
        self.clientPID = clientPID
    }
}

/// The daemon's answer to an acceptable hello; frozen like ``Hello``.
public struct Welcome: Sendable, Equatable {
    /// The protocol version of the connection from now on.
    public var version: UInt32
    /// The daemon's process id.
    public var daemonPID: Int32

    public init(version: UInt32 = WireProtocol.version, daemonPID: Int32) {
        self.version = version
        self.daemonPID = daemonPID
    }
}

/// A request of the client; the daemon answers each with a ``Reply`` under the same request id.
public enum Request: Sendable, Equatable {
    /// Tag 1: open a new session with the contact string's options, under the key the library chose. Reply: `ok`.
    case openSession(options: [NamedValue], key: String)
    /// Tag 2: attach this connection to an existing session. Reply: `reattached` (its unreaped jobs).
    case reattach(key: String)
    /// Tag 3: one `run_job` / `run_bulk_jobs` under an id from `reserveJobID` (the job id, or the
    /// bulk job id). Reply: `submitted` (that id).
    case submit(jobID: String, SubmissionInputs)
    /// Tag 4: one control action on these jobs, as one batch. Reply: `controlled` (the jobs it could not act on).
    case control(jobIDs: [String], action: JobControlAction)
    /// Tag 5: the current state of these jobs. Reply: `statuses`.
    case status(jobIDs: [String])
    /// Tag 6: these finished jobs were reaped by wait / synchronize: forget them. Reply: `ok`.
    case reap(jobIDs: [String])
    /// Tag 7: the session exits (its jobs go on; it can be re-attached). Reply: `ok`.
    case exitSession
    /// Tag 8: a new job id, unique for the user across processes and restarts, for the next
    /// submission. Reply: `submitted` (the id, not yet used by any job).
    case reserveJobID
    /// Tag 9: `count` new job ids (1 to 1,024) at once, for a client to use for its next
    /// submissions; ids it never uses are gaps. Reply: `reservedJobIDs`.
    case reserveJobIDs(count: Int)
    /// A request of a later version, kept as its tag and the bytes after it.
    case unknown(tag: UInt64, body: [UInt8])
}

/// The daemon's answer to one request.
public enum Reply: Sendable, Equatable {
    /// Tag 1: done, nothing to report.
    case ok
    /// Tag 2: the request failed as a whole.
    case failed(DRMAAError)
    /// Tag 3: the session's unreaped jobs.
    case reattached([JobRecord])
    /// Tag 4: the id of the submitted job, or of the bulk job.
    case submitted(jobID: String)
    /// Tag 5: the jobs a control request could not act on.
    case controlled(failures: [JobFailure])
    /// Tag 6: the jobs' states (with the outcome of finished ones), and the ids that failed.
    case statuses([JobRecord], failures: [JobFailure])
    /// Tag 7: consecutive job ids `first`, `first + 1`, … (`count` of them), none used yet.
    case reservedJobIDs(first: Int64, count: Int)
    /// A reply of a later version, kept as its tag and the bytes after it.
    case unknown(tag: UInt64, body: [UInt8])
}

/// What the daemon pushes to every connection attached to a session, unasked.
public enum Event: Sendable, Equatable {
    /// Tag 1: a job of the session moved to a state (running, suspended, held, queued).
    case stateChanged(jobID: String, state: JobState)
    /// Tag 2: a job of the session finished.
    case finished(jobID: String, outcome: JobOutcome)
    /// Tag 3: TERMINATE was accepted for a started job of the session; its outcome follows.
    case terminating(jobID: String)
    /// Tag 4: why a job of the session waits (a FIFO without a writer…), `nil` once it no longer does.
    case note(jobID: String, text: String?)
    /// An event of a later version, kept as its tag and the bytes after it.
    case unknown(tag: UInt64, body: [UInt8])
}

/// Everything a client sends: kind 1 `hello`, kind 2 `request` (a request id, then the request).
public enum ClientMessage: Sendable, Equatable {
    case hello(Hello)
    /// A request; the client picks the ids (increasing), the daemon copies each into its reply.
    case request(id: UInt64, Request)
}

/// Everything a daemon sends: kind 1 `welcome`, 2 `refused` (the handshake failed, then the
/// daemon closes), 3 `reply` (a request id, then the reply), 4 `event`.
public enum DaemonMessage: Sendable, Equatable {
    case welcome(Welcome)
    case refused(DRMAAError)
    case reply(id: UInt64, Reply)
    case event(Event)
}

extension Request: WireCodable {
    public func encode(to encoder: inout WireEncoder) {
        switch self {
        case .openSession(let options, let key):
            encoder.write(UInt64(1))
            encoder.write(options) { $0.write($1) }
            encoder.write(key)
        case .reattach(let key):
            encoder.write(UInt64(2))
            encoder.write(key)
        case .submit(let id, let inputs):
            encoder.write(UInt64(3))
            encoder.write(id)
            encoder.write(inputs)
        case .control(let ids, let action):
            encoder.write(UInt64(4))
            encoder.write(ids)
            encoder.write(action)
        case .status(let ids):
            encoder.write(UInt64(5))
            encoder.write(ids)
        case .reap(let ids):
            encoder.write(UInt64(6))
            encoder.write(ids)
        case .exitSession:
            encoder.write(UInt64(7))
        case .reserveJobID:
            encoder.write(UInt64(8))
        case .reserveJobIDs(let count):
            encoder.write(UInt64(9))
            encoder.write(UInt64(count))
        case .unknown(let tag, let body):
            encoder.write(tag)
            encoder.append(raw: body)
        }
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        switch try decoder.readUInt64("a request tag") {
        case 1:
            let options = try decoder.readList("the session options", minimumSize: 2) { (decoder) throws(WireError) in
                try decoder.read(NamedValue.self)
            }
            self = .openSession(options: options, key: try decoder.readString("the session key"))
        case 2: self = .reattach(key: try decoder.readString("the session key"))
        case 3:
            let id = try decoder.readString("the job id")
            self = .submit(jobID: id, try decoder.read(SubmissionInputs.self))
        case 4: self = .control(jobIDs: try decoder.readStrings("the job ids"), action: try decoder.read(JobControlAction.self))
        case 5: self = .status(jobIDs: try decoder.readStrings("the job ids"))
        case 6: self = .reap(jobIDs: try decoder.readStrings("the job ids"))
        case 7: self = .exitSession
        case 8: self = .reserveJobID
        case 9: self = .reserveJobIDs(count: try Self.idCount(&decoder))
        case let tag: self = .unknown(tag: tag, body: decoder.readRest())
        }
    }
}

extension Request {
    /// How many job ids one `reserveJobIDs` may ask for.
    public static let jobIDBlockLimit = 1...1024

    /// A number of job ids, within ``jobIDBlockLimit``.
    static func idCount(_ decoder: inout WireDecoder) throws(WireError) -> Int {
        let count = try decoder.readUnsigned("the number of job ids")
        guard jobIDBlockLimit.contains(count) else {
            throw WireError(.malformed, "\(count) job ids asked for at once; 1 to \(jobIDBlockLimit.upperBound) may be")
        }
        return count
    }
}

extension Reply: WireCodable {
    public func encode(to encoder: inout WireEncoder) {
        switch self {
        case .ok:
            encoder.write(UInt64(1))
        case .failed(let error):
            encoder.write(UInt64(2))
            encoder.write(error)
        case .reattached(let jobs):
            encoder.write(UInt64(3))
            encoder.write(jobs) { $0.write($1) }
        case .submitted(let id):
            encoder.write(UInt64(4))
            encoder.write(id)
        case .controlled(let failures):
            encoder.write(UInt64(5))
            encoder.write(failures) { $0.write($1) }
        case .statuses(let jobs, let failures):
            encoder.write(UInt64(6))
            encoder.write(jobs) { $0.write($1) }
            encoder.write(failures) { $0.write($1) }
        case .reservedJobIDs(let first, let count):
            encoder.write(UInt64(7))
            encoder.write(UInt64(first))
            encoder.write(UInt64(count))
        case .unknown(let tag, let body):
            encoder.write(tag)
            encoder.append(raw: body)
        }
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        func records(_ decoder: inout WireDecoder) throws(WireError) -> [JobRecord] {
            try decoder.readList("the job records", minimumSize: 4) { (decoder) throws(WireError) in try decoder.read(JobRecord.self) }
        }
        func failures(_ decoder: inout WireDecoder) throws(WireError) -> [JobFailure] {
            try decoder.readList("the job failures", minimumSize: 3) { (decoder) throws(WireError) in try decoder.read(JobFailure.self) }
        }
        switch try decoder.readUInt64("a reply tag") {
        case 1: self = .ok
        case 2: self = .failed(try decoder.read(DRMAAError.self))
        case 3: self = .reattached(try records(&decoder))
        case 4: self = .submitted(jobID: try decoder.readString("the job id"))
        case 5: self = .controlled(failures: try failures(&decoder))
        case 6:
            let jobs = try records(&decoder)
            self = .statuses(jobs, failures: try failures(&decoder))
        case 7:
            let first = try decoder.readUnsigned("the first job id")
            let count = try Request.idCount(&decoder)
            guard first >= 1, first <= Int.max - count else {
                throw WireError(.malformed, "job ids from \(first), \(count) of them, are out of range")
            }
            self = .reservedJobIDs(first: Int64(first), count: count)
        case let tag: self = .unknown(tag: tag, body: decoder.readRest())
        }
    }
}

extension Event: WireCodable {
    public func encode(to encoder: inout WireEncoder) {
        switch self {
        case .stateChanged(let id, let state):
            encoder.write(UInt64(1))
            encoder.write(id)
            encoder.write(state)
        case .finished(let id, let outcome):
            encoder.write(UInt64(2))
            encoder.write(id)
            encoder.write(outcome)
        case .terminating(let id):
            encoder.write(UInt64(3))
            encoder.write(id)
        case .note(let id, let text):
            encoder.write(UInt64(4))
            encoder.write(id)
            encoder.write(text)
        case .unknown(let tag, let body):
            encoder.write(tag)
            encoder.append(raw: body)
        }
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        switch try decoder.readUInt64("an event tag") {
        case 1: self = .stateChanged(jobID: try decoder.readString("the job id"), state: try decoder.read(JobState.self))
        case 2: self = .finished(jobID: try decoder.readString("the job id"), outcome: try decoder.read(JobOutcome.self))
        case 3: self = .terminating(jobID: try decoder.readString("the job id"))
        case 4: self = .note(jobID: try decoder.readString("the job id"), text: try decoder.readOptionalString("the note"))
        case let tag: self = .unknown(tag: tag, body: decoder.readRest())
        }
    }
}

extension Hello: WireCodable {
    /// The magic "DRMAA" (5 bytes, no length), the version, the client's pid.
    public func encode(to encoder: inout WireEncoder) {
        encoder.append(raw: WireProtocol.magic)
        encoder.write(UInt64(version))
        encoder.write(clientPID)
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        for expected in WireProtocol.magic {
            let start = decoder.position
            guard !decoder.isAtEnd else { throw WireError(.truncated, "the hello ends inside its magic \"DRMAA\" (at offset \(start))") }
            let byte = try decoder.readRawByte()
            guard byte == expected else {
                throw WireError(.malformed, "the hello does not start with the magic \"DRMAA\" (byte \(byte) at offset \(start)): not a DRMAA client")
            }
        }
        version = try decoder.readUInt32("the protocol version")
        clientPID = try decoder.readInt32("the client pid")
    }
}

extension Welcome: WireCodable {
    /// The version, the daemon's pid.
    public func encode(to encoder: inout WireEncoder) {
        encoder.write(UInt64(version))
        encoder.write(daemonPID)
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        version = try decoder.readUInt32("the protocol version")
        daemonPID = try decoder.readInt32("the daemon pid")
    }
}

extension ClientMessage: WireCodable {
    public func encode(to encoder: inout WireEncoder) {
        switch self {
        case .hello(let hello):
            encoder.write(UInt64(1))
            encoder.write(hello)
        case .request(let id, let request):
            encoder.write(UInt64(2))
            encoder.write(id)
            encoder.write(request)
        }
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        switch try decoder.readUInt64("a message kind") {
        case 1: self = .hello(try decoder.read(Hello.self))
        case 2:
            let id = try decoder.readUInt64("a request id")
            self = .request(id: id, try decoder.read(Request.self))
        case let kind: throw WireError(.unknownTag, "client message kind \(kind) is neither hello (1) nor request (2)")
        }
    }
}

extension DaemonMessage: WireCodable {
    public func encode(to encoder: inout WireEncoder) {
        switch self {
        case .welcome(let welcome):
            encoder.write(UInt64(1))
            encoder.write(welcome)
        case .refused(let error):
            encoder.write(UInt64(2))
            encoder.write(error)
        case .reply(let id, let reply):
            encoder.write(UInt64(3))
            encoder.write(id)
            encoder.write(reply)
        case .event(let event):
            encoder.write(UInt64(4))
            encoder.write(event)
        }
    }

    public init(from decoder: inout WireDecoder) throws(WireError) {
        switch try decoder.readUInt64("a message kind") {
        case 1: self = .welcome(try decoder.read(Welcome.self))
        case 2: self = .refused(try decoder.read(DRMAAError.self))
        case 3:
            let id = try decoder.readUInt64("a request id")
            self = .reply(id: id, try decoder.read(Reply.self))
        case 4: self = .event(try decoder.read(Event.self))
        case let kind: throw WireError(.unknownTag, "daemon message kind \(kind) is not welcome (1), refused (2), reply (3) or event (4)")
        }
    }
}

extension WireCodable {
    /// This value as one frame (its length, then its encoding); `frameTooLarge` above the maximum.
    public func framed(maximumPayloadSize: Int = Frame.maximumPayloadSize) throws(WireError) -> [UInt8] {
        var encoder = WireEncoder(capacity: 64)
        encoder.append(raw: [0, 0, 0, 0])
        encode(to: &encoder)
        var bytes = encoder.bytes
        let length = bytes.count - Frame.headerSize
        guard length <= min(maximumPayloadSize, Int(UInt32.max)) else {
            throw WireError(.frameTooLarge, "a message of \(length) bytes is larger than the maximum frame size of \(maximumPayloadSize) bytes")
        }
        for index in 0..<Frame.headerSize { bytes[index] = UInt8(truncatingIfNeeded: length >> (8 * index)) }
        return bytes
    }
}
