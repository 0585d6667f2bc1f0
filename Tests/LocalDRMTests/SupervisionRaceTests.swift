import DRMAACore
import Foundation
import Glibc
@testable import LocalDRM
import Testing

// Found in review: each would leak a descriptor, leave a job queued for ever, close a host's file or
// signal a host's own child.

private func openFDs() -> [Int32: String] {
    var result: [Int32: String] = [:]
    for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
        guard let fd = Int32(name) else { continue }
        result[fd] = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(name)")) ?? "?"
    }
    return result
}

private func fifoFDs(_ path: String) -> Int { openFDs().values.filter { $0 == path }.count }

@Suite("LocalDRM hardening: descriptors, supervision failure races, reused pids", .serialized, .timeLimit(.minutes(2)))
struct SupervisionRaceTests {
    @Test("a held input FIFO is closed on hold, release, terminate and deadline: no descriptor leaks")
    func heldInputReleased() throws {
        let f = try Fixture(slots: 2)
        let path = f.path("in.fifo")
        try #require(mkfifo(path, 0o600) == 0)
        var t = f.template("/bin/cat", output: ":$drmaa_hd_ph$/o")
        t.inputPath = ":" + path
        // terminate
        let a = try f.session.runJob(t)
        usleep(100_000)
        try f.session.control(a, .hold)
        usleep(100_000)
        try f.session.control(a, .release)
        usleep(100_000)
        try f.session.control(a, .terminate)
        _ = try f.session.wait(a, timeout: .seconds(5))
        #expect(fifoFDs(path) == 0)
        // deadline
        var d = t
        var when = time(nil) + 2
        var parts = tm()
        gmtime_r(&when, &parts)
        d.deadlineTime = String(format: "%04d/%02d/%02d %02d:%02d:%02d +00:00", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
        let b = try f.session.runJob(d)
        let info = try f.session.wait(b, timeout: .seconds(5))
        #expect(info.wasAborted)
        #expect(fifoFDs(path) == 0)
    }

    @Test("supervision failing while jobs are started and deferred leaves no job queued for ever")
    func failureDuringDeferral() throws {
        var totalHung = 0
        for round in 0..<4 {
            let runtime = Runtime(supervisor: try Supervisor(), launcher: try Launcher())
            let home = NSTemporaryDirectory() + "rv-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            let fifo = home + "/out.fifo"
            try #require(mkfifo(fifo, 0o600) == 0)
            var drm = LocalDRM(configuration: .init(slots: 4, homeDirectory: home))
            drm.privateRuntime = runtime
            let session = Session(system: drm)
            try session.initialize()
            var t = JobTemplate()
            t.remoteCommand = "/bin/true"
            t.outputPath = ":" + fifo   // no reader: every start is deferred
            t.joinFiles = true
            let t0 = Date()
            let ids = try session.runBulkJobs(t, beginIndex: 1, endIndex: 2000, step: 1)
            let firstPass = Date().timeIntervalSince(t0)
            usleep(UInt32(10_000 + round * 7_000))
            runtime.supervisor.injectWaitFailure(EBADF)
            var hung: [String] = []
            do {
                try session.synchronize(ids, timeout: .seconds(3))
            } catch {
                for id in ids where (try? session.jobStatus(id)) == .queuedActive { hung.append(id) }
                Issue.record("round \(round) (first pass \(firstPass) s): \(error); still queued: \(hung.prefix(5))")
                totalHung += hung.count
                // terminate them so the session can be left
                for id in hung { try? session.control(id, .terminate) }
            }
            try? session.exit()
        }
        #expect(totalHung == 0)
    }

    @Test("the epoll fd closed behind our back and its number reused by the host: ending supervision does not close the host's file")
    func doubleCloseOnFailure() throws {
        let before = Set(openFDs().filter { $0.value.contains("eventpoll") }.keys)
        let supervisor = try Supervisor()
        let after = openFDs().filter { $0.value.contains("eventpoll") }.keys.filter { !before.contains($0) }
        let epoll = try #require(after.first)
        close(epoll)
        let hostFile = open("/dev/null", O_RDONLY)
        try #require(hostFile == epoll)
        _ = supervisor.schedule(at: supervisor.monotonicNow() + 1_000_000) {}
        for _ in 0..<200 where supervisor.failure == nil { usleep(10_000) }
        #expect(supervisor.failure != nil)
        let stillOpen = fcntl(hostFile, F_GETFD) != -1
        #expect(stillOpen)
        close(hostFile)
    }

    @Test("supervision failing after a job's pidfd was closed behind our back: the job is still killed and reaped by pid, and reported")
    func failureWithClosedPidfd() throws {
        let job = try PrivateJob(script: "exec sleep 30")
        defer { job.end() }
        let (runtime, session, id, pid) = (job.runtime, job.session, job.id, job.pid)
        // Find the job's pidfd and close it, as a careless host might (closing every fd it does not know).
        let pidfd = try #require(openFDs().keys.first { fd in
            ((try? String(contentsOfFile: "/proc/self/fdinfo/\(fd)", encoding: .utf8)) ?? "").contains("Pid:\t\(pid)\n")
        })
        close(pidfd)
        runtime.supervisor.injectWaitFailure(EBADF)
        let info = try session.wait(id, timeout: .seconds(10))
        #expect(info.wasAborted && info.abortReason?.contains("epoll_wait failed") == true, "\(info.abortReason ?? "")")
        #expect(processState(pid) == nil, "the job's process is killed and reaped, not left running or a zombie")
    }

    @Test("a status stolen and its pid reused by the host's own child before the supervisor looks: the host's child is neither signalled nor reaped")
    func reusedPidIsLeftAlone() throws {
        let job = try PrivateJob(script: "sleep 0.3")
        defer { job.end() }
        let (runtime, session, id, pid) = (job.runtime, job.session, job.id, job.pid)
        // The supervisor thread is busy for 2 s (a slow moment: the machine is loaded, or it is reaping).
        _ = runtime.supervisor.schedule(at: runtime.supervisor.monotonicNow()) { usleep(2_000_000) }
        usleep(50_000)
        // The host's SIGCHLD handler steals the status.
        var status: Int32 = 0
        try #require(waitpid(pid, &status, 0) == pid)
        // The host spawns a child of its own that happens to get the same pid, in its own group.
        var other: pid_t = 0
        for _ in 0..<20 {
            let fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY)
            _ = "\(pid - 1)".withCString { write(fd, $0, strlen($0)) }
            close(fd)
            var attr = posix_spawnattr_t()
            posix_spawnattr_init(&attr)
            posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP))
            posix_spawnattr_setpgroup(&attr, 0)
            var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("5"), nil]
            posix_spawn(&other, "/bin/sleep", nil, &attr, &argv, environ)
            posix_spawnattr_destroy(&attr)
            if other == pid { break }
            kill(other, SIGKILL); waitpid(other, nil, 0)
        }
        // Reusing the pid needs root (ns_last_pid) and no other process taking it first.
        guard other == pid else {
            print("SKIPPED: the job's pid \(pid) could not be given to a new process (got \(other)); nothing to check")
            if other > 0 { kill(other, SIGKILL); waitpid(other, nil, 0) }
            return
        }
        let info = try session.wait(id, timeout: .seconds(10))
        var hostStatus: Int32 = 0
        let r = waitpid(other, &hostStatus, WNOHANG)
        #expect(info.wasAborted, "the job's status was stolen: it must be reported lost")
        #expect(r == 0, "the host's own child must be alive and unreaped")
        kill(other, SIGKILL); waitpid(other, nil, 0)
    }
}

