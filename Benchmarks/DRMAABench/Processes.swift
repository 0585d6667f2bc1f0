import Glibc

/// A NULL-terminated C array of strings that lives until ``free()``: built once, reused for
/// thousands of `posix_spawn` calls in the bare baseline.
struct CStringArray {
    private(set) var pointers: [UnsafeMutablePointer<CChar>?]

    init(_ strings: [String]) {
        pointers = strings.map { strdup($0) } + [nil]
    }

    func free() {
        for pointer in pointers { Glibc.free(pointer) }
    }

    func withPointer<R>(_ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// The environment of this process as `name=value` strings.
func currentEnvironment() -> [String] {
    var result: [String] = []
    var entry = environ
    while let pointer = entry.pointee {
        result.append(String(cString: pointer))
        entry += 1
    }
    return result
}

/// The processes the benchmark starts itself, without DRMAA: the baselines, the external tools
/// and the Python script. Each is waited for by its pid (never `wait(-1)`, except in the bare
/// loop, which runs while no DRMAA job exists).
enum ChildProcess {
    /// Where a child's standard streams go; `nil` keeps ours.
    struct Streams {
        var input: String? = "/dev/null"
        var output: String?
        var error: String?
    }

    /// Starts `path` with `arguments` (argv[0] included) in a process group of its own, so that
    /// a timeout can end it with everything it started.
    static func spawn(_ path: String, _ arguments: [String], streams: Streams = Streams(),
                      environment: [String]? = nil) throws(BenchFailure) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let input = streams.input { posix_spawn_file_actions_addopen(&actions, 0, input, O_RDONLY, 0) }
        if let output = streams.output {
            posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        }
        if let error = streams.error {
            posix_spawn_file_actions_addopen(&actions, 2, error, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))

        let argv = CStringArray(arguments)
        let envp = CStringArray(environment ?? currentEnvironment())
        defer { argv.free(); envp.free() }
        var pid: pid_t = 0
        let result = argv.withPointer { argvPointer in
            envp.withPointer { envpPointer in
                posix_spawn(&pid, path, &actions, &attributes, argvPointer, envpPointer)
            }
        }
        guard result == 0 else {
            throw BenchFailure("cannot start \(path): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// Waits for a child started by ``spawn``; after `timeout` seconds its process group is
    /// killed and reaped, and `nil` is returned. Polls every millisecond (fine for children
    /// that run for seconds; short ones are waited for with a blocking `waitpid`).
    static func wait(_ pid: pid_t, timeout: Double) -> Int32? {
        let deadline = monotonicNanoseconds() + Int64(timeout * 1e9)
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return status }
            if result < 0 && errno != EINTR { return nil }
            if monotonicNanoseconds() > deadline {
                kill(-pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                return nil
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            nanosleep(&pause, nil)
        }
    }

    /// Runs a command to completion; throws if it cannot start, times out or exits non-zero.
    /// Returns the seconds it took.
    @discardableResult
    static func run(_ path: String, _ arguments: [String], streams: Streams = Streams(),
                    environment: [String]? = nil, timeout: Double) throws(BenchFailure) -> Double {
        let start = monotonicNanoseconds()
        let pid = try spawn(path, arguments, streams: streams, environment: environment)
        guard let status = wait(pid, timeout: timeout) else {
            throw BenchFailure("\(arguments.joined(separator: " ")) did not finish within \(Int(timeout)) s (killed)")
        }
        let elapsed = seconds(since: start)
        guard exitedSuccessfully(status) else {
            throw BenchFailure("\(arguments.joined(separator: " ")) failed (wait status \(status))")
        }
        return elapsed
    }

    /// `WIFEXITED(status) && WEXITSTATUS(status) == 0`.
    static func exitedSuccessfully(_ status: Int32) -> Bool {
        status & 0x7F == 0 && (status >> 8) & 0xFF == 0
    }
}
