import CLocalDRM
import Glibc
import ShepherdProtocol
import Testing

/// The drmaa-shepherd binary, built next to the test bundle (the test target depends on it, so
/// `swift build --build-tests` builds it); nil if it is not there.
let shepherdBinary: String? = {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { return nil }
    let exe = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard let slash = exe.lastIndex(of: "/") else { return nil }
    let binary = String(exe[..<slash]) + "/drmaa-shepherd"
    return access(binary, X_OK) == 0 ? binary : nil
}()

/// The tests that run the binary are skipped, with this message, if it was not built.
let needsShepherdBinary = ConditionTrait.enabled(
    if: shepherdBinary != nil, "drmaa-shepherd is not built next to the test bundle: run `swift build --build-tests`")

/// A test failure with a message (for `throw` where `#require` does not fit).
struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A fresh directory under /tmp, removed with its files by `remove()` (the tests make flat directories).
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/shepherd-test-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw TestFailure("mkdtemp: \(String(cString: strerror(errno)))")
        }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func file(_ name: String) -> String { path + "/" + name }

    /// The names of the files in it.
    func names() -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    func remove() {
        for name in names() { unlink(file(name)) }
        rmdir(path)
    }
}

/// Writes `contents` to a new file with `mode`.
func writeFile(_ path: String, _ contents: String, mode: mode_t) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else { throw TestFailure("open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let bytes = Array(contents.utf8)
    guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
        throw TestFailure("write \(path): \(String(cString: strerror(errno)))")
    }
    fchmod(fd, mode)  // exactly `mode`, whatever the umask
}

/// The contents of a file as text ("" if it cannot be read).
func readFile(_ path: String) -> String {
    String(decoding: readBytes(path), as: UTF8.self)
}

/// The bytes of a file (none if it cannot be read).
func readBytes(_ path: String) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }
        bytes += chunk[..<count]
    }
    return bytes
}

/// The fields of /proc/<pid>/stat after the command name: [0] is field 3 (state), [1] ppid,
/// [2] pgrp, [3] session, [16] nice.
func processStat(_ pid: pid_t) -> [Substring] {
    let text = readFile("/proc/\(pid)/stat")
    guard let close = text.lastIndex(of: ")") else { return [] }
    return text[text.index(after: close)...].split(separator: " ")
}

/// Waits (at most 20 s, then fails) until `condition` holds; for states another process reaches.
func eventually(_ what: String, _ condition: () -> Bool) throws {
    for _ in 0..<2000 {
        if condition() { return }
        usleep(10_000)
    }
    throw TestFailure("timed out waiting until \(what)")
}

/// A `finished` outcome's wait status, decoded.
extension ShepherdOutcome {
    var exitCode: Int32? { waitStatus & 0x7f == 0 ? (waitStatus >> 8) & 0xff : nil }
    var terminatingSignal: Int32? {
        let signal = waitStatus & 0x7f
        return signal != 0 && signal != 0x7f ? signal : nil
    }
}

/// A close-on-exec SOCK_SEQPACKET pair for a shepherd's control socket: the test's end and the
/// shepherd's, both at 16 or above, over the descriptors the file actions write (a dup2 onto
/// itself would keep CLOEXEC).
func controlSocketPair() throws -> (ours: Int32, theirs: Int32) {
    var pair: [Int32] = [0, 0]
    guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
        throw TestFailure("socketpair: \(String(cString: strerror(errno)))")
    }
    let ours = fcntl(pair[0], F_DUPFD_CLOEXEC, Int32(16)), theirs = fcntl(pair[1], F_DUPFD_CLOEXEC, Int32(16))
    close(pair[0])
    close(pair[1])
    return (ours, theirs)
}

/// A shepherd started the way the daemon starts it: fds 0-2 the job's streams (stdin as given,
/// stdout and stderr files in its directory), fd 3 one end of a SOCK_SEQPACKET socketpair whose
/// other end the test holds (`control`). `cleanUp()` ends every process it started.
final class ShepherdRun {
    let directory: TemporaryDirectory
    let jobID: String
    let pid: pid_t
    /// The test's end of the control connection (-1 once closed).
    private(set) var control: Int32
    /// The job's pid, once `started` said it.
    var jobPID: pid_t = 0
    /// The shepherd's wait status, once reaped.
    private(set) var exitStatus: Int32?

