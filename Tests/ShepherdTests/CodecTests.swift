import Glibc
@testable import ShepherdProtocol
import Testing

/// Outcomes that exercise every field: extremes, a failure text with non-ASCII, an empty one.
let sampleOutcomes: [ShepherdOutcome] = [
    ShepherdOutcome(jobPID: 4242, waitStatus: 5 << 8, startTime: 1_700_000_000.125, endTime: 1_700_000_003.5,
                    usage: ShepherdUsage(userMicroseconds: 200_123, systemMicroseconds: 10_000, maxRSS: 3_000,
                                         minorFaults: 150, majorFaults: 2, blockInputs: 8, blockOutputs: 16,
                                         voluntarySwitches: 3, involuntarySwitches: 4, signalsReceived: 1)),
    ShepherdOutcome(jobPID: Int32.max, waitStatus: Int32.min, startTime: -0.0, endTime: .infinity,
                    usage: ShepherdUsage(userMicroseconds: .max, systemMicroseconds: .min, maxRSS: -1)),
    ShepherdOutcome(jobPID: 0, waitStatus: 0, startTime: 1.5, endTime: 1.5,
                    spawnFailure: "cannot execute '/tmp/é x': Permission denied (errno 13)"),
    ShepherdOutcome(jobPID: 0, waitStatus: 0, startTime: 0, endTime: 0, spawnFailure: ""),
]

let sampleMessages: [ShepherdMessage] = [
    .signal(SIGTERM), .signal(0), .signal(-1), .signal(Int32.max),
    .started(jobPID: 77, startTime: 1_700_000_000.000_001), .started(jobPID: -5, startTime: -.greatestFiniteMagnitude),
] + sampleOutcomes.map { .finished($0) } + [
    .run(ShepherdJob(jobID: "42.7", executable: Array("/bin/sh".utf8), arguments: [Array("sh".utf8), Array("-c".utf8), [0xFF, 0x20, 0x24]],
                     environment: [Array("A=é".utf8), []])),
    .run(ShepherdJob(jobID: "x", executable: Array("/x".utf8), arguments: [[]], environment: [])),
    .accepted,
]

@Suite("ShepherdProtocol: messages encode to the documented bytes and decode strictly", .timeLimit(.minutes(1)))
struct CodecTests {
    @Test("every message decodes to itself, and re-encodes to the same bytes", arguments: sampleMessages)
    func roundTrip(_ message: ShepherdMessage) throws {
        let bytes = message.encoded()
        let decoded = try ShepherdMessage(decoding: bytes)
        #expect(decoded == message)
        #expect(decoded.encoded() == bytes)
        // Any collection of bytes decodes (a slice of a receive buffer, say).
        #expect(try ShepherdMessage(decoding: ([0xFF] + bytes).dropFirst()) == message)
    }

    @Test("signal and started have the documented little-endian layout")
    func documentedLayout() {
        #expect(ShepherdMessage.signal(15).encoded() == [0x4B, 15, 0, 0, 0])
        #expect(ShepherdMessage.signal(-2).encoded() == [0x4B, 0xFE, 0xFF, 0xFF, 0xFF])
        let started = ShepherdMessage.started(jobPID: 0x0102_0304, startTime: 1.0).encoded()
        // 1.0 is 0x3FF0_0000_0000_0000.
        #expect(started == [0x53, 4, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
    }

    @Test("finished is E, pid, status, two doubles, ten Int64, the failure flag and text")
    func finishedLayout() {
        let plain = ShepherdMessage.finished(sampleOutcomes[0]).encoded()
        #expect(plain.count == 1 + 4 + 4 + 8 + 8 + 80 + 1)
        #expect(plain.first == 0x45)
        #expect(Array(plain[1..<5]) == [0x92, 0x10, 0, 0])  // 4242
        #expect(Array(plain[9..<17]) == withUnsafeBytes(of: (1_700_000_000.125).bitPattern.littleEndian, Array.init))
        #expect(Array(plain[25..<33]) == withUnsafeBytes(of: Int64(200_123).littleEndian, Array.init))
        #expect(plain.last == 0)
        let failure = "cannot execute '/x': Permission denied (errno 13)"
        let failed = ShepherdMessage.finished(ShepherdOutcome(jobPID: 0, waitStatus: 0, startTime: 0, endTime: 0, spawnFailure: failure)).encoded()
        #expect(failed.count == plain.count + 4 + failure.utf8.count)
        #expect(failed[plain.count - 1] == 1)
        #expect(Array(failed[plain.count..<plain.count + 4]) == [UInt8(failure.utf8.count), 0, 0, 0])
        #expect(String(decoding: failed[(plain.count + 4)...], as: UTF8.self) == failure)
    }

