import DRMAACore
import Foundation
import Glibc
import LocalDRM
import Testing

@Suite("LocalDRM spawn hygiene and concurrency", .timeLimit(.minutes(2)))
struct HygieneTests {
    @Test("a job inherits only fds 0, 1 and 2, even when the host leaks a non-CLOEXEC fd")
    func onlyStandardDescriptors() throws {
        let f = try Fixture()
        let leaked = open("/dev/null", O_RDONLY)  // deliberately without O_CLOEXEC
        defer { close(leaked) }
        #expect(leaked > 2)
        _ = try f.session.wait(try f.session.runJob(f.template("/bin/ls", ["/proc/self/fd"])))
        // ls itself holds fd 3 for the directory it lists.
        #expect(f.read("out").split(separator: "\n") == ["0", "1", "2", "3"])
    }

    @Test("a job runs in its own process group with an empty signal mask and default handlers")
    func processGroupAndSignals() throws {
        let f = try Fixture()
        _ = try f.session.wait(try f.session.runJob(f.shell("echo $$; cut -d' ' -f5 /proc/$$/stat")))
        let lines = f.read("out").split(separator: "\n").map(String.init)
        #expect(lines.count == 2 && lines[0] == lines[1], "process group id should be the job's pid")
        // The job reads its own status (a shell would show its own transient masks).
        _ = try f.session.wait(try f.session.runJob(f.template("/bin/grep", ["-E", "^Sig(Blk|Ign)", "/proc/self/status"], output: ":$drmaa_hd_ph$/sig")))
        let masks = f.read("sig").split(separator: "\n").compactMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) }
        #expect(masks.count == 2)
        #expect(masks.first == 0, "no signal blocked")
        // glibc's posix_spawn leaves its two internal signals (32, 33) ignored; 1-31 and SIGRTMIN.. must not be.
        #expect((masks.last ?? 1) & ~UInt64(0x1_8000_0000) == 0, "no signal ignored")
    }

    @Test("grandchildren die with their job: when it is terminated and when it exits")
    func grandchildrenKilled() throws {
        let f = try Fixture()
        let running = try f.session.runJob(f.shell("sleep 60 & echo $! > \(f.path("gc1")); wait"))
        let first = try #require(Int32(f.awaitFile("gc1")))
        try f.session.control(running, .terminate)
        _ = try f.session.wait(running)
        // Dead is enough: a zombie waits only for its new parent (init, or a container's
        // PID 1, which may reap slowly) to reap it.
        #expect(awaitProcess(first, state: nil, orStates: ["Z"]))

        let exiting = try f.session.runJob(f.shell("sleep 60 & echo $! > \(f.path("gc2"))"))
        _ = try f.session.wait(exiting)
        let second = try #require(Int32(f.awaitFile("gc2")))
        #expect(awaitProcess(second, state: nil, orStates: ["Z"]))
    }

    @Test("no zombies: a reaped job's pid is gone")
    func noZombies() throws {
        let f = try Fixture()
        var pids: [Int32] = []
        for n in 0..<5 {
            let id = try f.session.runJob(f.shell("echo $$ > \(f.path("p\(n)"))"))
            _ = try f.session.wait(id)
            pids.append(try #require(Int32(f.awaitFile("p\(n)"))))
        }
        for pid in pids { #expect(processState(pid) == nil) }
    }

    @Test("§10.73 several threads submitting and waiting at once: every job delivered exactly once")
    func threadsSubmitAndWait() throws {
        let f = try Fixture(slots: 4)
        let threads = 8, perThread = 10
        let results = Mutex<[String: Int]>([:])
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for n in 0..<perThread {
                guard let id = try? f.session.runJob(f.shell("exit \((t * perThread + n) % 7)")) else { continue }
                if let info = try? f.session.wait(id) {
                    results.withLock { $0[info.jobID, default: 0] += 1 }
                    #expect(info.exitStatus == Int32((t * perThread + n) % 7))
                }
            }
        }
        let counts = results.withLock { $0 }
        #expect(counts.count == threads * perThread)
        #expect(counts.values.allSatisfy { $0 == 1 })
    }

    @Test("§10.69/§10.73 threads in wait(SESSION_ANY) share the finished jobs: each exactly once")
    func threadsWaitAny() throws {
        let f = try Fixture(slots: 4)
        let ids = try f.session.runBulkJobs(f.shell("exit 0"), beginIndex: 1, endIndex: 24, step: 1)
        let delivered = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            while let info = try? f.session.wait(Session.jobIDsSessionAny) {
                delivered.withLock { $0.append(info.jobID) }
            }
        }
        #expect(delivered.withLock { $0 }.sorted() == ids.sorted())
    }
}

import Synchronization