    /// Starts `drmaa-shepherd --job <jobID> --outcomes <outcomes or dir> <options> -- <command>`.
    /// `stdin`: the job's standard input (/dev/null if nil). `forgottenFDs`: descriptors (>= 4) the
    /// "daemon" leaves open by mistake.
    init(_ options: [String] = [], command: [String], stdin: Int32? = nil, forgottenFDs: [Int32] = [],
         jobID: String = "job.1", directory: TemporaryDirectory? = nil, outcomes: String? = nil) throws {
        guard let binary = shepherdBinary else { throw TestFailure("drmaa-shepherd is not built") }
        self.directory = try directory ?? TemporaryDirectory()
        self.jobID = jobID
        let (ours, theirs) = try controlSocketPair()
        defer { close(theirs) }
        control = ours
        let opened = open("/dev/null", O_RDWR | O_CLOEXEC)
        let devNull = fcntl(opened, F_DUPFD_CLOEXEC, Int32(16))
        close(opened)
        defer { close(devNull) }

        var actions = posix_spawn_file_actions_t()
        try #require(posix_spawn_file_actions_init(&actions) == 0)
        defer { posix_spawn_file_actions_destroy(&actions) }
        try #require(posix_spawn_file_actions_adddup2(&actions, stdin ?? devNull, 0) == 0)
        try #require(posix_spawn_file_actions_addopen(&actions, 1, self.directory.file("stdout"), O_WRONLY | O_CREAT | O_TRUNC, 0o644) == 0)
        try #require(posix_spawn_file_actions_addopen(&actions, 2, self.directory.file("stderr"), O_WRONLY | O_CREAT | O_TRUNC, 0o644) == 0)
        try #require(posix_spawn_file_actions_adddup2(&actions, theirs, 3) == 0)
        // As the daemon would: nothing else (the test process's own descriptors may lack CLOEXEC) ...
        if let first = forgottenFDs.min() {
            // ... but for the forgotten ones: parked at `first` before closing the rest, then copied.
            try #require(first >= 4)
            try #require(posix_spawn_file_actions_adddup2(&actions, devNull, first) == 0)
            try #require(clocaldrm_spawn_addclosefrom(&actions, first + 1) == 0)
            for fd in forgottenFDs where fd != first {
                try #require(posix_spawn_file_actions_adddup2(&actions, first, fd) == 0)
            }
        } else {
            try #require(clocaldrm_spawn_addclosefrom(&actions, 4) == 0)
        }
        let arguments = [binary, "--job", jobID, "--outcomes", outcomes ?? self.directory.path] + options + ["--"] + command
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, binary, &actions, nil, argv, environ)
        guard result == 0 else {
            close(ours)
            throw TestFailure("posix_spawn \(binary): \(String(cString: strerror(result)))")
        }
        self.pid = pid
    }

    var outcomePath: String { ShepherdOutcomeFile.path(directory: directory.path, jobID: jobID) }
    var socketPath: String { ShepherdListenSocket.path(directory: directory.path, jobID: jobID) }

    /// The next message on `fd` (the control connection by default); fails after 20 s or at end of stream.
    func receive(on fd: Int32? = nil) throws -> ShepherdMessage {
        let fd = fd ?? control
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var ready: Int32
        repeat { ready = poll(&entry, 1, 20_000) } while ready < 0 && errno == EINTR
        guard ready == 1 else { throw TestFailure("no message from the shepherd within 20 s") }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_TRUNC)) }
        guard count > 0 else { throw TestFailure("the shepherd closed the connection (\(count), \(String(cString: strerror(errno))))") }
        guard count <= buffer.count else { throw TestFailure("a message of \(count) bytes") }
        return try ShepherdMessage(decoding: buffer[..<count])
    }

    /// Receives `started` and remembers the job's pid.
    @discardableResult
    func receiveStarted(on fd: Int32? = nil) throws -> (jobPID: pid_t, startTime: Double) {
        let message = try receive(on: fd)
        guard case .started(let jobPID, let startTime) = message else { throw TestFailure("expected started, got \(message)") }
        self.jobPID = jobPID
        return (jobPID, startTime)
    }

    /// Receives `finished`.
    func receiveFinished(on fd: Int32? = nil) throws -> ShepherdOutcome {
        let message = try receive(on: fd)
        guard case .finished(let outcome) = message else { throw TestFailure("expected finished, got \(message)") }
        return outcome
    }

    /// Sends a message on `fd` (the control connection by default).
    func send(_ message: ShepherdMessage, on fd: Int32? = nil) throws {
        let bytes = message.encoded()
        let sent = bytes.withUnsafeBytes { Glibc.send(fd ?? control, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw TestFailure("send: \(String(cString: strerror(errno)))") }
    }

    /// Closes the test's end of the control connection: to the shepherd, the daemon died.
    func closeControl() {
        if control >= 0 { close(control) }
        control = -1
    }

    /// True while the shepherd has not exited.
    func isRunning() -> Bool {
        guard exitStatus == nil else { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            exitStatus = status
            return false
        }
        return true
    }

    /// Waits for the shepherd to exit (at most 20 s) and returns its exit code.
    func waitForExit() throws -> Int32 {
        try eventually("the shepherd exits") { !isRunning() }
        guard let status = exitStatus, status & 0x7f == 0 else { throw TestFailure("the shepherd was killed: status \(exitStatus ?? -1)") }
        return (status >> 8) & 0xff
    }

    /// Ends everything: the job's group (only while the shepherd, still unreaped, holds the job
    /// unreaped too, so that the group id cannot be another's), then the shepherd; closes the
    /// connection and removes the directory.
    func cleanUp() {
        if isRunning() {
            if jobPID > 1 { kill(-jobPID, SIGKILL) }
            // The shepherd reaps the killed job and exits; else it is killed too.
            for _ in 0..<500 where isRunning() { usleep(10_000) }
            if isRunning() {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                exitStatus = status
            }
        }
        closeControl()
        directory.remove()
    }
}

