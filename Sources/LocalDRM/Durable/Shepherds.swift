import CLocalDRM
import DRMAACore
import Glibc
import ShepherdProtocol

/// How the daemon's scheduler starts jobs: each through its own `drmaa-shepherd`, the job's
/// real parent, which outlives the daemon if it must (Docs/Architecture.md, Shepherd).
///
/// The shepherd is spawned exactly as the job would be (its streams on 0-2, the working
/// directory, the environment, a clean signal state) plus its control socket on fd 3; it then
/// starts the job in a process group of its own, with the limits and nice level already set on
/// itself, so the job never runs without them.
struct ShepherdLaunch: Sendable {
    /// The `drmaa-shepherd` executable.
    let executable: String
    /// Where shepherds write outcome files and, once the daemon is gone, listen.
    let directory: String

    /// Spawns the shepherd of job `jobID`; its pid and the daemon's end of its control socket.
    func spawn(jobID: String, request: JobRequest, files: JobFiles, environment: JobEnvironment,
               variables: [(name: String, value: String)], options: JobOptions,
               temporary: PrivateTemporaryDirectory?) throws(StartFailure) -> (pid_t, ShepherdLink) {
        guard ShepherdOutcomeFile.isValidJobID(jobID) else {
            throw StartFailure(reason: "job id '\(jobID)' cannot name a shepherd's files")
        }
        var arguments = ["--job", jobID, "--outcomes", directory, "--listen", directory]
        if let nice = options.nice { arguments += ["--nice", String(nice)] }
        for (resource, limit) in options.resourceLimits.sorted(by: { $0.key < $1.key }) {
            let current: rlimit
            do {
                current = try Syscall.ownResourceLimit(resource.rlimit)
            } catch {
                throw StartFailure("cannot read the daemon's own resource limit \(resource.rlimit)", error)
            }
            let wanted = limit.applied(to: current, resource: resource, slots: options.slots)
            func text(_ value: rlim_t) -> String { value == rlim_t.max ? "inf" : String(value) }
            arguments += ["--rlimit", "\(resource.rlimit)=\(text(wanted.rlim_cur)):\(text(wanted.rlim_max))"]
        }
        arguments += ["--", files.executable, request.remoteCommand] + request.arguments
        let (daemonEnd, shepherdEnd): (Int32, Int32)
        do {
            (daemonEnd, shepherdEnd) = try Syscall.socketPair(type: Syscall.packetSocket)
        } catch {
            throw StartFailure("cannot make the control socket of the job's shepherd", error)
        }
        var close = [shepherdEnd]
        defer { for fd in close { Syscall.close(fd) } }
        // The job's lock, held by its shepherd for as long as it lives (it inherits the locked file
        // as its fd 4): a restarted daemon tells a job whose shepherd still runs from one that
        // never started, or whose shepherd is gone, by trying it.
        let lockPath = Self.lockPath(directory: directory, jobID: jobID)
        let locked: Int32?
        do {
            locked = try Syscall.tryLock(lockPath)
        } catch {
            Syscall.close(daemonEnd)
            throw StartFailure("cannot make the lock file of the job's shepherd", error)
        }
        guard let lock = locked else {
            Syscall.close(daemonEnd)
            throw StartFailure(reason: "the lock of job \(jobID) is held: a shepherd runs it already")
        }
        close.append(lock)
        if let temporary {
            // What a restarted daemon needs to remove the job's TMPDIR when it ends.
            let text = "\(temporary.parent)\n\(temporary.name)\n\(temporary.identity.device)\n\(temporary.identity.inode)\n"
            do {
                try Syscall.writeAll(lock, Array(text.utf8))
            } catch {
                Syscall.removeFile(lockPath)
                Syscall.close(daemonEnd)
                throw StartFailure("cannot write the lock file of the job's shepherd", error)
            }
        }
        let control: Int32, held: Int32
        do {
            // Above the targets 3 and 4, so that placing one cannot overwrite the other.
            control = try Syscall.duplicate(shepherdEnd, atLeast: 5)
            close.append(control)
            held = try Syscall.duplicate(lock, atLeast: 5)
            close.append(held)
        } catch {
            Syscall.removeFile(lockPath)
            Syscall.close(daemonEnd)
            throw StartFailure("cannot prepare the descriptors of the job's shepherd", error)
        }
        do {
            let pid = try Spawner.spawn(request, files, environment: environment, variables: variables,
                                        through: (executable, arguments, [control, held]))
            return (pid, ShepherdLink(descriptor: daemonEnd))
        } catch {
            Syscall.removeFile(lockPath)
            Syscall.close(daemonEnd)
            throw error
        }
    }

    /// What a job's lock file says: its private TMPDIR, if it has one.
    static func temporaryDirectory(inLock path: String) -> PrivateTemporaryDirectory? {
        guard let text = try? Syscall.readConfigurationFile(path, limit: 1 << 16) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, let device = UInt64(lines[2]), let inode = UInt64(lines[3]) else { return nil }
        return PrivateTemporaryDirectory(parent: String(lines[0]), name: String(lines[1]),
                                         identity: FileIdentity(device: device, inode: inode))
    }

    /// `<directory>/<jobID>.lock`: held by the job's shepherd while it lives.
    static func lockPath(directory: String, jobID: String) -> String {
        directory + (directory.hasSuffix("/") ? "" : "/") + jobID + ".lock"
    }

    /// Forgets a job's outcome file and lock once its outcome is in the spool.
    static func removeFiles(directory: String, jobID: String) {
        guard ShepherdOutcomeFile.isValidJobID(jobID) else { return }
        Syscall.removeFile(ShepherdOutcomeFile.path(directory: directory, jobID: jobID))
        Syscall.removeFile(lockPath(directory: directory, jobID: jobID))
    }

