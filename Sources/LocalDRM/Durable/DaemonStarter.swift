import CLocalDRM
import DRMAACore
import Glibc

/// Finds the user's daemon, or starts one: the first library process that finds none starts
/// `drmaad --detach`, which starts the daemon proper in a session of its own and exits at once
/// (so the daemon is nobody's child here: the library reaps only that short-lived starter). Many
/// processes may start one at the same moment: the daemon's lock file lets exactly one run; the
/// others' starters find it held and leave.
enum DaemonStarter {
    /// The environment variables that name the executables (for tests and unusual installs).
    static let daemonVariable = "DRMAA_LOCAL_DAEMON"
    static let shepherdVariable = "DRMAA_LOCAL_SHEPHERD"
    /// How long a library process waits for a daemon it started to listen.
    static let startTimeout = 20.0

    /// A connected socket to the daemon of `stateDirectory` (made if missing, mode 0700).
    static func connect(stateDirectory: String, start: Bool) throws(DRMAAError) -> Int32 {
        try StateDirectory.prepare(stateDirectory)
        let socket = Daemon.socketPath(stateDirectory: stateDirectory)
        var started = false
        var delay: UInt32 = 2_000
        let deadline = Syscall.monotonicNanoseconds() + Int64(startTimeout * 1e9)
        // Held while this process starts the daemon: of many processes that find none at once,
        // one starts it and the others wait for it, instead of starting starters that find its
        // lock taken.
        var starting: Int32?
        defer { if let starting { Syscall.close(starting) } }
        while true {
            do throws(Errno) {
                return try Syscall.connectUnix(socket, type: Syscall.streamSocket)
            } catch where [ENOENT, ECONNREFUSED, EAGAIN].contains(error.rawValue) {
                guard start else {
                    throw DRMAAError(.drmCommunicationFailure, "no LocalDRM daemon runs for '\(stateDirectory)' (\(error))")
                }
                if !started {
                    if starting == nil {
                        do throws(Errno) {
                            starting = try Syscall.tryLock(startLockPath(stateDirectory: stateDirectory))
                        } catch {
                            throw DRMAAError(.drmsInitFailed, "cannot lock '\(startLockPath(stateDirectory: stateDirectory))': \(error)")
                        }
                    }
                    if starting != nil {
                        // Ours: connect once more (a daemon may have started meanwhile), then start one.
                        if let fd = try? Syscall.connectUnix(socket, type: Syscall.streamSocket) { return fd }
                        try launch(stateDirectory: stateDirectory)
                        started = true
                    }
                }
                guard Syscall.monotonicNanoseconds() < deadline else {
                    throw DRMAAError(.drmsInitFailed, "the LocalDRM daemon did not start within \(Int(startTimeout)) s\(logTail(stateDirectory))")
                }
                usleep(delay)
                delay = min(delay * 2, 100_000)
            } catch {
                throw DRMAAError(.drmsInitFailed, "cannot connect to the LocalDRM daemon at '\(socket)': \(error)")
            }
        }
    }

    /// The daemon's log (its last lines), for a failure's message.
    static func logTail(_ stateDirectory: String) -> String {
        let path = logPath(stateDirectory: stateDirectory)
        guard let text = try? Syscall.readConfigurationFile(path, limit: 1 << 20) else { return "" }
        let lines = text.split(separator: "\n").suffix(3)
        return lines.isEmpty ? "" : "; its log '\(path)' ends: \(lines.joined(separator: " | "))"
    }

    /// The lock a process holds while it starts the daemon.
    static func startLockPath(stateDirectory: String) -> String { stateDirectory + "/start.lock" }

    /// The daemon's log file.
    static func logPath(stateDirectory: String) -> String { stateDirectory + "/daemon.log" }

    /// Starts `drmaad --detach --state-dir <dir>` and reaps it (it exits once it has started the daemon).
    private static func launch(stateDirectory: String) throws(DRMAAError) {
        let executable = try daemonExecutable()
        let pid: pid_t
        do throws(StartFailure) {
            pid = try spawnDetached(executable, ["drmaad", "--detach", "--state-dir", stateDirectory])
        } catch {
            throw DRMAAError(.drmsInitFailed, "cannot start the LocalDRM daemon '\(executable)': \(error.reason)")
        }
        // Our own child, by pid: it exits as soon as it has spawned the daemon proper.
        _ = try? Syscall.reap(pid)
    }

    /// Spawns a program with standard streams on /dev/null, no other descriptor, a clean signal
    /// state and the process's environment.
    static func spawnDetached(_ executable: String, _ arguments: [String]) throws(StartFailure) -> pid_t {
        func check(_ result: Int32, _ call: String) throws(StartFailure) {
            guard result == 0 else { throw StartFailure("cannot prepare the process (\(call))", Errno(rawValue: result)) }
        }
        var actions = posix_spawn_file_actions_t()
        try check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init")
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in 0...2 {
            try check(posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0), "posix_spawn_file_actions_addopen")
        }
        try check(clocaldrm_spawn_addclosefrom(&actions, 3), "posix_spawn_file_actions_addclosefrom_np")
        var attributes = posix_spawnattr_t()
        try check(posix_spawnattr_init(&attributes), "posix_spawnattr_init")
        defer { posix_spawnattr_destroy(&attributes) }
        try check(clocaldrm_spawnattr_clean_signals(&attributes, 0), "posix_spawnattr_setsig*")
        do {
            return try Syscall.spawn(executable, arguments, clocaldrm_environ(), &actions, &attributes)
        } catch {
            throw StartFailure("cannot execute '\(executable)'", error)
        }
    }

    /// `drmaad`: `$DRMAA_LOCAL_DAEMON`, else beside this library (or program), else in
    /// `../libexec/swift-drmaa` from it, else beside the running program.
    static func daemonExecutable() throws(DRMAAError) -> String {
        try executable("drmaad", variable: daemonVariable)
    }

    /// `drmaa-shepherd`, found the same way (the daemon looks beside itself first).
    static func shepherdExecutable() throws(DRMAAError) -> String {
        try executable("drmaa-shepherd", variable: shepherdVariable)
    }

    private static func executable(_ name: String, variable: String) throws(DRMAAError) -> String {
        if let path = Syscall.environmentValue(variable), !path.isEmpty {
            guard Syscall.isExecutableFile(path) else {
                throw DRMAAError(.drmsInitFailed, "\(variable)='\(path)' is not an executable file")
            }
            return path
        }
        var directories: [String] = []
        if let object = clocaldrm_own_object_path().map({ String(cString: $0) }), let slash = object.lastIndex(of: "/") {
            let directory = String(object[..<slash])
            directories += [directory, directory + "/../libexec/swift-drmaa"]
        }
        if let program = try? Syscall.readLink("/proc/self/exe"), let slash = program.lastIndex(of: "/") {
            directories.append(String(program[..<slash]))
        }
        for directory in directories where Syscall.isExecutableFile(directory + "/" + name) {
            return directory + "/" + name
        }
        throw DRMAAError(.drmsInitFailed, "LocalDRM's durable mode needs its '\(name)' program, which is in none of \(directories.map { "'\($0)'" }.joined(separator: ", ")) (set \(variable) to its path, or use mode=embedded)")
    }
}
