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
import CLocalDRM
import Glibc
import ShepherdProtocol

/// The command line, parsed.
struct Options {
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
let usage = "usage: drmaa-shepherd --job ID --outcomes DIR [--listen DIR] [--nice N] [--rlimit RESOURCE=SOFT:HARD]... -- EXECUTABLE ARGV0 [ARG...]"

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
        guard index < count else { fail("'--' and the job's command are missing") }
        let option = argument(index, "an option")
        if option == "--" { break }
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
    guard !options.jobID.isEmpty else { fail("--job is missing") }
    guard !options.outcomes.isEmpty else { fail("--outcomes is missing") }
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
    var control: Int32?
    var listener: Int32?
    /// Binding the listening socket failed once: not tried again (the error was reported).
    var listenerFailed = false

    var listenPath: String? {
        options.listen.map { ShepherdListenSocket.path(directory: $0, jobID: options.jobID) }
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
            Syscall.report("ignored an unexpected message from the daemon: \(message)")
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

    /// Keeps the outcome (the file first: the daemon may be gone), tells the daemon, and exits:
    /// 0 if the file was written, 1 if not.
    mutating func finish(_ outcome: ShepherdOutcome) -> Never {
        var status: Int32 = 0
        do {
            try ShepherdOutcomeFile.write(outcome, jobID: options.jobID, directory: options.outcomes)
        } catch {
            Syscall.report("cannot keep the outcome of job \(options.jobID): \(error)")
            status = 1
        }
        send(.finished(outcome))
        if let fd = control { Syscall.close(fd) }
        if let listener, let listenPath {
            Syscall.close(listener)
            Syscall.unlink(listenPath)
        }
        Syscall.exit(status)
    }

    /// Passes the daemon's signals on and accepts new daemons until the job ends; then finishes.
    /// Without a pidfd the job is polled every 50 ms.
    mutating func run(jobPID: pid_t, startTime: Double, pidfd: Int32?) -> Never {
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
                reap(jobPID: jobPID, startTime: startTime, hang: pidfd != nil)
            }
        }
    }

    /// Reaps the job (it has ended, or `hang` is false and it may not have) and finishes with its outcome.
    mutating func reap(jobPID: pid_t, startTime: Double, hang: Bool) {
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
            finish(ShepherdOutcome(jobPID: jobPID, waitStatus: 0, startTime: startTime, endTime: now,
                                   spawnFailure: "the shepherd could not reap the job: \(error)"))
        }
        guard let reaped else { return }
        finish(ShepherdOutcome(jobPID: jobPID, waitStatus: reaped.status, startTime: startTime,
                               endTime: Syscall.realtimeSeconds(), usage: ShepherdUsage(reaped.usage)))
    }

    /// The job could not be started: an outcome that says why.
    mutating func failToStart(_ reason: String) -> Never {
        let now = Syscall.realtimeSeconds()
        finish(ShepherdOutcome(jobPID: 0, waitStatus: 0, startTime: now, endTime: now, spawnFailure: reason))
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
    let executablePointer = CommandLine.unsafeArgv[options.executableIndex]
    let executable = executablePointer.map { String(cString: $0) } ?? ""
    // The job's argv: the very C strings of ours (any bytes, exactly), NULL-terminated.
    var jobArguments = ((options.executableIndex + 1)..<Int(CommandLine.argc)).map { CommandLine.unsafeArgv[$0] }
    jobArguments.append(nil)
    var jobPID: pid_t = 0
    var startTime = 0.0
    var attempt = 0
    while jobPID == 0 {
        do {
            guard let executablePointer else { shepherd.failToStart("EXECUTABLE is missing") }
            jobPID = try jobArguments.withUnsafeBufferPointer { (argv) throws(SpawnError) in
                try Syscall.spawn(executablePointer, argv.baseAddress!)
            }
            startTime = Syscall.realtimeSeconds()
        } catch where error.error.isTransient && attempt < 4 {
            Syscall.sleep(milliseconds: 10 << attempt)
            attempt += 1
        } catch where error.call == "posix_spawn" {
            shepherd.failToStart("cannot execute '\(executable)': \(error.error)")
        } catch {
            shepherd.failToStart("cannot prepare the job's process (\(error.call)): \(error.error)")
        }
    }

    // The shepherd's own soft limits back (up to the hard limit the job got): a small file size or
    // descriptor limit meant for the job must not keep the shepherd from writing the outcome.
    for (resource, limit) in ownLimits {
        guard let current = try? Syscall.resourceLimit(resource) else { continue }
        try? Syscall.setResourceLimit(resource, rlimit(rlim_cur: min(limit.rlim_cur, current.rlim_max), rlim_max: current.rlim_max))
    }

    // 5. Running: report it, pass signals on, wait for the end. Without a pidfd (Linux < 5.3, or no
    // descriptor left) the job is polled every 50 ms instead.
    let pidfd = try? Syscall.pidfdOpen(jobPID)
    if shepherd.control == nil {
        shepherd.listen()  // started without a daemon: wait for one at once
    } else {
        shepherd.send(.started(jobPID: jobPID, startTime: startTime))
    }

    shepherd.run(jobPID: jobPID, startTime: startTime, pidfd: pidfd)
}

shepherdMain()
