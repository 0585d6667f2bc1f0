import CLocalDRM
import DRMAACore
import Glibc

/// The `drmaad` program: its command line, detaching, the lock that makes it unique per state
/// directory, the socket, and the daemon's run.
package enum DaemonProcess {
    static let usage = """
        usage: drmaad [--foreground | --detach] [--state-dir DIR] [--idle-exit SECONDS] [--slots N] [--retention SECONDS]
                  [--shepherd PATH] [--shepherd-pool N]

        The per-user daemon of LocalDRM's durable mode: it runs the DRMAA jobs of every process of
        this user, each under a shepherd, so that they outlive the process that submitted them.
        The DRMAA library starts it on demand (drmaad --detach); run it with --foreground under a
        service manager (a systemd user unit) or in CI.

          --foreground        stay attached to the terminal; log to standard error
          --detach            start the daemon in a session of its own, logging to DIR/daemon.log, and return
          --state-dir DIR     where the socket, the lock and the spool live (default: $DRMAA_LOCAL_STATE_DIR,
                              else $XDG_STATE_HOME/swift-drmaa, else ~/.local/state/swift-drmaa)
          --idle-exit SECONDS leave after this long with no client and no unfinished job (default:
                              $DRMAA_LOCAL_IDLE_EXIT, else 60; 0: never)
          --slots N           the slots all sessions share (default: $DRMAA_LOCAL_SLOTS, else one per CPU)
          --retention SECONDS how long the outcome of a finished job nobody reaps is kept (default 604800,
                              7 days; inf: for ever); then it is dropped as if reaped
          --shepherd PATH     the drmaa-shepherd program (default: $DRMAA_LOCAL_SHEPHERD, else beside drmaad)
          --shepherd-pool N   idle shepherds kept to run one job after another (default:
                              $DRMAA_LOCAL_SHEPHERD_POOL, else 16; 0: a shepherd of its own for every job)
        """

    /// The environment variable that sets the default of `--idle-exit` (the daemon the library
    /// starts inherits the environment of the process that started it).
    static let idleExitVariable = "DRMAA_LOCAL_IDLE_EXIT"
    /// The environment variable that sets the default of `--shepherd-pool`.
    static let shepherdPoolVariable = "DRMAA_LOCAL_SHEPHERD_POOL"

    private struct Options {
        var foreground = false
        var detach = false
        var stateDirectory: String?
        var idleExit = 60.0
        var slots: Int?
        var shepherd: String?
        var retention = Daemon.Configuration.defaultRetention
        var shepherdPool = ShepherdPool.defaultSize
    }

    /// A pool size: a whole number from 0 to 1024.
    private static func poolSize(_ text: String) -> Int? {
        guard let size = Int(text), (0...1024).contains(size) else { return nil }
        return size
    }

    /// Runs `drmaad` with `arguments` (without the program name); `openStore` opens the spool of a
    /// state directory. Returns the exit status.
    package static func main(_ arguments: [String], openStore: (String) throws(DRMAAError) -> any DaemonStore) -> Int32 {
        var options = Options()
        if let text = Syscall.environmentValue(idleExitVariable), !text.isEmpty {
            guard let seconds = Double(text), seconds >= 0, seconds.isFinite else {
                complain("\(idleExitVariable)='\(text)' is invalid: it takes seconds (0 or more)")
                return 2
            }
            options.idleExit = seconds == 0 ? .infinity : seconds
        }
        if let text = Syscall.environmentValue(shepherdPoolVariable), !text.isEmpty {
            guard let size = poolSize(text) else {
                complain("\(shepherdPoolVariable)='\(text)' is invalid: it takes a whole number from 0 to 1024")
                return 2
            }
            options.shepherdPool = size
        }
        var rest = arguments[...]
        func value(_ flag: String) -> String? {
            guard let next = rest.popFirst() else {
                complain("\(flag) needs a value")
                return nil
            }
            return next
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--foreground": options.foreground = true
            case "--detach": options.detach = true
            case "--state-dir":
                guard let path = value(argument) else { return 2 }
                options.stateDirectory = path
            case "--idle-exit":
                guard let text = value(argument) else { return 2 }
                guard let seconds = Double(text), seconds >= 0, seconds.isFinite else {
                    complain("--idle-exit takes seconds (0 or more), not '\(text)'")
                    return 2
                }
                options.idleExit = seconds == 0 ? .infinity : seconds
            case "--slots":
                guard let text = value(argument) else { return 2 }
                guard let slots = Int(text), LocalDRM.slotRange.contains(slots) else {
                    complain("--slots takes a whole number from 1 to \(LocalDRM.slotRange.upperBound), not '\(text)'")
                    return 2
                }
                options.slots = slots
            case "--retention":
                guard let text = value(argument) else { return 2 }
                guard let seconds = Double(text), seconds > 0 else {
                    complain("--retention takes seconds (more than 0; inf for ever), not '\(text)'")
                    return 2
                }
                options.retention = seconds
            case "--shepherd":
                guard let path = value(argument) else { return 2 }
                options.shepherd = path
            case "--shepherd-pool":
                guard let text = value(argument) else { return 2 }
                guard let size = poolSize(text) else {
                    complain("--shepherd-pool takes a whole number from 0 to 1024, not '\(text)'")
                    return 2
                }
                options.shepherdPool = size
            case "--help", "-h":
                print(usage)
                return 0
            case "--version":
                print("drmaad (\(LocalDRM.implementation))")
                return 0
            default:
                complain("unknown argument '\(argument)'")
                return 2
            }
        }
        guard !(options.foreground && options.detach) else {
            complain("--foreground and --detach exclude each other")
            return 2
        }
        let directory: String
        do throws(DRMAAError) {
            if let chosen = options.stateDirectory { directory = chosen } else { directory = try StateDirectory.path() }
            try StateDirectory.prepare(directory)
        } catch {
            complain(error.message)
            return 1
        }
        if options.detach { return detach(arguments, directory: directory) }
        if !options.foreground {
            // The daemon proper, started by --detach: its own session (no terminal's hangup
            // reaches it), its log as standard output and error, and the root as directory.
            _ = setsid()
            redirectToLog(directory)
            _ = chdir("/")
        }
        signal(SIGPIPE, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
        return serve(options, directory: directory, openStore: openStore)
    }

    private static func serve(_ options: Options, directory: String, openStore: (String) throws(DRMAAError) -> any DaemonStore) -> Int32 {
        let lock: Int32
        do throws(Errno) {
            guard let held = try Syscall.tryLock(Daemon.lockPath(stateDirectory: directory)) else {
                log("a daemon runs already for '\(directory)'")
                return 0
            }
            lock = held
        } catch {
            log("cannot lock '\(Daemon.lockPath(stateDirectory: directory))': \(error)")
            return 1
        }
        defer { Syscall.close(lock) }
        let shepherd: String
        do throws(DRMAAError) {
            if let chosen = options.shepherd { shepherd = chosen } else { shepherd = try DaemonStarter.shepherdExecutable() }
        } catch {
            log(error.message)
            return 1
        }
        let store: any DaemonStore
        let daemon: Daemon
        do throws(DRMAAError) {
            store = try openStore(directory)
            daemon = try Daemon(configuration: Daemon.Configuration(stateDirectory: directory, shepherdPath: shepherd,
                                                                    slots: options.slots, idleExitSeconds: options.idleExit,
                                                                    retentionSeconds: options.retention,
                                                                    shepherdPool: options.shepherdPool),
                                store: store)
        } catch {
            log(error.message)
            return 1
        }
        log("starting for '\(directory)' (pid \(Syscall.processID()))")
        log(daemon.recover())
        // Holding the lock, any socket file left is a dead daemon's.
        let socket = Daemon.socketPath(stateDirectory: directory)
        Syscall.removeFile(socket)
        let listener: Int32
        do throws(Errno) {
            listener = try Syscall.listenUnix(socket, type: Syscall.streamSocket, mode: 0o600)
        } catch {
            log("cannot listen at '\(socket)': \(error)")
            return 1
        }
        let bound = Syscall.identity(of: socket)
        log("serving '\(directory)' (pid \(Syscall.processID()), \(LocalDRM.implementation))")
        let reason = daemon.run(listener: listener)
        daemon.dismissIdleShepherds()
        // Unlinked before the socket closes: a client that comes now finds no daemon and starts one
        // (which waits for this one's lock). Only if it is still this daemon's: were the state
        // directory removed and made anew meanwhile, the file there would be another daemon's.
        if let bound, let now = Syscall.identity(of: socket), now == bound { Syscall.removeFile(socket) }
        Syscall.close(listener)
        log("leaving: \(reason)")
        return 0
    }

    /// `--detach`: starts `drmaad` (without `--detach`) and returns at once.
    private static func detach(_ arguments: [String], directory: String) -> Int32 {
        let program: String
        do throws(Errno) {
            program = try Syscall.readLink("/proc/self/exe")
        } catch {
            complain("cannot find this program: \(error)")
            return 1
        }
        var forwarded = arguments.filter { $0 != "--detach" }
        if !forwarded.contains("--state-dir") { forwarded += ["--state-dir", directory] }
        do throws(StartFailure) {
            _ = try DaemonStarter.spawnDetached(program, ["drmaad"] + forwarded)
        } catch {
            complain("cannot start the daemon: \(error.reason)")
            return 1
        }
        return 0
    }

    /// Standard output and error to `<directory>/daemon.log` (appended), standard input from /dev/null.
    private static func redirectToLog(_ directory: String) {
        let path = DaemonStarter.logPath(stateDirectory: directory)
        let log = path.withCString { open($0, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600) }
        if log >= 0 {
            dup2(log, 1)
            dup2(log, 2)
            if log > 2 { close(log) }
        }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        if null >= 0 {
            dup2(null, 0)
            if null > 2 { close(null) }
        }
    }

    static func log(_ message: String) {
        var time = time_t(Syscall.realtimeSeconds())
        var parts = tm()
        localtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let stamp = "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
        let line = "\(stamp) drmaad[\(Syscall.processID())]: \(message)\n"
        _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    }

    private static func complain(_ message: String) {
        let line = "drmaad: \(message)\n"
        _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    }
}
