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
    /// Shepherds that run one job after another; `nil`: every job gets a shepherd of its own.
    let pool: ShepherdPool?

    init(executable: String, directory: String, poolSize: Int = ShepherdPool.defaultSize) {
        self.executable = executable
        self.directory = directory
        pool = poolSize > 0 ? ShepherdPool(executable: executable, directory: directory, size: poolSize) : nil
    }

    /// Spawns the shepherd of job `jobID`, or hands the job to an idle pooled one; its pid and the
    /// daemon's end of its control socket (``ShepherdLink/pooled`` says which kind it is).
    func spawn(jobID: String, request: JobRequest, files: JobFiles, environment: JobEnvironment,
               variables: [(name: String, value: String)], options: JobOptions,
               temporary: PrivateTemporaryDirectory?) throws(StartFailure) -> (pid_t, ShepherdLink) {
        guard ShepherdOutcomeFile.isValidJobID(jobID) else {
            throw StartFailure(reason: "job id '\(jobID)' cannot name a shepherd's files")
        }
        // A nice level or lower limits cannot be taken back by the process that set them on
        // itself: such a job gets a one-shot shepherd, which sets them and ends with the job.
        if let pool, options.nice == nil, options.resourceLimits.isEmpty, files.executable.hasPrefix("/") {
            let job = ShepherdJob(jobID: jobID, executable: Self.cBytes(files.executable),
                                  arguments: ([request.remoteCommand] + request.arguments).map(Self.cBytes),
                                  environment: environment.withEnvironment(variables) { Self.cStrings($0) })
            let message = ShepherdMessage.run(job).encoded()
            if message.count <= ShepherdPool.largestMessage {
                let lock = try takeLock(jobID: jobID, temporary: temporary)
                let handed: (pid_t, ShepherdLink)?
                do {
                    handed = try pool.run(message, files: files, lock: lock)
                } catch {
                    Syscall.removeFile(Self.lockPath(directory: directory, jobID: jobID))
                    Syscall.close(lock)
                    throw error
                }
                if let handed { return handed }
                // The packet could not be sent (not for want of a shepherd): a one-shot one, below.
                Syscall.removeFile(Self.lockPath(directory: directory, jobID: jobID))
                Syscall.close(lock)
            }
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
        let lockPath = Self.lockPath(directory: directory, jobID: jobID)
        let lock: Int32
        do {
            lock = try takeLock(jobID: jobID, temporary: temporary)
        } catch {
            Syscall.close(daemonEnd)
            throw error
        }
        close.append(lock)
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

    /// Takes the job's lock, which its shepherd holds for as long as it runs the job (a one-shot
    /// shepherd inherits it as fd 4, a pooled one receives it with the job): a restarted daemon
    /// tells a job whose shepherd still runs from one that never started, or whose shepherd is
    /// gone, by trying it. It holds what a restarted daemon needs to remove the job's TMPDIR.
    private func takeLock(jobID: String, temporary: PrivateTemporaryDirectory?) throws(StartFailure) -> Int32 {
        let lockPath = Self.lockPath(directory: directory, jobID: jobID)
        let locked: Int32?
        do {
            locked = try Syscall.tryLock(lockPath)
        } catch {
            throw StartFailure("cannot make the lock file of the job's shepherd", error)
        }
        guard let lock = locked else {
            throw StartFailure(reason: "the lock of job \(jobID) is held: a shepherd runs it already")
        }
        if let temporary {
            let text = "\(temporary.parent)\n\(temporary.name)\n\(temporary.identity.device)\n\(temporary.identity.inode)\n"
            do {
                try Syscall.writeAll(lock, Array(text.utf8))
            } catch {
                Syscall.removeFile(lockPath)
                Syscall.close(lock)
                throw StartFailure("cannot write the lock file of the job's shepherd", error)
            }
        }
        return lock
    }

    /// The bytes a C string made of `string` holds (its exact bytes, up to a NUL).
    static func cBytes(_ string: String) -> [UInt8] {
        Array(string.exactBytes.prefix { $0 != 0 })
    }

    /// The C strings of a NULL-terminated array, as bytes.
    static func cStrings(_ array: UnsafePointer<UnsafeMutablePointer<CChar>?>) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var entry = array
        while let pointer = entry.pointee {
            result.append(Array(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer))))
            entry += 1
        }
        return result
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