    @Test("-0 and NaN payloads travel as their bit patterns")
    func doubleBitPatterns() throws {
        let nan = Double(bitPattern: 0x7FF8_0000_DEAD_BEEF)
        let decoded = try ShepherdMessage(decoding: ShepherdMessage.started(jobPID: 1, startTime: nan).encoded())
        guard case .started(_, let time) = decoded else { Issue.record("decoded \(decoded)"); return }
        #expect(time.bitPattern == nan.bitPattern)
        let zero = try ShepherdMessage(decoding: ShepherdMessage.started(jobPID: 1, startTime: -0.0).encoded())
        guard case .started(_, let minusZero) = zero else { Issue.record("decoded \(zero)"); return }
        #expect(minusZero.sign == .minus)
    }

    @Test("every proper prefix of a message is refused as truncated", arguments: sampleMessages)
    func truncatedInput(_ message: ShepherdMessage) {
        let bytes = message.encoded()
        for length in 0..<bytes.count {
            #expect(throws: ShepherdProtocolError.self, "a prefix of \(length) bytes") {
                try ShepherdMessage(decoding: bytes.prefix(length))
            }
        }
    }

    @Test("a byte after the end of a message is refused", arguments: sampleMessages)
    func trailingByte(_ message: ShepherdMessage) throws {
        let error = try #require(throws: ShepherdProtocolError.self) { try ShepherdMessage(decoding: message.encoded() + [0]) }
        #expect(error.description.contains("too long: 1 unexpected bytes"), "\(error)")
    }

    @Test("the messages say precisely what is wrong")
    func preciseMessages() throws {
        func failure(_ bytes: [UInt8]) throws -> String {
            try #require(throws: ShepherdProtocolError.self) { try ShepherdMessage(decoding: bytes) }.description
        }
        #expect(try failure([]) == "empty shepherd message")
        #expect(try failure([0x51, 1, 2]) == "unknown shepherd message tag 0x51 (3 bytes); expected K, S, E, R or A")
        #expect(try failure([0x4B, 1, 2]) == "signal message is truncated: the signal number needs 4 bytes at offset 1, only 2 remain (3 bytes in all)")
        #expect(try failure([0x53, 1, 0, 0, 0, 9]) == "started message is truncated: startTime needs 8 bytes at offset 5, only 1 remain (6 bytes in all)")
        #expect(try failure([0x4B, 1, 0, 0, 0, 7, 7]) == "signal message is too long: 2 unexpected bytes after offset 5 (7 bytes in all)")
        var badFlag = ShepherdMessage.finished(sampleOutcomes[0]).encoded()
        badFlag[badFlag.count - 1] = 2
        #expect(try failure(badFlag) == "finished message: invalid hasFailure byte 2 at offset 105 (0 or 1 expected)")
    }

    @Test("a failure text longer than the message, or not UTF-8, is refused without allocating it")
    func badFailureText() throws {
        var long = ShepherdMessage.finished(sampleOutcomes[0]).encoded()
        long[long.count - 1] = 1
        long += [0xFF, 0xFF, 0xFF, 0xFF, 0x41]  // 4 GiB claimed, 1 byte present
        let error = try #require(throws: ShepherdProtocolError.self) { try ShepherdMessage(decoding: long) }
        #expect(error.description.contains("spawnFailure needs 4294967295 bytes at offset 110, only 1 remain"), "\(error)")
        var invalid = ShepherdMessage.finished(sampleOutcomes[0]).encoded()
        invalid[invalid.count - 1] = 1
        invalid += [2, 0, 0, 0, 0xC3, 0x28]
        let utf8 = try #require(throws: ShepherdProtocolError.self) { try ShepherdMessage(decoding: invalid) }
        #expect(utf8.description == "finished message: spawnFailure at offset 106 is not valid UTF-8")
    }

    @Test("the usage is read from a struct rusage, times in microseconds")
    func usageFromRusage() {
        var raw = rusage()
        raw.ru_utime = timeval(tv_sec: 2, tv_usec: 345_678)
        raw.ru_stime = timeval(tv_sec: 0, tv_usec: 9)
        raw.ru_maxrss = 1024
        raw.ru_minflt = 11
        raw.ru_majflt = 12
        raw.ru_inblock = 13
        raw.ru_oublock = 14
        raw.ru_nvcsw = 15
        raw.ru_nivcsw = 16
        raw.ru_nsignals = 17
        #expect(ShepherdUsage(raw) == ShepherdUsage(userMicroseconds: 2_345_678, systemMicroseconds: 9, maxRSS: 1024,
                                                    minorFaults: 11, majorFaults: 12, blockInputs: 13, blockOutputs: 14,
                                                    voluntarySwitches: 15, involuntarySwitches: 16, signalsReceived: 17))
    }
}