    /// What a reaped shepherd says became of its job: the job's own wait status and usage, or why
    /// it could not start, or why nothing is known.
    static func result(of outcome: ShepherdOutcome?, shepherd: Reaped, shepherdPID: pid_t,
                       orphanKilled: Bool = false) -> (Termination?, Reaped?, hasUsage: Bool) {
        guard let outcome else {
            let how: String
            switch shepherd {
            case .process(let reaped):
                how = clocaldrm_wifsignaled(reaped.status) != 0
                    ? "was killed by \(SignalNames.name(of: clocaldrm_wtermsig(reaped.status)))"
                    : "exited with status \(clocaldrm_wexitstatus(reaped.status))"
            case .lost(let reason):
                how = "ended (\(reason))"
            }
            let killed = orphanKilled ? "; the job was killed with it" : ""
            return (nil, .lost(reason: "its shepherd (pid \(shepherdPID)) \(how) without recording how the job ended\(killed)"), true)
        }
        if let failure = outcome.spawnFailure {
            return (.aborted(reason: "the job could not be started: \(failure)"), nil, false)
        }
        var usage = rusage()
        let u = outcome.usage
        usage.ru_utime = timeval(tv_sec: Int(u.userMicroseconds / 1_000_000), tv_usec: Int(u.userMicroseconds % 1_000_000))
        usage.ru_stime = timeval(tv_sec: Int(u.systemMicroseconds / 1_000_000), tv_usec: Int(u.systemMicroseconds % 1_000_000))
        usage.ru_maxrss = Int(u.maxRSS)
        usage.ru_minflt = Int(u.minorFaults)
        usage.ru_majflt = Int(u.majorFaults)
        usage.ru_inblock = Int(u.blockInputs)
        usage.ru_oublock = Int(u.blockOutputs)
        usage.ru_nvcsw = Int(u.voluntarySwitches)
        usage.ru_nivcsw = Int(u.involuntarySwitches)
        usage.ru_nsignals = Int(u.signalsReceived)
        return (nil, .process(ReapedProcess(status: outcome.waitStatus, usage: usage)), true)
    }
}

/// The daemon's end of one shepherd's control socket.
final class ShepherdLink: Sendable {
    /// The socket, `nil` once closed (so that a late signal never goes to a reused number).
    private let socket: Mutex<Int32?>

    init(descriptor: Int32) {
        socket = Mutex(descriptor)
    }

    /// Asks the shepherd to send `signal` to the job's process group. A shepherd that is gone
    /// has reaped the job already: nothing is left to signal (`ESRCH`, as for a gone group).
    func signal(_ signal: Int32) throws(Errno) {
        try socket.withLock { socket throws(Errno) in
            guard let descriptor = socket else { throw .noSuchProcess }
            do throws(Errno) {
                try Syscall.sendPacket(descriptor, ShepherdMessage.signal(signal).encoded())
            } catch where [EPIPE, ECONNRESET, ENOTCONN].contains(error.rawValue) {
                throw .noSuchProcess
            }
        }
    }

    /// Closes the socket (once).
    func close() {
        socket.withLock { socket in
            if let descriptor = socket { Syscall.close(descriptor) }
            socket = nil
        }
    }

    /// After the shepherd was reaped: the outcome it sent, else the one in its file, and the
    /// job's pid if it said it started the job; closes the socket.
    func outcome(jobID: String, directory: String) -> (ShepherdOutcome?, jobPID: pid_t?) {
        var found: ShepherdOutcome?
        var jobPID: pid_t?
        socket.withLock { socket in
            guard let descriptor = socket else { return }
            var buffer = [UInt8](repeating: 0, count: 4096)
            while let count = try? Syscall.receive(descriptor, into: &buffer, nonBlocking: true), count > 0 {
                switch try? ShepherdMessage(decoding: buffer[..<count]) {
                case .finished(let outcome)?: found = outcome
                case .started(let pid, _)?: jobPID = pid
                default: break
                }
            }
        }
        close()
        if let found { return (found, jobPID) }
        return ((try? ShepherdOutcomeFile.read(directory: directory, jobID: jobID)) ?? nil, jobPID)
    }

    /// A shepherd that died without an outcome left its job running, an orphan: it is killed
    /// (its group), if the pid is still the job's (in the dead shepherd's session, which only its
    /// processes can be in). True if it was.
    static func killOrphan(jobPID: pid_t, shepherdPID: pid_t) -> Bool {
        guard jobPID > 1, shepherdPID > 1, Syscall.sessionID(of: jobPID) == shepherdPID else { return false }
        return (try? Syscall.signalGroup(jobPID, SIGKILL)) != nil
    }

    /// For a shepherd this daemon did not start (re-adopted after a restart): blocks until it
    /// says the job ended, or its socket closes; the outcome, from the socket or its file.
    /// Closes the socket. Not for the supervisor thread.
    func awaitOutcome(jobID: String, directory: String) -> ShepherdOutcome? {
        guard let descriptor = socket.withLock({ $0 }) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var found: ShepherdOutcome?
        while found == nil {
            // Only this thread reads; a signal sent meanwhile uses the same socket under the lock.
            guard let count = try? Syscall.receive(descriptor, into: &buffer), count > 0 else { break }
            if case .finished(let outcome)? = try? ShepherdMessage(decoding: buffer[..<count]) { found = outcome }
        }
        close()
        if let found { return found }
        return (try? ShepherdOutcomeFile.read(directory: directory, jobID: jobID)) ?? nil
    }
}