/// A session on a supervisor and launcher of its own (so that a test may break them) with one
/// running job, `/bin/sh -c "echo $$ > pid; <script>"`, and that job's pid.
private struct PrivateJob {
    let runtime: Runtime
    let session: Session
    let home: String
    let id: String
    let pid: Int32

    init(script: String) throws {
        runtime = Runtime(supervisor: try Supervisor(), launcher: try Launcher())
        home = NSTemporaryDirectory() + "drmaa-private-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        var drm = LocalDRM(configuration: .init(slots: 2, homeDirectory: home))
        drm.privateRuntime = runtime
        session = Session(system: drm)
        try session.initialize()
        var template = JobTemplate()
        template.remoteCommand = "/bin/sh"
        template.args = ["-c", "echo $$ > \(home)/pid; \(script)"]
        template.outputPath = ":/dev/null"
        template.joinFiles = true
        id = try session.runJob(template)
        var text = ""
        for _ in 0..<400 where text.isEmpty {
            text = ((try? String(contentsOfFile: home + "/pid", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            usleep(5000)
        }
        pid = try #require(Int32(text))
    }

    func end() {
        try? session.control(Session.jobIDsSessionAll, .terminate)
        try? session.synchronize([Session.jobIDsSessionAll], timeout: .seconds(10), dispose: true)
        try? session.exit()
        try? FileManager.default.removeItem(atPath: home)
    }
}