@Suite("ShepherdOutcomeFile: written atomically, read back checked", .timeLimit(.minutes(1)))
struct OutcomeFileTests {
    @Test("an outcome written is read back the same, in a file of mode 0600, with no temporary left", arguments: sampleOutcomes)
    func roundTrip(_ outcome: ShepherdOutcome) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try ShepherdOutcomeFile.write(outcome, jobID: "42.7", directory: directory.path)
        #expect(try ShepherdOutcomeFile.read(directory: directory.path, jobID: "42.7") == outcome)
        #expect(directory.names() == ["42.7.outcome"])
        var info = stat()
        #expect(stat(directory.file("42.7.outcome"), &info) == 0 && info.st_mode & 0o777 == 0o600)
        // Written again (a shepherd restarted for the same id): replaced whole.
        try ShepherdOutcomeFile.write(sampleOutcomes[0], jobID: "42.7", directory: directory.path)
        #expect(try ShepherdOutcomeFile.read(directory: directory.path, jobID: "42.7") == sampleOutcomes[0])
    }

    @Test("the file is the magic, version 1, the job id and the outcome")
    func layout() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try ShepherdOutcomeFile.write(sampleOutcomes[0], jobID: "j", directory: directory.path)
        let bytes = readBytes(directory.file("j.outcome"))
        #expect(Array(bytes.prefix(17)) == Array("DRMAASHO".utf8) + [1, 0, 0, 0, 1, 0, 0, 0, UInt8(ascii: "j")])
        #expect(Array(bytes.dropFirst(17)) == Array(ShepherdMessage.finished(sampleOutcomes[0]).encoded().dropFirst()))
    }

    @Test("a missing file reads as nil")
    func missing() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(try ShepherdOutcomeFile.read(directory: directory.path, jobID: "nothing") == nil)
    }

    @Test("a corrupt file or another job's is refused, saying why")
    func corrupt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try ShepherdOutcomeFile.write(sampleOutcomes[2], jobID: "a", directory: directory.path)
        let good = readBytes(directory.file("a.outcome"))
        func refusal(_ bytes: [UInt8], as jobID: String = "b") throws -> String {
            let path = directory.file("\(jobID).outcome")
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            try #require(fd >= 0)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            return try #require(throws: ShepherdProtocolError.self) {
                try ShepherdOutcomeFile.read(directory: directory.path, jobID: jobID)
            }.description
        }
        #expect(try refusal(good).hasSuffix("is corrupt: it is the outcome of job 'a', not of 'b'"))
        #expect(try refusal([UInt8](repeating: 0x41, count: 8) + good.dropFirst(8), as: "a").hasSuffix("it does not start with the magic DRMAASHO"))
        var version = good
        version[8] = 2
        #expect(try refusal(version, as: "a").hasSuffix("unknown version 2 (this reader knows version 1)"))
        #expect(try refusal(Array(good.dropLast()), as: "a").contains("outcome file is truncated"))
        #expect(try refusal(good + [0], as: "a").contains("outcome file is too long: 1 unexpected bytes"))
        #expect(try refusal([], as: "a").contains("the magic needs 8 bytes at offset 0, only 0 remain"))
    }

    @Test("a directory in the file's place is refused, not read")
    func notRegular() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try #require(mkdir(directory.file("d.outcome"), 0o700) == 0)
        defer { rmdir(directory.file("d.outcome")) }
        let error = try #require(throws: ShepherdProtocolError.self) { try ShepherdOutcomeFile.read(directory: directory.path, jobID: "d") }
        #expect(error.description.hasSuffix("is not a regular file"))
    }

    @Test("writing into a missing directory fails with the errno text")
    func missingDirectory() throws {
        let error = try #require(throws: ShepherdProtocolError.self) {
            try ShepherdOutcomeFile.write(sampleOutcomes[0], jobID: "x", directory: "/nonexistent-shepherd-dir")
        }
        #expect(error.description == "cannot create the outcome file '/nonexistent-shepherd-dir/.x.tmp': No such file or directory (errno 2)")
    }

    @Test("job ids: 1 to 200 of [0-9A-Za-z._-], not starting with a dot")
    func jobIDs() throws {
        for valid in ["1", "42.3", "a_b-C.9", String(repeating: "x", count: 200)] {
            #expect(ShepherdOutcomeFile.isValidJobID(valid), "\(valid)")
        }
        for invalid in ["", ".hidden", "..", "a/b", "a b", "é", "a\0b", String(repeating: "x", count: 201)] {
            #expect(!ShepherdOutcomeFile.isValidJobID(invalid), "\(invalid)")
        }
        #expect(throws: ShepherdProtocolError.self) { try ShepherdOutcomeFile.write(sampleOutcomes[0], jobID: "../x", directory: "/tmp") }
        #expect(throws: ShepherdProtocolError.self) { try ShepherdOutcomeFile.read(directory: "/tmp", jobID: "../x") }
    }

    @Test("the paths of the outcome file and the listening socket")
    func paths() {
        #expect(ShepherdOutcomeFile.path(directory: "/var/spool/drmaa", jobID: "7") == "/var/spool/drmaa/7.outcome")
        #expect(ShepherdOutcomeFile.path(directory: "/var/spool/drmaa/", jobID: "7") == "/var/spool/drmaa/7.outcome")
        #expect(ShepherdListenSocket.path(directory: "/run/user/1/drmaa", jobID: "7.2") == "/run/user/1/drmaa/7.2.sock")
    }
}

