import CLocalDRM
import DRMAACore
import Glibc

/// Why a job could not be started. A `transient` failure (out of file descriptors, processes or
/// memory; or `ETXTBSY`, a command file still open for writing, as when another thread of this
/// process is spawning while a script is being written) leaves the job queued, to be tried again
/// later; any other ends it FAILED with `wasAborted` and this text as its reason.
struct StartFailure: Error {
    let reason: String
    var transient = false

    /// A failure of `call` with `error`; transient for the errors of exhausted resources.
    init(_ reason: String, _ error: Errno) {
        self.reason = "\(reason): \(error)"
        transient = [EMFILE, ENFILE, EAGAIN, ENOMEM, ENOBUFS, ETXTBSY].contains(error.rawValue)
    }

    init(reason: String) {
        self.reason = reason
    }
}

/// The open files of a job about to be spawned: its working directory and standard streams.
/// ``close()`` releases them once the job has them (or will not run).
struct JobFiles {
    var directory: Int32
    var input: Int32
    var output: Int32
    var error: Int32
    var executable: String

    func close() {
        for fd in Set([directory, input, output, error]) { Syscall.close(fd) }
    }
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

    /// The result of opening a job's files.
    enum Opened {
        case ready(JobFiles)
        /// A FIFO is not ready (no writer has written to the input yet, or the output has no
        /// reader): the job must wait. `heldInput` is the input FIFO, kept open meanwhile so that
        /// a writer that connected is not left without a reader.
        case notReady(reason: String, heldInput: Int32?)
    }

    /// Opens the job's files here, in the parent, so that every failure names the file and the
    /// reason. Nothing blocks: files are opened with `O_NONBLOCK` (cleared afterwards), and a FIFO
    /// that is not ready makes the job wait instead of the library. `heldInput` is an input FIFO
    /// kept open since an earlier attempt; it is used (or handed back) instead of opening anew.
    static func openFiles(_ job: JobRequest, environment: JobEnvironment, heldInput: Int32?) throws(StartFailure) -> Opened {
        var descriptors: [Int32] = []
        var keep = false
        defer { if !keep { for fd in descriptors { Syscall.close(fd) } } }
        func open(_ path: String, _ flags: Int32, _ what: String) throws(StartFailure) -> Int32? {
            do {
                let fd = try Syscall.open(path, flags | O_NONBLOCK)
                descriptors.append(fd)
                return fd
            } catch {
                // A FIFO without a reader refuses a non-blocking writer: the job waits for one.
                // (A socket or a device without a driver gives ENXIO too: those fail.)
                if error.rawValue == ENXIO, flags & O_WRONLY != 0, Syscall.isFIFO(path) { return nil }
                throw StartFailure("cannot open \(what) '\(path)'", error)
            }
        }
        func usable(_ fd: Int32, _ flags: Int32, _ what: String, _ path: String) throws(StartFailure) {
            do {
                try Syscall.clearNonBlocking(fd, openedWith: flags)
            } catch {
                throw StartFailure("cannot use \(what) '\(path)'", error)
            }
        }
        let inputPath = job.inputPath ?? "/dev/null"
        let input: Int32
        if let heldInput {
            descriptors.append(heldInput)
            input = heldInput
        } else {
            input = try open(inputPath, O_RDONLY, "input file")!
        }
        let inputIsFIFO = (try? Syscall.fileType(input).type) == S_IFIFO
        /// Hands the input back if it is a FIFO (so it stays open), closes everything else.
        func wait(_ reason: String) -> Opened {
            if inputIsFIFO { descriptors.removeAll { $0 == input } }
            return .notReady(reason: reason, heldInput: inputIsFIFO ? input : nil)
        }
        if inputIsFIFO, !Syscall.isReadable(input) {
            return wait("it waits for a writer on its input FIFO '\(inputPath)'")
        }
        let directory = try open(job.workingDirectory, O_RDONLY | O_DIRECTORY, "working directory")!
        let executable = try resolveCommand(job.remoteCommand, workingDirectory: job.workingDirectory, path: environment.path)
        let outputFlags = O_WRONLY | O_CREAT | O_APPEND
        let outputPath = job.outputPath ?? defaultStreamPath(job, "o")
        guard let output = try open(outputPath, outputFlags, "output file") else {
            return wait("it waits for a reader of its output FIFO '\(outputPath)'")
        }
        let errorPath = job.errorPath ?? defaultStreamPath(job, "e")
        let error: Int32
        if job.joinFiles {
            error = output
        } else {
            guard let opened = try open(errorPath, outputFlags, "error file") else {
                return wait("it waits for a reader of its error FIFO '\(errorPath)'")
            }
            error = opened
        }
        try usable(input, O_RDONLY, "input file", inputPath)
        try usable(output, outputFlags, "output file", outputPath)
        if !job.joinFiles { try usable(error, outputFlags, "error file", errorPath) }
        keep = true
        return .ready(JobFiles(directory: directory, input: input, output: output, error: error, executable: executable))
    }

    /// Spawns the job with its open files and returns its pid; the files stay open (the caller closes them).
    static func spawn(_ job: JobRequest, _ files: JobFiles, environment: JobEnvironment) throws(StartFailure) -> pid_t {
        func check(_ result: Int32, _ call: String) throws(StartFailure) {
            guard result == 0 else { throw StartFailure("cannot prepare the job's process (\(call))", Errno(rawValue: result)) }
        }

        // glibc < 2.29 has no chdir file action for posix_spawn: the same child, started another way.
        if clocaldrm_spawn_has_fchdir() == 0 {
            do {
                return try environment.withEnvironment(jobID: job.jobID, taskIndex: job.taskIndex) { (envp) throws(Errno) in
                    try Syscall.spawnWithoutChdirAction(files.executable, [job.remoteCommand] + job.arguments, envp,
                                                        input: files.input, output: files.output, error: files.error,
                                                        directory: files.directory)
                }
            } catch {
                throw StartFailure("cannot execute '\(files.executable)'", error)
            }
        }

        var actions = posix_spawn_file_actions_t()
        try check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init")
        defer { posix_spawn_file_actions_destroy(&actions) }
        // 1. The standard streams. Every source fd is >= 3 (Syscall.open), so no dup2 clobbers another source.
        try check(posix_spawn_file_actions_adddup2(&actions, files.input, 0), "posix_spawn_file_actions_adddup2")
        try check(posix_spawn_file_actions_adddup2(&actions, files.output, 1), "posix_spawn_file_actions_adddup2")
        try check(posix_spawn_file_actions_adddup2(&actions, files.error, 2), "posix_spawn_file_actions_adddup2")
        // 2. The working directory, by descriptor: it was checked above, and cannot be swapped now.
        try check(clocaldrm_spawn_addfchdir(&actions, files.directory), "posix_spawn_file_actions_addfchdir_np")
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
                try Syscall.spawn(files.executable, argv, envp, &actions, &attributes)
            }
        } catch {
            throw StartFailure("cannot execute '\(files.executable)'", error)
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
        shared = entries.map { exactCStringCopy($0) }
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
        if !setsJobID { own.append(exactCStringCopy("\(Spawner.jobIDVariable)=\(jobID)")) }
        if let taskIndex, !setsTaskID { own.append(exactCStringCopy("\(Spawner.taskIDVariable)=\(taskIndex)")) }
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
                result.append(String(exactCString: pointer))
                entry += 1
            }
            return result
        }
    }
}
