import Glibc

/// The file in which a shepherd keeps its job's outcome, so that a daemon that was not there when
/// the job ended (dead, restarting) still learns it.
///
/// Layout: the magic `DRMAASHO` (8 bytes), UInt32 version 1, UInt32 job id length, the job id's
/// bytes, then the outcome as in a `finished` message (without its tag).
public enum ShepherdOutcomeFile {
    private static let magic = Array("DRMAASHO".utf8)
    private static let version: UInt32 = 1
    /// Far more than any outcome (whose only variable part is a failure text), so a huge file in
    /// its place is refused instead of read.
    private static let sizeLimit = 1 << 20

    /// "<directory>/<jobID>.outcome"
    public static func path(directory: String, jobID: String) -> String {
        file(jobID + ".outcome", in: directory)
    }

    /// Writes the record atomically: "<directory>/.<jobID>.tmp" then rename(2). Throws with errno text.
    ///
    /// The rename makes it atomic: a reader sees the whole record or none, whichever process
    /// dies when (`kill -9` of the shepherd, the daemon or the client loses nothing). It is not
    /// flushed to storage (an `fsync` would cost more than the job's own start): after a crash of
    /// the machine, a job that ended in its last seconds may have no outcome, as the spool may
    /// lose its last transactions (Docs/Architecture.md, failure table).
    public static func write(_ outcome: ShepherdOutcome, jobID: String, directory: String) throws(ShepherdProtocolError) {
        try checkJobID(jobID)
        let temporary = file("." + jobID + ".tmp", in: directory)
        let target = path(directory: directory, jobID: jobID)
        var writer = ByteWriter(capacity: 16 + jobID.utf8.count + ShepherdOutcome.fixedSize + 4 + (outcome.spawnFailure?.utf8.count ?? 0))
        writer.write(magic)
        writer.write(version)
        writer.write(jobID)
        outcome.encode(into: &writer)
        let fd: Int32
        do {
            fd = try Syscall.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW)
        } catch {
            throw ShepherdProtocolError("cannot create the outcome file '\(temporary)': \(error)")
        }
        let written = Result { () throws(Errno) in
            try Syscall.writeAll(fd, writer.bytes)
        }
        Syscall.close(fd)
        if case .failure(let error) = written {
            Syscall.unlink(temporary)
            throw ShepherdProtocolError("cannot write the outcome file '\(temporary)': \(error)")
        }
        do {
            try Syscall.rename(temporary, target)
        } catch {
            Syscall.unlink(temporary)
            throw ShepherdProtocolError("cannot rename '\(temporary)' to '\(target)': \(error)")
        }
    }

    /// Reads and checks a file written by `write`: nil if it does not exist; throws if corrupt / other job id.
    public static func read(directory: String, jobID: String) throws(ShepherdProtocolError) -> ShepherdOutcome? {
        try checkJobID(jobID)
        let target = path(directory: directory, jobID: jobID)
        // O_NONBLOCK: a FIFO put in its place cannot block the reader (it is refused below).
        let fd: Int32
        do {
            fd = try Syscall.open(target, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        } catch {
            if error == .noSuchFile { return nil }
            throw ShepherdProtocolError("cannot open the outcome file '\(target)': \(error)")
        }
        defer { Syscall.close(fd) }
        let type: mode_t, size: Int
        do {
            (type, size) = try Syscall.fileType(fd)
        } catch {
            throw ShepherdProtocolError("cannot read the outcome file '\(target)': \(error)")
        }
        guard type == S_IFREG else { throw ShepherdProtocolError("the outcome file '\(target)' is not a regular file") }
        guard size <= sizeLimit else { throw ShepherdProtocolError("the outcome file '\(target)' is too large (\(size) bytes)") }
        let bytes: [UInt8]
        do {
            bytes = try Syscall.readAll(fd, limit: sizeLimit)
        } catch {
            throw ShepherdProtocolError("cannot read the outcome file '\(target)': \(error)")
        }
        do {
            return try decode(bytes, jobID: jobID)
        } catch {
            throw ShepherdProtocolError("the outcome file '\(target)' is corrupt: \(error)")
        }
    }

    /// The outcome in a file's bytes, which must be of `jobID`.
    static func decode(_ bytes: [UInt8], jobID: String) throws(ShepherdProtocolError) -> ShepherdOutcome {
        var reader = ByteReader(bytes, what: "outcome file")
        guard Array(try reader.readBytes(magic.count, "the magic")) == magic else {
            throw ShepherdProtocolError("it does not start with the magic DRMAASHO")
        }
        let found = try reader.read(UInt32.self, "the version")
        guard found == version else { throw ShepherdProtocolError("unknown version \(found) (this reader knows version \(version))") }
        let recorded = try reader.readString("the job id")
        guard recorded == jobID else { throw ShepherdProtocolError("it is the outcome of job '\(recorded)', not of '\(jobID)'") }
        let outcome = try ShepherdOutcome(decoding: &reader)
        try reader.expectEnd()
        return outcome
    }

    /// A job id usable as a file name: 1...200 bytes of [0-9A-Za-z._-], not starting with '.'.
    public static func isValidJobID(_ jobID: String) -> Bool {
        let bytes = jobID.utf8
        guard (1...200).contains(bytes.count), bytes.first != UInt8(ascii: ".") else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
    }

    static func checkJobID(_ jobID: String) throws(ShepherdProtocolError) {
        guard isValidJobID(jobID) else {
            throw ShepherdProtocolError("invalid job id '\(jobID)': 1 to 200 of [0-9A-Za-z._-], not starting with '.'")
        }
    }
}

/// Where a shepherd whose daemon went away listens for the next one.
public enum ShepherdListenSocket {
    /// "<directory>/<jobID>.sock"
    public static func path(directory: String, jobID: String) -> String {
        file(jobID + ".sock", in: directory)
    }
}

/// The path of the file `name` in `directory` (one slash between them).
private func file(_ name: String, in directory: String) -> String {
    directory + (directory.hasSuffix("/") ? "" : "/") + name
}