@Suite("ShepherdProtocol: a pooled shepherd's run message", .timeLimit(.minutes(1)))
struct RunMessageTests {
    @Test("run refuses a NUL inside a C string, a relative executable and an empty argv, saying which")
    func runRefusesBadStrings() throws {
        func failure(_ job: ShepherdJob) -> String? {
            do {
                _ = try ShepherdMessage(decoding: ShepherdMessage.run(job).encoded())
                return nil
            } catch {
                return error.description
            }
        }
        let good = ShepherdJob(jobID: "1", executable: Array("/bin/true".utf8), arguments: [Array("true".utf8)], environment: [])
        #expect(failure(good) == nil)
        var job = good
        job.arguments = [Array("a".utf8), [0x61, 0, 0x62]]
        #expect(failure(job)?.contains("arguments[1] at offset") == true && failure(job)?.contains("contains a NUL byte") == true)
        job = good
        job.environment = [[0]]
        #expect(failure(job)?.contains("environment[0]") == true)
        job = good
        job.executable = Array("bin/true".utf8)
        #expect(failure(job)?.contains("not an absolute path") == true)
        job = good
        job.arguments = []
        #expect(failure(job)?.contains("argv is empty") == true)
    }

    @Test("a count of strings larger than the bytes that remain is refused before anything is allocated")
    func hugeCountRefused() throws {
        var bytes = ShepherdMessage.run(ShepherdJob(jobID: "1", executable: Array("/x".utf8), arguments: [Array("x".utf8)], environment: [])).encoded()
        // The environment's count is the last 4 bytes: claim 2^32 - 1 entries.
        bytes.replaceSubrange((bytes.count - 4)..., with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: ShepherdProtocolError.self) { try ShepherdMessage(decoding: bytes) }
    }
}
