// drmaa-shepherd: the parent of one job of LocalDRM's durable mode (like Grid Engine's sge_shepherd).
//
//   drmaa-shepherd --job ID --outcomes DIR [--listen DIR] [--nice N] [--rlimit RESOURCE=SOFT:HARD]...
//                  -- EXECUTABLE ARGV0 [ARG...]
//
// The daemon starts it with fds 0-2 the job's standard streams, fd 3 a connected AF_UNIX
// SOCK_SEQPACKET control socket, the job's working directory and exactly the job's environment.
// It spawns the job, reports `started`, passes the daemon's signals on to the job's process group,
// and when the job ends writes its outcome file FIRST and then reports `finished`. It outlives the
// daemon: a job goes on when the control connection ends, and with --listen a restarted daemon
// can connect again at <DIR>/<ID>.sock. It never exits before the job is reaped and its outcome
// kept. Exit status: 0 when the outcome file was written, 1 if it could not be, 125 for bad usage.
//
//   drmaa-shepherd --pool --outcomes DIR [--listen DIR]
//
// A pooled shepherd, started ahead of its jobs, runs one job after another: each arrives on fd 3 as
// a `run` message with the job's files (its streams, its working directory, its lock), and ends as
// above, after which the shepherd waits for the next. Jobs with a nice level or resource limits
// (which a process cannot take back from itself) go to one-shot shepherds. A pooled shepherd
// leaves when the daemon's connection ends while it has no job; a job it runs then goes on as
// under a one-shot shepherd, which it then is.
import CLocalDRM
import Glibc
import ShepherdProtocol

/// The command line, parsed.
struct Options {
    /// `--pool`: jobs arrive on the control socket, one after another.
    var pool = false
    var jobID = ""
    var outcomes = ""
    var listen: String?
    var nice: Int32?
    var limits: [(resource: Int32, limit: rlimit)] = []
    /// The index in argv of EXECUTABLE; the job's argv starts right after it.
    var executableIndex = 0
}

/// The descriptor of the daemon's control socket when the shepherd starts.
let inheritedControlFD: Int32 = 3

/// The usage line of the error message for a bad command line.
let usage = """
    usage: drmaa-shepherd --job ID --outcomes DIR [--listen DIR] [--nice N] [--rlimit RESOURCE=SOFT:HARD]... -- EXECUTABLE ARGV0 [ARG...]
           drmaa-shepherd --pool --outcomes DIR [--listen DIR]
    """