/// The daemon's idle pooled shepherds (`drmaa-shepherd --pool`), which run one job after another,
/// so that a job costs one process start, not two. Each is our child, in a session of its own,
/// with its standard error the daemon's (its log); it leaves when its connection closes while it
/// has no job. At most ``size`` wait idle; one more is started whenever none is idle.
final class ShepherdPool: Sendable {
    /// The idle shepherds kept by default.
    static let defaultSize = 16
    /// The largest `run` message sent to a pooled shepherd (its socket's send buffer holds it
    /// whole); a job with a larger argv and environment gets a one-shot shepherd.
    static let largestMessage = 160 * 1024

    struct Member: Sendable {
        let pid: pid_t
        let link: ShepherdLink
    }

    let executable: String
    let directory: String
    let size: Int
    private let idle = Mutex<[Member]>([])

    init(executable: String, directory: String, size: Int) {
        (self.executable, self.directory, self.size) = (executable, directory, size)
    }

    /// Sends the job (`message`, with its files and lock) to an idle shepherd, or to a new one
    /// if none is idle or the idle ones are gone; `nil` if the packet cannot be sent at all (it is
    /// too large for the socket, or memory is short): the job then gets a one-shot shepherd.
    func run(_ message: [UInt8], files: JobFiles, lock: Int32) throws(StartFailure) -> (pid_t, ShepherdLink)? {
        let descriptors = [files.input, files.output, files.error, files.directory, lock]
        while let member = idle.withLock({ $0.popLast() }) {
            // One that has died (or whose connection broke) goes, and the next is tried.
            switch try hand(message, descriptors, to: member) {
            case .taken:
                Syscall.close(lock)  // the shepherd has its own copy now
                return (member.pid, member.link)
            case .gone: continue
            case .unsendable: return nil
            }
        }
        let member = try start()
        switch try hand(message, descriptors, to: member) {
        case .taken:
            Syscall.close(lock)
            return (member.pid, member.link)
        case .gone:
            throw StartFailure(reason: "a new pooled shepherd (pid \(member.pid)) ended before it took the job")
        case .unsendable:
            return nil
        }
    }

    /// What became of a job handed to a shepherd.
    private enum Handing {
        /// The shepherd has it (it said `accepted`, or has not answered yet: then it is its
        /// job all the same, and the supervision of its socket and pid settles how it ends).
        case taken
        /// The shepherd was gone before it took the job; it is retired.
        case gone
        /// The packet could not be sent for another reason; the shepherd is back in the pool.
        case unsendable
    }

    /// How long the thread that starts jobs waits for a shepherd to say it took one (normally well
    /// under a millisecond); a shepherd still silent then keeps the job.
    static let acceptanceTimeoutMilliseconds: Int32 = 2_000

    /// Sends the job and waits until the shepherd says it took it (it does before it spawns, so a
    /// shepherd whose connection ends first never started it, and the job can go to another).
    /// Throws if it refused the job (it stays in the pool).
    private func hand(_ message: [UInt8], _ descriptors: [Int32], to member: Member) throws(StartFailure) -> Handing {
        do throws(Errno) {
            try member.link.send(message, descriptors: descriptors)
        } catch where [EPIPE, ECONNRESET, ENOTCONN].contains(error.rawValue) {
            retire(member)
            return .gone
        } catch {
            giveBack(member)
            return .unsendable
        }
        switch member.link.awaitAcceptance(timeoutMilliseconds: Self.acceptanceTimeoutMilliseconds) {
        case .accepted, .silent:
            // Silent (stopped, or a very slow machine): the job is in its hands; it is watched
            // like any other, and never given to a second shepherd.
            return .taken
        case .refused(let outcome):
            giveBack(member)
            throw StartFailure(reason: outcome.spawnFailure ?? "the pooled shepherd refused the job")
        case .gone:
            retire(member)
            return .gone
        }
    }

    /// Takes back a shepherd whose job has ended and been taken in; beyond ``size`` it is retired.
    func giveBack(_ member: Member) {
        let kept = idle.withLock { idle -> Bool in
            guard idle.count < size else { return false }
            idle.append(member)
            return true
        }
        if !kept { retire(member) }
    }

    /// Retires every idle shepherd (when the daemon leaves).
    func dismissAll() {
        for member in idle.withLock({ idle in defer { idle = [] }; return idle }) { retire(member) }
    }

