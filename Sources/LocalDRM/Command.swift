import CLocalDRM
import DRMAACore
import Glibc

/// What a command run by ``Command/run(_:_:input:timeout:)`` did.
package struct CommandResult: Sendable {
    /// The exit status, `nil` if it died of a signal or its status was taken by another
    /// (a host that ignores SIGCHLD reaps its children itself).
    package var exitStatus: Int32?
    /// The signal it died of, if it did.
    package var signal: Int32?
    /// Its standard output and standard error, byte for byte.
    package var output: [UInt8]
    package var errorOutput: [UInt8]

    /// Standard output as text, without the final newline.
    package var outputText: String { Self.text(output) }
    /// Standard error as text, without the final newline.
    package var errorText: String { Self.text(errorOutput) }

    private static func text(_ bytes: [UInt8]) -> String {
        var bytes = bytes[...]
        while bytes.last == 0x0A || bytes.last == 0x0D { bytes = bytes.dropLast() }
        return String(exactBytes: bytes)
    }
}

/// Runs a resource manager's commands (`sbatch`, `squeue`, …) as child processes: posix_spawn
/// in a process group of its own, with the signal mask and handlers reset, only the standard
/// streams inherited, stdin from `input` (over a socket), stdout and stderr captured through
/// pipes; it is waited for by its pid only. Blocking: call it from a thread that may block (never a supervisor's).
package enum Command {
    /// The absolute path of `name` on `PATH` (or `name` itself if it has a `/`), `nil` if there is none.
    package static func find(_ name: String) -> String? {
        if name.contains("/") { return Syscall.isExecutableFile(name) ? name : nil }
        let path = Syscall.environmentValue("PATH") ?? "/usr/local/bin:/usr/bin:/bin"
        // An empty entry would mean the host's current directory: never searched.
        for directory in path.split(separator: ":") {
            let candidate = String(directory) + "/" + name
            if Syscall.isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    /// Runs `executable` (a path) with `arguments` (argv after argv[0]) and `input` on its stdin;
    /// kills its process group after `timeout` seconds. Throws `DRM_COMMUNICATION_FAILURE` when it
    /// cannot be started or does not end in time. The command gets the process's environment with
    /// `environment`'s variables set (or replaced).
    package static func run(_ executable: String, _ arguments: [String], input: [UInt8] = [],
                            environment: [String: String] = [:], timeout: Double) throws(DRMAAError) -> CommandResult {
        let name = executable.split(separator: "/").last.map(String.init) ?? executable
        func failure(_ what: String, _ error: Errno) -> DRMAAError {
            DRMAAError(.drmCommunicationFailure, "cannot run \(name): \(what): \(error)")
        }
        let stdin: (read: Int32, write: Int32), stdout: (read: Int32, write: Int32), stderr: (read: Int32, write: Int32)
        do throws(Errno) {
            // A socket, not a pipe, for stdin: a command that exits without reading it all makes
            // a write fail with EPIPE (MSG_NOSIGNAL), never raise SIGPIPE in the host process.
            let pair = try Syscall.socketPair(type: Int32(SOCK_STREAM.rawValue))
            stdin = (read: pair.0, write: pair.1)
            do throws(Errno) { stdout = try Syscall.pipe() } catch { Syscall.close(stdin.read); Syscall.close(stdin.write); throw error }
            do throws(Errno) { stderr = try Syscall.pipe() } catch {
                for fd in [stdin.read, stdin.write, stdout.read, stdout.write] { Syscall.close(fd) }
                throw error
            }
        } catch {
            throw failure("pipe", error)
        }
        var parentEnds = [stdin.write, stdout.read, stderr.read]
        defer { for fd in parentEnds { Syscall.close(fd) } }
        let spawned = Result { () throws(DRMAAError) -> pid_t in
            try spawn(executable, [executable] + arguments, environment: environment,
                      input: stdin.read, output: stdout.write, error: stderr.write, name: name)
        }
        for fd in [stdin.read, stdout.write, stderr.write] { Syscall.close(fd) }
        let pid = try spawned.get()

        var result = CommandResult(output: [], errorOutput: [])
        var pending = input[...]
        if pending.isEmpty { Syscall.close(stdin.write); parentEnds.removeFirst() }
        var open: Set<Int32> = [stdout.read, stderr.read]
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = Syscall.monotonicNanoseconds() + Int64(max(0, timeout) * 1e9)
        var timedOut = false
        while !open.isEmpty {
            let left = deadline - Syscall.monotonicNanoseconds()
            if left <= 0 { timedOut = true; break }
            var watched: [(fd: Int32, events: Int16)] = open.sorted().map { ($0, Int16(POLLIN)) }
            if !pending.isEmpty { watched.append((stdin.write, Int16(POLLOUT))) }
            let events: [Int16]
            do throws(Errno) {
                events = try Syscall.poll(watched, timeoutMilliseconds: Int32(min(left / 1_000_000 + 1, 60_000)))
            } catch {
                timedOut = true  // cannot wait for it: end it
                break
            }
            for (index, entry) in watched.enumerated() where events[index] != 0 {
                if entry.fd == stdin.write {
                    do throws(Errno) {
                        pending = pending.dropFirst(try Syscall.sendSome(stdin.write, pending))
                    } catch {
                        pending = []  // it closed its stdin (EPIPE): it reads no more
                    }
                    if pending.isEmpty, let at = parentEnds.firstIndex(of: stdin.write) {
                        Syscall.close(stdin.write)
                        parentEnds.remove(at: at)
                    }
                    continue
                }
                do throws(Errno) {
                    let count = try Syscall.readSome(entry.fd, into: &buffer)
                    if count == 0 { open.remove(entry.fd); continue }
                    if entry.fd == stdout.read { result.output += buffer[..<count] } else { result.errorOutput += buffer[..<count] }
                } catch where error == .wouldBlock {
                } catch {
                    open.remove(entry.fd)
                }
            }
        }
        // A command that closed its output may still not end: it too has until the deadline.
        var status: Int32?
        var reaped = false
        if !timedOut {
            do throws(Errno) {
                switch try awaitExit(pid, deadline: deadline) {
                case .ended(let value): (status, reaped) = (value, true)
                case .gone: reaped = true
                case .running: timedOut = true
                }
            } catch {
                throw failure("waitpid", error)
            }
        }
        if !reaped {
            try? Syscall.signalGroup(pid, SIGKILL)
            do throws(Errno) {
                status = try Syscall.waitStatus(pid)
            } catch {
                throw failure("waitpid", error)
            }
        }
        if timedOut {
            throw DRMAAError(.drmCommunicationFailure, "\(name) did not finish within \(Int(timeout.rounded(.up))) s and was killed")
        }
        if let status {
            if clocaldrm_wifsignaled(status) != 0 { result.signal = clocaldrm_wtermsig(status) } else { result.exitStatus = clocaldrm_wexitstatus(status) }
        }
        return result
    }

    /// Waits until `pid` ends or `deadline` passes (`.running` then), and reaps it: woken by its
    /// pidfd where the kernel has them (Linux 5.3), else checking at growing intervals.
    private static func awaitExit(_ pid: pid_t, deadline: Int64) throws(Errno) -> Syscall.ChildPoll {
        if let pidfd = try? Syscall.pidfdOpen(pid) {
            defer { Syscall.close(pidfd) }
            while true {
                let left = deadline - Syscall.monotonicNanoseconds()
                guard left > 0 else { return try Syscall.pollChild(pid) }
                let events = try Syscall.poll([(pidfd, Int16(POLLIN))], timeoutMilliseconds: Int32(min(left / 1_000_000 + 1, 60_000)))
                if events[0] != 0 { return try Syscall.pollChild(pid) }
            }
        }
        var nap: UInt32 = 100  // µs, doubling to 10 ms: it usually ends right after closing its output
        while true {
            let child = try Syscall.pollChild(pid)
            guard case .running = child, Syscall.monotonicNanoseconds() < deadline else { return child }
            usleep(nap)
            nap = min(nap * 2, 10_000)
        }
    }

    private static func spawn(_ executable: String, _ argv: [String], environment: [String: String], input: Int32, output: Int32, error: Int32,
                              name: String) throws(DRMAAError) -> pid_t {
        func check(_ result: Int32, _ call: String) throws(DRMAAError) {
            guard result != 0 else { return }
            throw DRMAAError(.drmCommunicationFailure, "cannot run \(name): \(call) failed: \(Errno(rawValue: result))")
        }
        var actions = posix_spawn_file_actions_t()
        try check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init")
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Every source is >= 3 (Syscall.pipe), so no dup2 clobbers another source.
        try check(posix_spawn_file_actions_adddup2(&actions, input, 0), "posix_spawn_file_actions_adddup2")
        try check(posix_spawn_file_actions_adddup2(&actions, output, 1), "posix_spawn_file_actions_adddup2")
        try check(posix_spawn_file_actions_adddup2(&actions, error, 2), "posix_spawn_file_actions_adddup2")
        try check(clocaldrm_spawn_addclosefrom(&actions, 3), "posix_spawn_file_actions_addclosefrom_np")
        var attributes = posix_spawnattr_t()
        try check(posix_spawnattr_init(&attributes), "posix_spawnattr_init")
        defer { posix_spawnattr_destroy(&attributes) }
        try check(posix_spawnattr_setpgroup(&attributes, 0), "posix_spawnattr_setpgroup")
        try check(clocaldrm_spawnattr_clean_signals(&attributes, Int16(POSIX_SPAWN_SETPGROUP)), "posix_spawnattr_setsig*")
        do throws(Errno) {
            guard !environment.isEmpty else { return try Syscall.spawn(executable, argv, Syscall.processEnvironment, &actions, &attributes) }
            var entries: [String] = []
            var index = 0
            while let entry = Syscall.processEnvironment[index] {
                let text = String(cString: entry)
                let name = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? text
                if environment[name] == nil { entries.append(text) }
                index += 1
            }
            entries += environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            var pointers: [UnsafeMutablePointer<CChar>?] = entries.map { strdup($0) } + [nil]
            defer { for pointer in pointers { free(pointer) } }
            return try pointers.withUnsafeMutableBufferPointer { buffer throws(Errno) -> pid_t in
                try Syscall.spawn(executable, argv, UnsafePointer(buffer.baseAddress!), &actions, &attributes)
            }
        } catch {
            throw DRMAAError(.drmCommunicationFailure, "cannot run \(executable): \(error)")
        }
    }
}

/// A thread for a backend's own work (a poller); false if none could be started.
package func startBackgroundThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    (try? Syscall.startThread { ready in
        ready()
        body()
    }) != nil
}

/// A wake-up a thread sleeps on with a timeout (a poller between polls).
package final class Wakeup: @unchecked Sendable {
    // @unchecked: the semaphore is made in init and destroyed in deinit; sem_post and
    // sem_timedwait are thread-safe.
    private let semaphore: UnsafeMutablePointer<sem_t> = .allocate(capacity: 1)

    package init() { sem_init(semaphore, 0, 0) }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    /// Wakes the sleeper now (or its next sleep at once).
    package func signal() { sem_post(semaphore) }

    /// Sleeps up to `seconds`, less if ``signal()`` is called.
    package func sleep(seconds: Double) {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        let total = Double(deadline.tv_sec) + Double(deadline.tv_nsec) / 1e9 + seconds
        deadline.tv_sec = Int(total)
        deadline.tv_nsec = Int((total - Double(Int(total))) * 1e9)
        while sem_timedwait(semaphore, &deadline) != 0, errno == EINTR {}
    }
}