/// A pipe whose read end becomes a job's stdin; the test writes to, then closes, `writeEnd`.
struct Pipe {
    let readEnd: Int32
    let writeEnd: Int32

    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw TestFailure("pipe: \(String(cString: strerror(errno)))") }
        // Close-on-exec (pipe2 is not visible to Swift): the shepherd gets the read end through dup2.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        readEnd = fds[0]
        writeEnd = fds[1]
    }

    func write(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(writeEnd, $0.baseAddress, $0.count) }
    }

    func close() {
        Glibc.close(readEnd)
        Glibc.close(writeEnd)
    }
}

/// Connects to a shepherd's listening socket; returns the descriptor.
func connectSeqPacket(_ path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard result == 0 else {
        let error = errno
        close(fd)
        throw TestFailure("connect \(path): \(String(cString: strerror(error)))")
    }
    return fd
}

/// A pooled shepherd (`drmaa-shepherd --pool`) started the way the daemon starts one: /dev/null
/// as fds 0 and 1, a file as its standard error (the daemon's log), fd 3 the control socket.
/// Jobs go to it with ``run(_:command:environment:)``; `cleanUp()` ends every process it started.
final class PooledShepherd {
    let directory: TemporaryDirectory
    let run: ShepherdRunHandle

    /// What a test needs of the running shepherd: its pid and the test's end of the socket.
    final class ShepherdRunHandle {
        let pid: pid_t
        var control: Int32
        var exitStatus: Int32?
        init(pid: pid_t, control: Int32) { (self.pid, self.control) = (pid, control) }
    }

    var pid: pid_t { run.pid }

    init() throws {
        guard let binary = shepherdBinary else { throw TestFailure("drmaa-shepherd is not built") }
        directory = try TemporaryDirectory()
        let (ours, theirs) = try controlSocketPair()
        defer { close(theirs) }
        var actions = posix_spawn_file_actions_t()
        try #require(posix_spawn_file_actions_init(&actions) == 0)
        defer { posix_spawn_file_actions_destroy(&actions) }
        try #require(posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) == 0)
        try #require(posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0) == 0)
        try #require(posix_spawn_file_actions_addopen(&actions, 2, directory.file("log"), O_WRONLY | O_CREAT | O_APPEND, 0o644) == 0)
        try #require(posix_spawn_file_actions_adddup2(&actions, theirs, 3) == 0)
        try #require(clocaldrm_spawn_addclosefrom(&actions, 4) == 0)
        let arguments = [binary, "--pool", "--outcomes", directory.path, "--listen", directory.path]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        defer { argv.forEach { free($0) } }
        var envp: [UnsafeMutablePointer<CChar>?] = [nil]
        var pid: pid_t = 0
        let result = posix_spawn(&pid, binary, &actions, nil, argv, &envp)
        guard result == 0 else {
            close(ours)
            throw TestFailure("posix_spawn \(binary): \(String(cString: strerror(result)))")
        }
        run = ShepherdRunHandle(pid: pid, control: ours)
    }

    func outcomePath(_ jobID: String) -> String { ShepherdOutcomeFile.path(directory: directory.path, jobID: jobID) }
    func lockPath(_ jobID: String) -> String { directory.file(jobID + ".lock") }