    /// Ends an idle (or broken) shepherd: its connection closes, it is killed (it runs no job, so
    /// nothing is lost) and reaped (our child: its pid is not reused before that).
    func retire(_ member: Member) {
        member.link.close()
        try? Syscall.signalChild(member.pid, SIGKILL)
        _ = try? Syscall.reap(member.pid)
    }

    /// Starts a pooled shepherd: `/dev/null` as its standard input and output, the daemon's
    /// standard error, its control socket as fd 3, nothing else, and no environment (each job
    /// brings its own).
    private func start() throws(StartFailure) -> Member {
        let (daemonEnd, shepherdEnd): (Int32, Int32)
        do {
            (daemonEnd, shepherdEnd) = try Syscall.socketPair(type: Syscall.packetSocket)
        } catch {
            throw StartFailure("cannot make the control socket of a pooled shepherd", error)
        }
        defer { Syscall.close(shepherdEnd) }
        func check(_ result: Int32, _ call: String) throws(StartFailure) {
            guard result == 0 else {
                Syscall.close(daemonEnd)
                throw StartFailure("cannot prepare a pooled shepherd (\(call))", Errno(rawValue: result))
            }
        }
        var actions = posix_spawn_file_actions_t()
        try check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init")
        defer { posix_spawn_file_actions_destroy(&actions) }
        try check(posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0), "posix_spawn_file_actions_addopen")
        try check(posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0), "posix_spawn_file_actions_addopen")
        if !Syscall.isOpen(2) {
            try check(posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0), "posix_spawn_file_actions_addopen")
        }
        try check(posix_spawn_file_actions_adddup2(&actions, shepherdEnd, 3), "posix_spawn_file_actions_adddup2")
        try check(clocaldrm_spawn_addclosefrom(&actions, 4), "posix_spawn_file_actions_addclosefrom_np")
        var attributes = posix_spawnattr_t()
        try check(posix_spawnattr_init(&attributes), "posix_spawnattr_init")
        defer { posix_spawnattr_destroy(&attributes) }
        try check(clocaldrm_spawnattr_clean_signals(&attributes, 0), "posix_spawnattr_setsig*")
        let environment: [UnsafeMutablePointer<CChar>?] = [nil]
        do {
            let pid = try environment.withUnsafeBufferPointer { (envp) throws(Errno) in
                try Syscall.spawn(executable, [executable, "--pool", "--outcomes", directory, "--listen", directory],
                                  envp.baseAddress!, &actions, &attributes)
            }
            return Member(pid: pid, link: ShepherdLink(descriptor: daemonEnd, pooled: true))
        } catch {
            Syscall.close(daemonEnd)
            throw StartFailure("cannot start a pooled shepherd '\(executable)'", error)
        }
    }
}

/// The daemon's end of one shepherd's control socket.
final class ShepherdLink: Sendable {
    /// The socket, `nil` once closed (so that a late signal never goes to a reused number).
    private let socket: Mutex<Int32?>
    /// A pooled shepherd's (which runs one job after another, and does not exit after each).
    let pooled: Bool
    /// The pid of the job a pooled shepherd said it started, until its end is taken in.
    private let startedJob = Mutex<pid_t?>(nil)

    init(descriptor: Int32, pooled: Bool = false) {
        socket = Mutex(descriptor)
        self.pooled = pooled
    }

    /// Room for any message a shepherd sends (its failure texts are at most 4 KiB).
    static let receiveBuffer = 16 * 1024

    /// The socket, for the supervisor to watch (`nil` once closed).
    var descriptor: Int32? { socket.withLock { $0 } }

    /// Sends a packet with descriptors (a pooled shepherd's next job).
    func send(_ bytes: [UInt8], descriptors: [Int32]) throws(Errno) {
        try socket.withLock { socket throws(Errno) in
            guard let descriptor = socket else { throw Errno(rawValue: EPIPE) }
            try Syscall.sendPacket(descriptor, bytes, descriptors: descriptors)
        }
    }

    /// What a pooled shepherd answered to a job it was sent.
    enum Acceptance {
        case accepted
        /// It refused the job (a malformed run), with this outcome.
        case refused(ShepherdOutcome)
        /// Its connection ended: it is gone.
        case gone
        /// No answer in time.
        case silent
    }