/// Parses the command line strictly: every problem is reported, with the usage, and exits 125.
func parseCommandLine() -> Options {
    func fail(_ problem: String) -> Never {
        Syscall.report(problem + "\n" + usage)
        Syscall.exit(125)
    }
    let count = Int(CommandLine.argc)
    let argv = CommandLine.unsafeArgv
    /// Argument `index` as a String; not valid UTF-8 is refused (a path would not survive it).
    func argument(_ index: Int, _ what: String) -> String {
        guard index < count, let pointer = argv[index] else { fail("\(what) is missing") }
        guard let text = String(validatingCString: pointer) else { fail("\(what) is not valid UTF-8") }
        return text
    }
    func isDecimal(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
    func directory(_ index: Int, _ option: String) -> String {
        let path = argument(index, "the directory of \(option)")
        guard path.hasPrefix("/") else { fail("\(option) '\(path)' is not an absolute path") }
        return path
    }

    var options = Options()
    var seen: Set<String> = []
    var index = 1
    while true {
        if index == count, options.pool { break }
        guard index < count else { fail("'--' and the job's command are missing") }
        let option = argument(index, "an option")
        if option == "--pool" {
            guard index == 1 else { fail("--pool must come first") }
            options.pool = true
            index += 1
            continue
        }
        if option == "--" { break }
        if options.pool, ["--job", "--nice", "--rlimit"].contains(option) {
            fail("\(option) is not for a pooled shepherd: its jobs arrive on fd \(inheritedControlFD)")
        }
        guard option != "--rlimit" ? seen.insert(option).inserted : true else { fail("\(option) is given twice") }
        let value = index + 1
        switch option {
        case "--job":
            options.jobID = argument(value, "the job id of --job")
            guard ShepherdOutcomeFile.isValidJobID(options.jobID) else {
                fail("invalid job id '\(options.jobID)': 1 to 200 of [0-9A-Za-z._-], not starting with '.'")
            }
        case "--outcomes":
            options.outcomes = directory(value, option)
        case "--listen":
            options.listen = directory(value, option)
        case "--nice":
            let text = argument(value, "the value of --nice")
            let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
            guard isDecimal(digits), let nice = Int32(text), (-20...19).contains(nice) else {
                fail("invalid --nice '\(text)': an integer from -20 to 19")
            }
            options.nice = nice
        case "--rlimit":
            let text = argument(value, "the value of --rlimit")
            let parts = text.split(separator: "=", omittingEmptySubsequences: false)
            let bounds = parts.count == 2 ? parts[1].split(separator: ":", omittingEmptySubsequences: false) : []
            func limitValue(_ part: Substring) -> rlim_t? {
                if part == "inf" { return rlim_t.max }  // RLIM_INFINITY
                return isDecimal(part) ? rlim_t(part) : nil
            }
            guard bounds.count == 2, isDecimal(parts[0]), let resource = Int32(parts[0]),
                  resource < Int32(__RLIMIT_NLIMITS.rawValue),
                  let soft = limitValue(bounds[0]), let hard = limitValue(bounds[1]) else {
                fail("invalid --rlimit '\(text)': RESOURCE=SOFT:HARD, RESOURCE an RLIMIT_* number below \(__RLIMIT_NLIMITS.rawValue), SOFT and HARD decimal or inf")
            }
            guard soft <= hard else { fail("invalid --rlimit '\(text)': the soft limit is above the hard limit") }
            guard !options.limits.contains(where: { $0.resource == resource }) else { fail("--rlimit of resource \(resource) is given twice") }
            options.limits.append((resource, rlimit(rlim_cur: soft, rlim_max: hard)))
        default:
            fail("unknown option '\(option)'")
        }
        index += 2
    }
    guard !options.outcomes.isEmpty else { fail("--outcomes is missing") }
    if options.pool {
        guard index == count else { fail("a pooled shepherd takes no command: its jobs arrive on fd \(inheritedControlFD)") }
        return options
    }
    guard !options.jobID.isEmpty else { fail("--job is missing") }
    if let listen = options.listen {
        let path = ShepherdListenSocket.path(directory: listen, jobID: options.jobID)
        guard path.utf8.count <= Syscall.maximumSocketPathLength else {
            fail("the socket path '\(path)' is longer than \(Syscall.maximumSocketPathLength) bytes")
        }
    }
    // The job's command is used as the bytes it is (not necessarily UTF-8), only checked here.
    options.executableIndex = index + 1
    guard options.executableIndex < count, let executable = argv[options.executableIndex] else { fail("EXECUTABLE is missing") }
    guard executable.pointee == CChar(UInt8(ascii: "/")) else {
        fail("EXECUTABLE '\(String(cString: executable))' is not an absolute path")
    }
    guard options.executableIndex + 1 < count else { fail("ARGV0 is missing") }
    return options
}

/// The shepherd's state once the job is running: its connection to a daemon, if any, and the
/// socket it listens on for the next one once a connection ended (with --listen).
struct Shepherd {
    let options: Options
    /// The job this shepherd runs now (a pooled shepherd's changes with each).
    var jobID: String
    var control: Int32?
    var listener: Int32?
    /// Binding the listening socket failed once: not tried again (the error was reported).
    var listenerFailed = false
    /// A pooled shepherd's hold on the job's lock file, given up once its outcome is kept.
    var lock: Int32?

    init(options: Options) {
        self.options = options
        jobID = options.jobID
    }

    var listenPath: String? {
        options.listen.map { ShepherdListenSocket.path(directory: $0, jobID: jobID) }
    }

    /// Sends a message to the daemon if one is connected; a failed send ends the connection.
    mutating func send(_ message: ShepherdMessage) {
        guard let fd = control else { return }
        do {
            try Syscall.send(fd, message.encoded())
        } catch {
            if error.rawValue != EPIPE && error.rawValue != ECONNRESET { Syscall.report("cannot send to the daemon: \(error)") }
            disconnect()
        }
    }

    /// The daemon went away: closes its connection and, with --listen, listens for the next one.
    mutating func disconnect() {
        guard let fd = control else { return }
        Syscall.close(fd)
        control = nil
        listen()
    }

    /// With --listen, binds the socket the next daemon connects to (once: it stays until the end).
    mutating func listen() {
        guard let path = listenPath, listener == nil, !listenerFailed else { return }
        do {
            listener = try Syscall.listen(at: path)
        } catch {
            Syscall.report("cannot listen at '\(path)': \(error); the job goes on without a daemon")
            listenerFailed = true
        }
    }

    /// Reads one packet from the daemon and acts on it.
    mutating func receive(jobPID: pid_t) {
        guard let fd = control else { return }
        var buffer = [UInt8](repeating: 0, count: 256)
        let length: Int
        do {
            length = try Syscall.receive(fd, into: &buffer)
        } catch {
            if error.rawValue == EAGAIN { return }
            if error.rawValue != ECONNRESET { Syscall.report("cannot receive from the daemon: \(error)") }
            disconnect()
            return
        }
        guard length > 0 else { return disconnect() }  // end of stream: the daemon closed or died
        guard length <= buffer.count else {
            Syscall.report("ignored a message of \(length) bytes from the daemon (too long)")
            return
        }
        let message: ShepherdMessage
        do {
            message = try ShepherdMessage(decoding: buffer[..<length])
        } catch {
            Syscall.report("ignored a malformed message from the daemon: \(error)")
            return
        }
        guard case .signal(let number) = message else {
            Syscall.report("ignored an unexpected message from the daemon while job \(jobID) runs: \(message)")
            return
        }
        // The job is our unreaped child: its pid, and so its group's id, cannot be reused meanwhile.
        do {
            try Syscall.signalGroup(jobPID, number)
        } catch where error != .noSuchProcess {
            Syscall.report("cannot send signal \(number) to the job's process group \(jobPID): \(error)")
        } catch {}
    }

    /// Accepts the next daemon's connection (only from our own user) and tells it the job runs.
    mutating func accept(jobPID: pid_t, startTime: Double) {
        guard let listener, control == nil else { return }
        let fd: Int32
        do {
            fd = try Syscall.accept(listener)
        } catch {
            if error.rawValue != EAGAIN && error.rawValue != ECONNABORTED { Syscall.report("cannot accept a connection: \(error)") }
            return
        }
        guard let uid = try? Syscall.peerUserID(fd), uid == Syscall.userID() else {
            Syscall.close(fd)
            return
        }
        control = fd
        send(.started(jobPID: jobPID, startTime: startTime))
    }

    /// Keeps the outcome (the file first: the daemon may be gone) and tells the daemon; then the
    /// job's lock is given up. False if the file could not be written.
    mutating func record(_ outcome: ShepherdOutcome) -> Bool {
        var written = true
        do {
            try ShepherdOutcomeFile.write(outcome, jobID: jobID, directory: options.outcomes)
        } catch {
            Syscall.report("cannot keep the outcome of job \(jobID): \(error)")
            written = false
        }
        send(.finished(outcome))
        if let lock {
            Syscall.close(lock)
            self.lock = nil
        }
        return written
    }

    /// Records the outcome and exits: 0 if the file was written, 1 if not.
    mutating func finish(_ outcome: ShepherdOutcome) -> Never {
        let status: Int32 = record(outcome) ? 0 : 1
        if let fd = control { Syscall.close(fd) }
        stopListening()
        Syscall.exit(status)
    }

    /// Closes the socket a restarted daemon would have connected to, and removes its file.
    mutating func stopListening() {
        if let listener, let listenPath {
            Syscall.close(listener)
            Syscall.unlink(listenPath)
        }
        listener = nil
    }

    /// Passes the daemon's signals on and accepts new daemons until the job ends; its outcome.
    /// Without a pidfd the job is polled every 50 ms.
    mutating func run(jobPID: pid_t, startTime: Double, pidfd: Int32?) -> ShepherdOutcome {
        let readable = Int16(POLLIN)
        let closed = Int16(POLLHUP | POLLERR | POLLNVAL)
        while true {
            var entries: [pollfd] = []
            if let pidfd { entries.append(pollfd(fd: pidfd, events: readable, revents: 0)) }
            let connection = control ?? listener
            if let connection { entries.append(pollfd(fd: connection, events: readable, revents: 0)) }
            do {
                _ = try Syscall.poll(&entries, timeout: pidfd == nil ? 50 : -1)
            } catch {
                Syscall.report("poll failed: \(error)")
                Syscall.sleep(milliseconds: 50)
                continue
            }
            if let connection, let entry = entries.last, entry.fd == connection, entry.revents != 0 {
                if connection == control {
                    if entry.revents & readable != 0 {
                        receive(jobPID: jobPID)
                    } else if entry.revents & closed != 0 {
                        disconnect()
                    }
                } else {
                    accept(jobPID: jobPID, startTime: startTime)
                }
            }
            if pidfd == nil || entries[0].revents != 0 {
                if let outcome = reap(jobPID: jobPID, startTime: startTime, hang: pidfd != nil) {
                    if let pidfd { Syscall.close(pidfd) }
                    return outcome
                }
            }
        }
    }

    /// Reaps the job (it has ended, or `hang` is false and it may not have): its outcome, or nil
    /// if it has not ended.
    mutating func reap(jobPID: pid_t, startTime: Double, hang: Bool) -> ShepherdOutcome? {
        let reaped: (status: Int32, usage: rusage)?
        if hang {
            // The leader has exited (its pidfd said so) and is not reaped: its zombie holds the
            // group id, so this reaches only what the job left running in its group. A job ends
            // whole, as on a cluster (and as in LocalDRM's embedded mode).
            try? Syscall.signalGroup(jobPID, SIGKILL)
        }
        do {
            reaped = try Syscall.reap(jobPID, hang: hang)
        } catch {
            // Cannot happen for our own unreaped child; without it there is nothing to wait for.
            Syscall.report("cannot reap the job \(jobPID): \(error)")
            let now = Syscall.realtimeSeconds()
            return ShepherdOutcome(jobPID: jobPID, waitStatus: 0, startTime: startTime, endTime: now,
                                   spawnFailure: "the shepherd could not reap the job: \(error)")
        }
        guard let reaped else { return nil }
        return ShepherdOutcome(jobPID: jobPID, waitStatus: reaped.status, startTime: startTime,
                               endTime: Syscall.realtimeSeconds(), usage: ShepherdUsage(reaped.usage))
    }

    /// The job could not be started: an outcome that says why (at most 4 KiB of it, so that it
    /// fits the daemon's receive buffer whatever path it names).
    static func notStarted(_ reason: String) -> ShepherdOutcome {
        let now = Syscall.realtimeSeconds()
        var text = reason
        if text.utf8.count > 4000 {
            text = String(decoding: text.utf8.prefix(3990), as: UTF8.self) + " (cut)"
        }
        return ShepherdOutcome(jobPID: 0, waitStatus: 0, startTime: now, endTime: now, spawnFailure: text)
    }

    /// The job could not be started: records why and exits.
    mutating func failToStart(_ reason: String) -> Never {
        finish(Self.notStarted(reason))
    }

    /// Spawns the job with `spawn`, a few more tries 10 to 80 ms apart when out of processes or
    /// memory for a moment: its pid and start time, or the outcome that says why it did not start.
    static func start(_ executable: String, _ spawn: () throws(SpawnError) -> pid_t) -> Result<(pid_t, Double), ShepherdStartFailure> {
        var attempt = 0
        while true {
            do {
                let pid = try spawn()
                return .success((pid, Syscall.realtimeSeconds()))
            } catch where error.error.isTransient && attempt < 4 {
                Syscall.sleep(milliseconds: 10 << attempt)
                attempt += 1
            } catch where error.call == "posix_spawn" {
                return .failure(ShepherdStartFailure(reason: "cannot execute '\(executable)': \(error.error)"))
            } catch {
                return .failure(ShepherdStartFailure(reason: "cannot prepare the job's process (\(error.call)): \(error.error)"))
            }
        }
    }

    /// After the spawn: reports the job running (or, without a daemon, listens for one) and runs
    /// it to its end; its outcome.
    mutating func supervise(jobPID: pid_t, startTime: Double) -> ShepherdOutcome {
        // Without a pidfd (Linux < 5.3, or no descriptor left) the job is polled every 50 ms instead.
        let pidfd = try? Syscall.pidfdOpen(jobPID)
        if control == nil {
            listen()  // started without a daemon: wait for one at once
        } else {
            send(.started(jobPID: jobPID, startTime: startTime))
        }
        return run(jobPID: jobPID, startTime: startTime, pidfd: pidfd)
    }
}

/// Why a job could not be started, for its outcome.
struct ShepherdStartFailure: Error {
    var reason: String
}

/// A pooled shepherd's life: jobs one after another, from `run` messages on the control socket.
struct Pool {
    var shepherd: Shepherd
    /// The longest `run` message taken: the daemon sends larger jobs to one-shot shepherds.
    static let maximumMessage = 1 << 18  // above the daemon's 160 KiB cut-off; each pooled shepherd keeps this buffer

    /// Waits for the next message while no job runs; returns when the daemon is gone.
    mutating func serve() -> Never {
        var buffer = [UInt8](repeating: 0, count: Self.maximumMessage)
        while let control = shepherd.control {
            var entries = [pollfd(fd: control, events: Int16(POLLIN), revents: 0)]
            do {
                _ = try Syscall.poll(&entries, timeout: -1)
            } catch {
                Syscall.report("poll failed: \(error)")
                Syscall.sleep(milliseconds: 50)
                continue
            }
            var descriptors: [Int32] = []
            let received: (length: Int, truncated: Bool)
            do {
                received = try Syscall.receive(control, into: &buffer, descriptors: &descriptors)
            } catch {
                if error.rawValue == EAGAIN { continue }
                if error.rawValue != ECONNRESET { Syscall.report("cannot receive from the daemon: \(error)") }
                break
            }
            guard received.length > 0 else { break }  // the daemon closed or died: nothing runs, so leave
            take(Array(buffer[..<min(received.length, buffer.count)]), complete: received.length <= buffer.count && !received.truncated,
                 descriptors: descriptors)
            if shepherd.listener != nil {
                // The daemon went away while the job ran, and the job has ended since: a restarted
                // daemon took (or will take) its outcome from the file. Nothing more comes.
                shepherd.stopListening()
                break
            }
        }
        if let control = shepherd.control { Syscall.close(control) }
        Syscall.exit(0)
    }

    /// Acts on one message received while idle: a job is run to its end; a signal (for a job that
    /// ended meanwhile) is dropped.
    mutating func take(_ bytes: [UInt8], complete: Bool, descriptors: [Int32]) {
        var unused = descriptors
        defer { for fd in unused { Syscall.close(fd) } }
        guard complete else {
            Syscall.report("ignored a message of more than \(Self.maximumMessage) bytes or descriptors from the daemon")
            return refuse("the job's description was too long for a pooled shepherd")
        }
        let message: ShepherdMessage
        do {
            message = try ShepherdMessage(decoding: bytes)
        } catch {
            Syscall.report("ignored a malformed message from the daemon: \(error)")
            return refuse("the daemon's message to its shepherd was malformed: \(error)")
        }
        switch message {
        case .signal:
            return  // for the job that just ended: there is nothing to signal
        case .run(let job):
            guard descriptors.count == ShepherdJob.descriptorRoles.count else {
                return refuse("the job came with \(descriptors.count) descriptors, \(ShepherdJob.descriptorRoles.count) expected")
            }
            guard ShepherdOutcomeFile.isValidJobID(job.jobID) else {
                return refuse("invalid job id '\(job.jobID)'")
            }
            shepherd.jobID = job.jobID
            shepherd.lock = descriptors[4]
            unused = Array(descriptors[..<4])
            // Said before the spawn: a daemon whose connection ends first knows the job did not
            // start here. If the daemon is gone already, the job runs all the same (the daemon
            // recorded it before sending it): a restarted daemon takes it up by its lock and socket.
            shepherd.send(.accepted)
            if let path = shepherd.listenPath, path.utf8.count > Syscall.maximumSocketPathLength {
                _ = shepherd.record(Shepherd.notStarted("the socket path '\(path)' is longer than \(Syscall.maximumSocketPathLength) bytes"))
                return
            }
            let started = withCStrings(job) { path, argv, envp in
                Shepherd.start(String(decoding: job.executable, as: UTF8.self)) { () throws(SpawnError) in
                    try Syscall.spawn(path, argv, files: (descriptors[0], descriptors[1], descriptors[2], descriptors[3]), environment: envp)
                }
            }
            // The job has its own copies of its files; the shepherd keeps none of them open.
            for fd in unused { Syscall.close(fd) }
            unused = []
            switch started {
            case .failure(let failure):
                _ = shepherd.record(Shepherd.notStarted(failure.reason))
            case .success(let (pid, startTime)):
                _ = shepherd.record(shepherd.supervise(jobPID: pid, startTime: startTime))
            }
        default:
            Syscall.report("ignored an unexpected message from the daemon: \(message)")
        }
    }

    /// A job that cannot be run: the daemon is told it did not start (it waits for an answer).
    mutating func refuse(_ reason: String) {
        shepherd.send(.finished(Shepherd.notStarted(reason)))
    }

    /// Calls `body` with the job's executable, argv and environment as NULL-terminated C strings.
    func withCStrings<R>(_ job: ShepherdJob, _ body: (UnsafePointer<CChar>, UnsafePointer<UnsafeMutablePointer<CChar>?>,
                                                     UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        func cString(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar> {
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawPointer(pointer).copyMemory(from: raw.baseAddress ?? UnsafeRawPointer(pointer), byteCount: bytes.count)
            }
            pointer[bytes.count] = 0
            return pointer
        }
        let executable = cString(job.executable)
        let argv: [UnsafeMutablePointer<CChar>?] = job.arguments.map(cString) + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = job.environment.map(cString) + [nil]
        defer {
            executable.deallocate()
            for pointer in argv + envp { pointer?.deallocate() }
        }
        return argv.withUnsafeBufferPointer { argv in
            envp.withUnsafeBufferPointer { envp in body(executable, argv.baseAddress!, envp.baseAddress!) }
        }
    }
}

/// Signals the shepherd itself ignores: a terminal's, a daemon's group's, job control's; and
/// SIGXFSZ, so that a file size limit given to the job makes writing the outcome fail with an
/// error it reports instead of killing it. The job gets every default back (POSIX_SPAWN_SETSIGDEF).
let ignoredSignals = [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGUSR1, SIGUSR2, SIGTSTP, SIGTTIN, SIGTTOU, SIGXFSZ]

/// The shepherd's whole life: set up, spawn the job, run until it is reaped and its outcome kept.
/// (In a function, not top-level code: no global mutable state.)
func shepherdMain() -> Never {
    let options = parseCommandLine()
    var shepherd = Shepherd(options: options)
    if options.pool { poolMain(shepherd) }

    // 1. The control connection. A shepherd started without one runs the job all the same.
    if Syscall.isSeqPacketSocket(inheritedControlFD) {
        shepherd.control = inheritedControlFD
        do {
            try Syscall.setCloseOnExec(inheritedControlFD)
        } catch {
            shepherd.failToStart("cannot make the control socket close-on-exec: \(error)")
        }
    } else {
        Syscall.report("fd \(inheritedControlFD) is not a SOCK_SEQPACKET socket: no daemon to report to")
    }

    // 2. Its own session and group: signals to the daemon's group or from a terminal do not reach it.
    do {
        try Syscall.startSession()
        for signal in ignoredSignals { try Syscall.setSignal(signal, ignore: true) }
        try Syscall.setSignal(SIGCHLD, ignore: false)  // ignored, the kernel would reap the job itself
    } catch {
        shepherd.failToStart("cannot set up the shepherd (setsid, sigaction): \(error)")
    }

    // 3. The job's nice level and limits, set on the shepherd so that the job inherits them from its
    // first instruction. The shepherd's own soft limits are put back after the spawn (below).
    var ownLimits: [(resource: Int32, limit: rlimit)] = []
    if let nice = options.nice {
        do { try Syscall.setNice(nice) } catch { shepherd.failToStart("cannot set the nice level \(nice): \(error)") }
    }
    for (resource, limit) in options.limits {
        func text(_ value: rlim_t) -> String { value == rlim_t.max ? "inf" : String(value) }
        do {
            ownLimits.append((resource, try Syscall.resourceLimit(resource)))
            try Syscall.setResourceLimit(resource, limit)
        } catch {
            shepherd.failToStart("cannot set resource limit \(resource) to \(text(limit.rlim_cur)):\(text(limit.rlim_max)): \(error)")
        }
    }

    // 4. The job. Out of processes or memory for a moment: a few more tries, 10 to 80 ms apart.
    guard let executablePointer = CommandLine.unsafeArgv[options.executableIndex] else { shepherd.failToStart("EXECUTABLE is missing") }
    // The job's argv: the very C strings of ours (any bytes, exactly), NULL-terminated.
    var jobArguments = ((options.executableIndex + 1)..<Int(CommandLine.argc)).map { CommandLine.unsafeArgv[$0] }
    jobArguments.append(nil)
    let started = jobArguments.withUnsafeBufferPointer { argv in
        Shepherd.start(String(cString: executablePointer)) { () throws(SpawnError) in
            try Syscall.spawn(executablePointer, argv.baseAddress!)
        }
    }
    let (jobPID, startTime): (pid_t, Double)
    switch started {
    case .failure(let failure): shepherd.failToStart(failure.reason)
    case .success(let value): (jobPID, startTime) = value
    }

    // The shepherd's own soft limits back (up to the hard limit the job got): a small file size or
    // descriptor limit meant for the job must not keep the shepherd from writing the outcome.
    for (resource, limit) in ownLimits {
        guard let current = try? Syscall.resourceLimit(resource) else { continue }
        try? Syscall.setResourceLimit(resource, rlimit(rlim_cur: min(limit.rlim_cur, current.rlim_max), rlim_max: current.rlim_max))
    }

    // 5. Running: report it, pass signals on, wait for the end.
    shepherd.finish(shepherd.supervise(jobPID: jobPID, startTime: startTime))
}

/// A pooled shepherd: set up once (its session, its signals, the root as its directory), then jobs
/// one after another until the daemon's connection ends.
func poolMain(_ shepherd: Shepherd) -> Never {
    guard Syscall.isSeqPacketSocket(inheritedControlFD) else {
        Syscall.report("fd \(inheritedControlFD) is not a SOCK_SEQPACKET socket: a pooled shepherd has no daemon to serve")
        Syscall.exit(125)
    }
    var pool = Pool(shepherd: shepherd)
    pool.shepherd.control = inheritedControlFD
    do {
        try Syscall.setCloseOnExec(inheritedControlFD)
        try Syscall.startSession()
        for signal in ignoredSignals { try Syscall.setSignal(signal, ignore: true) }
        try Syscall.setSignal(SIGCHLD, ignore: false)
        try Syscall.changeDirectory("/")  // its jobs have their own; it holds no directory busy
    } catch {
        Syscall.report("cannot set up the pooled shepherd (setsid, sigaction, chdir): \(error)")
        Syscall.exit(1)
    }
    pool.serve()
}

shepherdMain()
