import DRMAACore
import Foundation
import Glibc
@testable import LocalDRM
import Testing

/// Hostile hosts and inputs: each test reproduces a way a host process (Python, Galaxy) could be
/// hung, crashed or silently misled, and checks the documented behaviour instead.
@Suite("LocalDRM hardening: FIFOs, supervision failure, bounds, configuration files, bytes, sessions", .timeLimit(.minutes(2)))
struct HardeningTests {
    private func fifo(_ f: Fixture, _ name: String) throws -> String {
        let path = f.path(name)
        try #require(mkfifo(path, 0o600) == 0)
        return path
    }

    @Test("an input FIFO without a writer: the job waits (queued, slot free, reason in the timeout diagnosis), nothing else does; a writer starts it")
    func inputFIFOWaitsForWriter() throws {
        let f = try Fixture(slots: 2)
        let short = try f.session.runJob(f.template("/bin/sleep", ["0.2"]))
        let other = try f.session.runJob(f.template("/bin/sleep", ["0.5"]))
        var reader = f.template("/bin/cat", output: ":$drmaa_hd_ph$/fifo-out")
        reader.inputPath = ":" + (try fifo(f, "in.fifo"))
        let waiting = try f.session.runJob(reader)  // returns at once, although no writer exists
        // The other jobs are reaped meanwhile: the supervisor is never blocked by the FIFO.
        #expect(try f.session.wait(short, timeout: .seconds(10)).exitStatus == 0)
        #expect(try f.session.wait(other, timeout: .seconds(10)).exitStatus == 0)
        #expect(try f.session.jobStatus(waiting) == .queuedActive)
        let timeout = expectDRMAAError(.exitTimeout) { try f.session.wait(waiting, timeout: .seconds(0.2)) }
        #expect(timeout?.message.contains("in.fifo") == true, "\(timeout?.message ?? "")")
        // A writer: the job starts and reads what it writes.
        let writer = open(f.path("in.fifo"), O_WRONLY)
        try #require(writer >= 0)
        _ = "through the FIFO\n".withCString { write(writer, $0, strlen($0)) }
        close(writer)
        let info = try f.session.wait(waiting, timeout: .seconds(10))
        #expect(info.exitStatus == 0 && f.read("fifo-out") == "through the FIFO\n")
    }

    @Test("an output FIFO without a reader: the job waits and can be terminated; with a reader it runs")
    func outputFIFOWaitsForReader() throws {
        let f = try Fixture(slots: 1)
        let path = try fifo(f, "out.fifo")
        var template = f.template("/bin/echo", ["to the reader"], output: ":" + path)
        template.joinFiles = true
        let abandoned = try f.session.runJob(template)
        #expect(try f.session.jobStatus(abandoned) == .queuedActive)
        // One slot, and the waiting job does not hold it.
        let next = try f.session.runJob(f.template("/bin/true"))
        #expect(try f.session.wait(next, timeout: .seconds(10)).exitStatus == 0)
        try f.session.control(abandoned, .terminate)
        let ended = try f.session.wait(abandoned, timeout: .seconds(10))
        #expect(ended.wasAborted && !ended.hasResourceUsage)

        let served = try f.session.runJob(template)
        let reader = open(path, O_RDONLY | O_NONBLOCK)
        try #require(reader >= 0)
        defer { close(reader) }
        #expect(try f.session.wait(served, timeout: .seconds(10)).exitStatus == 0)
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(reader, &buffer, buffer.count)
        #expect(count > 0 && String(decoding: buffer[..<max(0, count)], as: UTF8.self) == "to the reader\n")
    }