    /// Sends job `jobID`: `command` is EXECUTABLE ARGV0 ARG...; its stdout and stderr are the files
    /// `<jobID>.out` and `<jobID>.err`, its directory `workingDirectory`. `descriptors`: send these
    /// instead of the job's five (to test a malformed run).
    func send(_ jobID: String, command: [String], environment: [String] = ["PATH=/usr/bin:/bin"],
              workingDirectory: String = "/tmp", descriptors: [Int32]? = nil) throws {
        let job = ShepherdJob(jobID: jobID, executable: Array(command[0].utf8), arguments: command.dropFirst().map { Array($0.utf8) },
                              environment: environment.map { Array($0.utf8) })
        var fds: [Int32] = []
        defer { for fd in fds { close(fd) } }
        if descriptors == nil {
            fds.append(open("/dev/null", O_RDONLY | O_CLOEXEC))
            fds.append(open(directory.file(jobID + ".out"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644))
            fds.append(open(directory.file(jobID + ".err"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644))
            fds.append(open(workingDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC))
            fds.append(open(lockPath(jobID), O_RDWR | O_CREAT | O_CLOEXEC, 0o600))
            guard !fds.contains(-1) else { throw TestFailure("open a job's file: \(String(cString: strerror(errno)))") }
            guard flock(fds[4], LOCK_EX | LOCK_NB) == 0 else { throw TestFailure("flock: \(String(cString: strerror(errno)))") }
        }
        let passed = descriptors ?? fds
        let bytes = ShepherdMessage.run(job).encoded()
        let result = bytes.withUnsafeBytes { raw in
            passed.withUnsafeBufferPointer { clocaldrm_send_with_descriptors(run.control, raw.baseAddress, raw.count, $0.baseAddress, Int32($0.count)) }
        }
        guard result == 0 else { throw TestFailure("sendmsg: \(String(cString: strerror(errno)))") }
    }

    /// How many `accepted` the shepherd sent (``receive()`` counts and skips them).
    private(set) var accepted = 0

    /// The next message from the shepherd other than `accepted` (at most 20 s).
    func receive() throws -> ShepherdMessage {
        while true {
            let message = try receiveAny()
            if message == .accepted { accepted += 1 } else { return message }
        }
    }

    /// The next message from the shepherd (at most 20 s).
    func receiveAny() throws -> ShepherdMessage {
        var entry = pollfd(fd: run.control, events: Int16(POLLIN), revents: 0)
        var ready: Int32
        repeat { ready = poll(&entry, 1, 20_000) } while ready < 0 && errno == EINTR
        guard ready == 1 else { throw TestFailure("no message from the shepherd within 20 s") }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { recv(run.control, $0.baseAddress, $0.count, Int32(MSG_TRUNC)) }
        guard count > 0 else { throw TestFailure("the shepherd closed the connection") }
        return try ShepherdMessage(decoding: buffer[..<min(count, buffer.count)])
    }

    @discardableResult
    func receiveStarted() throws -> pid_t {
        let message = try receive()
        guard case .started(let jobPID, _) = message else { throw TestFailure("expected started, got \(message)") }
        return jobPID
    }

    func receiveFinished() throws -> ShepherdOutcome {
        let message = try receive()
        guard case .finished(let outcome) = message else { throw TestFailure("expected finished, got \(message)") }
        return outcome
    }

    func sendSignal(_ signal: Int32) throws {
        let bytes = ShepherdMessage.signal(signal).encoded()
        guard bytes.withUnsafeBytes({ Glibc.send(run.control, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw TestFailure("send: \(String(cString: strerror(errno)))")
        }
    }

    func closeControl() {
        if run.control >= 0 { close(run.control) }
        run.control = -1
    }

    func isRunning() -> Bool {
        guard run.exitStatus == nil else { return false }
        var status: Int32 = 0
        if waitpid(run.pid, &status, WNOHANG) == run.pid {
            run.exitStatus = status
            return false
        }
        return true
    }

    func waitForExit() throws -> Int32 {
        try eventually("the pooled shepherd exits") { !isRunning() }
        guard let status = run.exitStatus, status & 0x7f == 0 else { throw TestFailure("the shepherd was killed: status \(run.exitStatus ?? -1)") }
        return (status >> 8) & 0xff
    }

    /// True if another process holds the lock of `jobID`.
    func lockIsHeld(_ jobID: String) -> Bool {
        let fd = open(lockPath(jobID), O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) != 0
    }

    /// Closes the connection (an idle shepherd then leaves), kills it if it does not, and removes the directory.
    func cleanUp() {
        closeControl()
        for _ in 0..<500 where isRunning() { usleep(10_000) }
        if isRunning() {
            kill(run.pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(run.pid, &status, 0) == -1 && errno == EINTR {}
        }
        directory.remove()
    }
}
