import CLocalDRM
import DRMAACore
import Glibc

/// Why a job could not be started; it ends FAILED with `wasAborted` and this text as its reason.
struct StartFailure: Error {
    let reason: String
}

/// Starts one job as a child process with `posix_spawn`.
///
/// The child gets: its own process group; an empty signal mask and default handlers for every
/// signal; exactly fds 0, 1 and 2 (the job's stdin, stdout and stderr files); the working
/// directory; the environment; argv exactly as given. No shell is involved.
enum Spawner {
    /// Environment variables LocalDRM sets in every job.
    static let jobIDVariable = "DRMAA_JOB_ID"
    /// Set in bulk tasks only: the task index.
    static let taskIDVariable = "DRMAA_TASK_ID"

    /// Spawns the job and returns its pid. Files are opened here, in the parent, so that every
    /// failure names the file and the reason.
    static func spawn(_ job: JobRequest, environment: JobEnvironment) throws(StartFailure) -> pid_t {
        var descriptors: [Int32] = []
        defer { for fd in descriptors { Syscall.close(fd) } }
        func open(_ path: String, _ flags: Int32, _ what: String) throws(StartFailure) -> Int32 {
            do {
                let fd = try Syscall.open(path, flags)
                descriptors.append(fd)
                return fd
            } catch {
                throw StartFailure(reason: "cannot open \(what) '\(path)': \(error)")
            }
        }
        let directory = try open(job.workingDirectory, O_RDONLY | O_DIRECTORY, "working directory")
        let executable = try resolveCommand(job.remoteCommand, workingDirectory: job.workingDirectory, path: environment.path)
        let input = try open(job.inputPath ?? "/dev/null", O_RDONLY, "input file")
        let outputFlags = O_WRONLY | O_CREAT | O_APPEND
        let output = try open(job.outputPath ?? defaultStreamPath(job, "o"), outputFlags, "output file")
        let error = job.joinFiles ? output : try open(job.errorPath ?? defaultStreamPath(job, "e"), outputFlags, "error file")

        // glibc < 2.29 has no chdir file action for posix_spawn: the same child, started another way.
        if clocaldrm_spawn_has_fchdir() == 0 {
            do {
                return try environment.withEnvironment(jobID: job.jobID, taskIndex: job.taskIndex) { (envp) throws(Errno) in
                    try Syscall.spawnWithoutChdirAction(executable, [job.remoteCommand] + job.arguments, envp,
                                                        input: input, output: output, error: error, directory: directory)
                }
            } catch {
                throw StartFailure(reason: "cannot execute '\(executable)': \(error)")
            }
        }

        var actions = posix_spawn_file_actions_t()
        try check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init")
        defer { posix_spawn_file_actions_destroy(&actions) }
        // 1. The standard streams. Every source fd is >= 3 (Syscall.open), so no dup2 clobbers another source.
        try check(posix_spawn_file_actions_adddup2(&actions, input, 0), "posix_spawn_file_actions_adddup2")
        try check(posix_spawn_file_actions_adddup2(&actions, output, 1), "posix_spawn_file_actions_adddup2")
        try check(posix_spawn_file_actions_adddup2(&actions, error, 2), "posix_spawn_file_actions_adddup2")
        // 2. The working directory, by descriptor: it was checked above, and cannot be swapped now.
        try check(clocaldrm_spawn_addfchdir(&actions, directory), "posix_spawn_file_actions_addfchdir_np")
        // 3. Nothing else is inherited (our fds are O_CLOEXEC, but the host's may not be).
        try check(clocaldrm_spawn_addclosefrom(&actions, 3), "posix_spawn_file_actions_addclosefrom_np")

        var attributes = posix_spawnattr_t()
        try check(posix_spawnattr_init(&attributes), "posix_spawnattr_init")
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        try check(posix_spawnattr_setsigmask(&attributes, &noSignals), "posix_spawnattr_setsigmask")
        try check(posix_spawnattr_setsigdefault(&attributes, &allSignals), "posix_spawnattr_setsigdefault")
        try check(posix_spawnattr_setpgroup(&attributes, 0), "posix_spawnattr_setpgroup")
        try check(posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)),
                  "posix_spawnattr_setflags")

        let argv = [job.remoteCommand] + job.arguments
        do {
            return try environment.withEnvironment(jobID: job.jobID, taskIndex: job.taskIndex) { (envp) throws(Errno) in
                try Syscall.spawn(executable, argv, envp, &actions, &attributes)
            }
        } catch {
            throw StartFailure(reason: "cannot execute '\(executable)': \(error)")
        }
    }

    /// Throws if a `posix_spawn_file_actions_*` or `posix_spawnattr_*` call returned an error number.
    private static func check(_ result: Int32, _ call: String) throws(StartFailure) {
        guard result != 0 else { return }
        throw StartFailure(reason: "\(call) failed: \(Errno(rawValue: result)) (errno \(result))")
    }

    /// A command with a `/` is a path (relative to the working directory); a bare name is
    /// looked up on the job's `PATH`.
    static func resolveCommand(_ command: String, workingDirectory: String, path: String?) throws(StartFailure) -> String {
        if command.contains("/") {
            return command.hasPrefix("/") ? command : workingDirectory + "/" + command
        }
        let path = path ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":", omittingEmptySubsequences: false) {
            let base = directory.isEmpty ? workingDirectory : String(directory)
            let candidate = base + "/" + command
            if Syscall.isExecutableFile(candidate) { return candidate }
        }
        throw StartFailure(reason: "command '\(command)' was not found on the job's PATH (\(path))")
    }

    /// Grid Engine's default for an unset output or error path: `<job name>.o<job id>` (or `.e`)
    /// in the working directory; a bulk task's id is `<job id>.<task index>`.
    static func defaultStreamPath(_ job: JobRequest, _ letter: Character) -> String {
        let id = job.jobID
        let name = job.jobName.replacing("/", with: "_")
        return job.workingDirectory + (job.workingDirectory.hasSuffix("/") ? "" : "/") + "\(name).\(letter)\(id)"
    }
}