    @Test("a command still open for writing (ETXTBSY) waits queued with the reason, and runs once it is closed")
    func textFileBusyIsTransient() throws {
        let f = try Fixture()
        let script = f.path("busy.sh")
        let writer = open(script, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        try #require(writer >= 0)
        _ = "#!/bin/sh\nexit 5\n".withCString { write(writer, $0, strlen($0)) }
        let id = try f.session.runJob(f.template(script))
        let timeout = expectDRMAAError(.exitTimeout) { try f.session.wait(id, timeout: .seconds(0.2)) }
        #expect(timeout?.message.contains("Text file busy") == true, "\(timeout?.message ?? "")")
        #expect(try f.session.jobStatus(id) == .queuedActive)
        close(writer)
        #expect(try f.session.wait(id, timeout: .seconds(10)).exitStatus == 5)
    }

    @Test("an output path that is a socket (ENXIO, as a FIFO without reader) fails the job at once instead of waiting")
    func socketOutputFails() throws {
        let f = try Fixture()
        let path = f.path("out.sock")
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(socket >= 0)
        defer { close(socket) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.prefix(buffer.count - 1).enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        let info = try f.session.wait(try f.session.runJob(f.template("/bin/true", output: ":" + path)), timeout: .seconds(10))
        #expect(info.wasAborted && info.abortReason?.contains("out.sock") == true, "\(info.abortReason ?? "")")
    }

    @Test("a failing epoll_wait ends supervision, not the host: running and queued jobs end FAILED with the reason, later submissions fail clearly, a new session works")
    func supervisionFailure() throws {
        let runtime = Runtime(supervisor: try Supervisor(), launcher: try Launcher())
        var drm = LocalDRM(configuration: .init(slots: 1, homeDirectory: NSTemporaryDirectory()))
        drm.privateRuntime = runtime
        let session = Session(system: drm)
        try session.initialize()
        defer { try? session.exit() }
        var sleeper = JobTemplate()
        sleeper.remoteCommand = "/bin/sleep"
        sleeper.args = ["30"]
        sleeper.outputPath = ":/dev/null"
        sleeper.joinFiles = true
        let running = try session.runJob(sleeper)
        let queued = try session.runJob(sleeper)
        #expect(try session.jobStatus(running) == .running)
        runtime.supervisor.injectWaitFailure(EBADF)
        let lost = try session.wait(running, timeout: .seconds(10))
        #expect(lost.wasAborted && lost.abortReason?.contains("epoll_wait failed") == true, "\(lost.abortReason ?? "")")
        let never = try session.wait(queued, timeout: .seconds(10))
        #expect(never.wasAborted && never.abortReason?.contains("epoll_wait failed") == true)
        let refused = expectDRMAAError(.internalError) { try session.runJob(sleeper) }
        #expect(refused?.message.contains("epoll_wait failed") == true)
        // The process-wide supervisor is another one: sessions on it are unaffected.
        let f = try Fixture()
        #expect(try f.session.wait(try f.session.runJob(f.template("/bin/true")), timeout: .seconds(10)).exitStatus == 0)
    }

    @Test("slots and every numeric option have bounds: beyond them a clear error, never an overflow trap")
    func numericBounds() throws {
        let huge = "9223372036854775807"
        let contact = expectDRMAAError(.invalidContactString) { try Session().initialize(contact: "slots=\(huge)") }
        #expect(contact?.message.contains("1048576") == true)
        _ = expectDRMAAError(.invalidContactString) { try Session().initialize(contact: "grace=1e300") }
        let configured = Session(system: LocalDRM(configuration: .init(slots: Int.max)))
        _ = expectDRMAAError(.drmsInitFailed) { try configured.initialize() }
        let f = try Fixture(slots: 2)
        for native in ["--slots=\(huge)", "--task-limit=\(huge)", "--priority=\(huge)", "--nice=\(huge)", "--slots=99999999999999999999"] {
            _ = expectDRMAAError(.deniedByDRM) { try f.session.runJob(f.sleeper(native: native)) }
        }
        #expect(try f.session.wait(try f.session.runJob(f.template("/bin/true")), timeout: .seconds(10)).exitStatus == 0)
    }

    @Test("job category files: a FIFO, a device or an oversized file is refused at once with DRMS_INIT_FAILED; nothing blocks")
    func categoryFilesAreRegularAndBounded() throws {
        let f = try Fixture()
        let fifoPath = try fifo(f, "categories.fifo")
        let big = f.path("big")
        try String(repeating: "# padding\n", count: 200_000).write(toFile: big, atomically: true, encoding: .utf8)
        for (path, expected) in [(fifoPath, "not a regular file"), ("/dev/zero", "not a regular file"), (big, "too large"),
                                 (f.path("missing"), "No such file")] {
            let session = Session()
            let error = expectDRMAAError(.drmsInitFailed) { try session.initialize(contact: "categories=\(path)") }
            #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
            #expect(!session.isActive && session.contact == "")
        }
    }

    @Test("bytes that are not UTF-8 reach the job exactly: arguments, environment and file names")
    func exactBytesReachTheJob() throws {
        let f = try Fixture()
        let argument = String(exactBytes: Array("caf".utf8) + [0xE9, 0xFF])
        let value = String(exactBytes: [0xE9, 0x74, 0xE9])
        let name = String(exactBytes: Array("out-".utf8) + [0xE9, 0xFF])
        #expect(argument.exactBytes == Array("caf".utf8) + [0xE9, 0xFF])
        var template = f.template("/bin/sh", ["-c", "printf '%s|%s' \"$1\" \"$V\"", "sh", argument], output: ":$drmaa_hd_ph$/" + name)
        template.jobEnvironment = ["V": value]
        #expect(try f.session.wait(try f.session.runJob(template), timeout: .seconds(10)).exitStatus == 0)
        // Foundation cannot name such a file: open it by its exact bytes.
        let fd = (f.home + "/" + name).withExactCString { open($0, O_RDONLY) }
        try #require(fd >= 0)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(fd, &buffer, buffer.count)
        #expect(Array(buffer[..<max(0, count)]) == Array("caf".utf8) + [0xE9, 0xFF, UInt8(ascii: "|"), 0xE9, 0x74, 0xE9])
    }

    @Test("a status reaped behind our back (waitpid by pid, as a host's SIGCHLD handler might) is reported as lost with the reason, and nothing is signalled")
    func stolenExitStatus() throws {
        let f = try Fixture()
        let id = try f.session.runJob(f.shell("echo $$ > pid; sleep 0.5; exit 7"))
        let pid = try #require(Int32(f.awaitFile("pid")))
        var status: Int32 = 0
        let stolen = waitpid(pid, &status, 0) == pid
        let info = try f.session.wait(id, timeout: .seconds(10))
        if stolen {
            #expect(info.wasAborted && info.abortReason?.contains("taken by another part of this process") == true, "\(info.abortReason ?? "")")
        } else {
            #expect(info.exitStatus == 7)  // the supervisor reaped it first
        }
    }

    @Test("init/exit cycles without jobs keep nothing; re-attaching to such a session opens it again with the same settings")
    func joblessSessionsCostNothing() throws {
        let before = Session.keptExitedSessions
        let session = Session(system: LocalDRM(configuration: .init(slots: 2, homeDirectory: NSTemporaryDirectory())))
        for _ in 0..<2_000 {
            try session.initialize(contact: "slots=3")
            try session.exit()
        }
        #expect(Session.keptExitedSessions == before)
        try session.initialize(contact: "slots=3;grace=1")
        let contact = session.contact
        #expect(contact.hasSuffix(";slots=3;grace=1"))
        try session.exit()
        try session.initialize(contact: contact)
        #expect(session.contact == contact)
        // The key is open now: another session cannot take it.
        _ = expectDRMAAError(.invalidContactString) { try Session().initialize(contact: contact) }
        try session.exit()
        // A kept session (it has a job) refuses other settings.
        try session.initialize()
        let job = try session.runJob({ var t = JobTemplate(); t.remoteCommand = "/bin/true"; t.outputPath = ":/dev/null"; t.joinFiles = true; return t }())
        let kept = session.contact
        try session.exit()
        #expect(Session.keptExitedSessions == before + 1)
        _ = expectDRMAAError(.invalidContactString) { try session.initialize(contact: kept + ";slots=9") }
        try session.initialize(contact: kept)
        #expect(try session.wait(job, timeout: .seconds(10)).exitStatus == 0)
        try session.exit()
        #expect(Session.keptExitedSessions == before)
    }
}