    /// Waits (at most `timeout` ms) for a pooled shepherd's answer to the job just sent. Reads
    /// what is left even after ``close()`` (0 ms: only what has arrived).
    func awaitAcceptance(timeoutMilliseconds timeout: Int32) -> Acceptance {
        guard let descriptor = socket.withLock({ $0 }) else { return .gone }
        var buffer = [UInt8](repeating: 0, count: Self.receiveBuffer)
        let deadline = Syscall.monotonicNanoseconds() + Int64(timeout) * 1_000_000
        while true {
            let left = Int32(max(0, (deadline - Syscall.monotonicNanoseconds()) / 1_000_000))
            guard let events = try? Syscall.poll([(descriptor, Int16(POLLIN))], timeoutMilliseconds: left) else { return .gone }
            guard events[0] != 0 else { return .silent }
            let count: Int
            do throws(Errno) {
                count = try Syscall.receive(descriptor, into: &buffer, nonBlocking: true)
            } catch where error == .wouldBlock {
                continue
            } catch {
                return .gone
            }
            guard count > 0 else { return .gone }
            switch try? ShepherdMessage(decoding: buffer[..<count]) {
            case .accepted?: return .accepted
            case .finished(let outcome)?: return .refused(outcome)
            default: continue
            }
        }
    }

    /// What a pooled shepherd's socket says now (read without waiting).
    enum PooledEvent {
        /// The job goes on.
        case running
        /// The job ended, thus; the shepherd is free for another.
        case finished(ShepherdOutcome)
        /// The connection ended: the shepherd is gone (the pid of the job it started, if known).
        case closed(jobPID: pid_t?)
    }

    /// Reads what a pooled shepherd sent: `finished` once the job's end has come.
    func pooledEvent() -> PooledEvent {
        var buffer = [UInt8](repeating: 0, count: Self.receiveBuffer)
        return socket.withLock { socket -> PooledEvent in
            guard let descriptor = socket else { return .closed(jobPID: startedJob.withLock { $0 }) }
            while true {
                let count: Int
                do throws(Errno) {
                    count = try Syscall.receive(descriptor, into: &buffer, nonBlocking: true)
                } catch where error == .wouldBlock {
                    return .running
                } catch {
                    return .closed(jobPID: startedJob.withLock { $0 })
                }
                guard count > 0 else { return .closed(jobPID: startedJob.withLock { $0 }) }
                switch try? ShepherdMessage(decoding: buffer[..<count]) {
                case .started(let pid, _)?:
                    startedJob.withLock { $0 = pid }
                case .finished(let outcome)?:
                    startedJob.withLock { $0 = nil }
                    return .finished(outcome)
                default:
                    break
                }
            }
        }
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
        // A pooled shepherd's `started` was read already.
        if jobPID == nil { jobPID = startedJob.withLock { $0 } }
        if let found { return (found, jobPID) }
        return ((try? ShepherdOutcomeFile.read(directory: directory, jobID: jobID)) ?? nil, jobPID)
    }

    /// A shepherd that died without an outcome left its job running, an orphan: it is killed
    /// (its group), if the pid is still the job's (in the dead shepherd's session, which only its
    /// processes can be in). A shepherd killed between its spawn of the job and its `started`
    /// never said the pid: then every process of its session is found in /proc and its group
    /// killed (the kernel hands out no pid that is still a session's id, so the session is the
    /// dead shepherd's). True if one was.
    static func killOrphan(jobPID: pid_t?, shepherdPID: pid_t) -> Bool {
        guard shepherdPID > 1 else { return false }
        if let jobPID {
            guard jobPID > 1, Syscall.sessionID(of: jobPID) == shepherdPID else { return false }
            return (try? Syscall.signalGroup(jobPID, SIGKILL)) != nil
        }
        guard let proc = try? Syscall.openDirectory("/proc", in: AT_FDCWD, followingLink: true),
              let stream = try? Syscall.directoryStream(proc) else { return false }
        defer { Syscall.closeDirectory(stream) }
        var killed = false
        while let name = try? Syscall.nextEntry(stream) {
            guard let pid = pid_t(name), pid > 1, Syscall.sessionID(of: pid) == shepherdPID else { continue }
            let group = getpgid(pid)
            if group > 1, group != getpgrp(), (try? Syscall.signalGroup(group, SIGKILL)) != nil { killed = true }
        }
        return killed
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