/// The environment of a submission's jobs: the submitter's environment when it submitted,
/// overridden by `drmaa_v_env`, plus LocalDRM's job variables (`DRMAA_JOB_ID`, and
/// `DRMAA_TASK_ID` in bulk tasks). It is converted to C strings once per submission, so a
/// spawn only adds the two per-job variables.
final class JobEnvironment: @unchecked Sendable {
    // @unchecked: `shared` is written only in `init` and freed only in `deinit`; in between it is
    // only read, and the C strings it points to are never modified.
    private let shared: [UnsafeMutablePointer<CChar>]
    /// Whether `drmaa_v_env` sets the job variables itself (then its values stand).
    private let setsJobID: Bool
    private let setsTaskID: Bool
    /// The jobs' `PATH`, for finding a bare command name; `nil` if unset.
    let path: String?

    init(base: [String], overrides: [(name: String, value: String)]) {
        var overridden: Set<Substring> = [Substring(Spawner.jobIDVariable), Substring(Spawner.taskIDVariable)]
        for (name, _) in overrides { overridden.insert(Substring(name)) }
        var entries: [String] = []
        entries.reserveCapacity(base.count + overrides.count)
        var path: String?
        for entry in base {
            let name = entry.firstIndex(of: "=").map { entry[..<$0] } ?? Substring(entry)
            guard !overridden.contains(name) else { continue }
            entries.append(entry)
            if name == "PATH" { path = String(entry.dropFirst(5)) }
        }
        var seen = Set<String>()
        for (name, value) in overrides.reversed() where seen.insert(name).inserted {
            entries.append("\(name)=\(value)")
            if name == "PATH" { path = value }
        }
        shared = entries.map { strdup($0)! }
        setsJobID = seen.contains(Spawner.jobIDVariable)
        setsTaskID = seen.contains(Spawner.taskIDVariable)
        self.path = path
    }

    deinit {
        for pointer in shared { free(pointer) }
    }

    /// Calls `body` with the NULL-terminated environment of one job.
    func withEnvironment<R, E: Error>(jobID: String, taskIndex: Int?,
                                      _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) throws(E) -> R) throws(E) -> R {
        var own: [UnsafeMutablePointer<CChar>] = []
        if !setsJobID { own.append(strdup("\(Spawner.jobIDVariable)=\(jobID)")!) }
        if let taskIndex, !setsTaskID { own.append(strdup("\(Spawner.taskIDVariable)=\(taskIndex)")!) }
        defer { for pointer in own { free(pointer) } }
        var pointers: [UnsafeMutablePointer<CChar>?] = []
        pointers.reserveCapacity(shared.count + own.count + 1)
        pointers += shared.lazy.map { Optional($0) }
        pointers += own.lazy.map { Optional($0) }
        pointers.append(nil)
        return try pointers.withUnsafeBufferPointer { (buffer) throws(E) in try body(buffer.baseAddress!) }
    }

    /// The environment as `name=value` strings (for tests and diagnostics).
    func entries(jobID: String, taskIndex: Int?) -> [String] {
        withEnvironment(jobID: jobID, taskIndex: taskIndex) { envp in
            var result: [String] = []
            var entry = envp
            while let pointer = entry.pointee {
                result.append(String(cString: pointer))
                entry += 1
            }
            return result
        }
    }
}
