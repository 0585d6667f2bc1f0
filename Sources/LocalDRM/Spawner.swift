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

/// The open files of a job about to be spawned: its working directory and standard streams, and
/// the paths they were opened at (a directory given as output or error path resolved to the file
/// in it). ``close()`` releases them once the job has them (or will not run).
struct JobFiles {
    var directory: Int32
    var input: Int32
    var output: Int32
    var error: Int32
    var executable: String
    var inputPath: String
    var outputPath: String
    /// The output path when standard error goes to the output file.
    var errorPath: String

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
    ///
    /// An output or error path that names a directory means the file with the default name in it
    /// (Grid Engine's rule; no path at all means the working directory); an input path that names a
    /// directory is an error, as on Grid Engine. With Slurm's profile, standard error goes to the
    /// output file unless an error path is given (Slurm's default).
    static func openFiles(_ job: JobRequest, environment: JobEnvironment, heldInput: Int32?,
                          emulation: Emulation? = nil) throws(StartFailure) -> Opened {
        var descriptors: [Int32] = []
        var keep = false
        defer { if !keep { for fd in descriptors { Syscall.close(fd) } } }
        /// The descriptor, `nil` for an output FIFO without a reader; throws a failure naming `what`.
        func open(_ path: String, _ flags: Int32, _ what: String, _ note: String = "") throws(StartFailure) -> Int32? {
            switch attempt(path, flags) {
            case .success(let fd): return fd
            case .failure(let error): return try failed(error, path, flags, what, note)
            }
        }
        func attempt(_ path: String, _ flags: Int32) -> Result<Int32, Errno> {
            do {
                let fd = try Syscall.open(path, flags | O_NONBLOCK)
                descriptors.append(fd)
                return .success(fd)
            } catch {
                return .failure(error)
            }
        }
        func failed(_ error: Errno, _ path: String, _ flags: Int32, _ what: String, _ note: String = "") throws(StartFailure) -> Int32? {
            // A FIFO without a reader refuses a non-blocking writer: the job waits for one.
            // (A socket or a device without a driver gives ENXIO too: those fail.)
            if error.rawValue == ENXIO, flags & O_WRONLY != 0, Syscall.isFIFO(path) { return nil }
            throw StartFailure("cannot open \(what) '\(path)'\(note)", error)
        }
        /// Opens an output or error stream: `given`, or the file with the default name in it if it
        /// is a directory, or in the working directory if there is no path.
        func openStream(_ given: String?, _ letter: Character, _ what: String) throws(StartFailure) -> (fd: Int32?, path: String) {
            let name = JobVariables.defaultFileName(job, letter, emulation: emulation)
            guard let given else {
                let path = file(name, in: job.workingDirectory)
                return (try open(path, outputFlags, what), path)
            }
            switch attempt(given, outputFlags) {
            case .success(let fd):
                return (fd, given)
            case .failure(let error) where error.rawValue == EISDIR:
                let path = file(name, in: given)
                return (try open(path, outputFlags, what, " (the default name in the directory '\(given)')"), path)
            case .failure(let error):
                return (try failed(error, given, outputFlags, what), given)
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
        let inputType = try? Syscall.fileType(input).type
        if inputType == S_IFDIR {
            throw StartFailure(reason: "the input file '\(inputPath)' is a directory; drmaa_input_path must name a file (as on Grid Engine)")
        }
        let inputIsFIFO = inputType == S_IFIFO
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
        let (openedOutput, outputPath) = try openStream(job.outputPath, "o", "output file")
        guard let output = openedOutput else {
            return wait("it waits for a reader of its output FIFO '\(outputPath)'")
        }
        let joined = job.joinFiles || (emulation == .slurm && job.errorPath == nil)
        var error = output
        var errorPath = outputPath
        if !joined {
            let (openedError, path) = try openStream(job.errorPath, "e", "error file")
            guard let opened = openedError else {
                return wait("it waits for a reader of its error FIFO '\(path)'")
            }
            (error, errorPath) = (opened, path)
        }
        try usable(input, O_RDONLY, "input file", inputPath)
        try usable(output, outputFlags, "output file", outputPath)
        if error != output { try usable(error, outputFlags, "error file", errorPath) }
        keep = true
        return .ready(JobFiles(directory: directory, input: input, output: output, error: error, executable: executable,
                               inputPath: inputPath, outputPath: outputPath, errorPath: errorPath))
    }

    /// Output and error files are opened for appending, made with mode 0666 less the umask.
    static let outputFlags = O_WRONLY | O_CREAT | O_APPEND

    /// The path of the file `name` in `directory`.
    static func file(_ name: String, in directory: String) -> String {
        directory + (directory.hasSuffix("/") ? "" : "/") + name
    }

    /// Spawns the job with its open files and returns its pid; the files stay open (the caller closes them).
    ///
    /// `through` a shepherd (the durable mode), the shepherd is spawned instead, with the same
    /// streams, directory, environment and signal state, its arguments (which name the job's
    /// executable and argv), and `descriptors` as fds 3, 4, … (each source must be above them). It
    /// is not made a group leader: it makes a session of its own (setsid), and starts the job in
    /// the job's own group.
    static func spawn(_ job: JobRequest, _ files: JobFiles, environment: JobEnvironment,
                      variables: [(name: String, value: String)],
                      through shepherd: (executable: String, arguments: [String], descriptors: [Int32])? = nil) throws(StartFailure) -> pid_t {
        func check(_ result: Int32, _ call: String) throws(StartFailure) {
            guard result == 0 else { throw StartFailure("cannot prepare the job's process (\(call))", Errno(rawValue: result)) }
        }

        // glibc < 2.29 has no chdir file action for posix_spawn: the same child, started another way.
        if clocaldrm_spawn_has_fchdir() == 0 {
            guard shepherd == nil else {
                throw StartFailure(reason: "LocalDRM's durable mode needs glibc 2.29 or later (posix_spawn_file_actions_addfchdir_np); use mode=embedded")
            }
            do {
                return try environment.withEnvironment(variables) { (envp) throws(Errno) in
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
        // A shepherd's own descriptors (its control socket, its lock), after the directory change
        // (which may use fd 3 or 4); their sources are above every target.
        for (index, fd) in (shepherd?.descriptors ?? []).enumerated() {
            try check(posix_spawn_file_actions_adddup2(&actions, fd, Int32(3 + index)), "posix_spawn_file_actions_adddup2")
        }
        // 3. Nothing else is inherited (our fds are O_CLOEXEC, but the host's may not be).
        try check(clocaldrm_spawn_addclosefrom(&actions, Int32(3 + (shepherd?.descriptors.count ?? 0))), "posix_spawn_file_actions_addclosefrom_np")

        var attributes = posix_spawnattr_t()
        try check(posix_spawnattr_init(&attributes), "posix_spawnattr_init")
        defer { posix_spawnattr_destroy(&attributes) }
        try check(posix_spawnattr_setpgroup(&attributes, 0), "posix_spawnattr_setpgroup")
        try check(clocaldrm_spawnattr_clean_signals(&attributes, Int16(shepherd == nil ? POSIX_SPAWN_SETPGROUP : 0)),
                  "posix_spawnattr_setsig*")

        let executable = shepherd?.executable ?? files.executable
        let argv = shepherd.map { [$0.executable] + $0.arguments } ?? [job.remoteCommand] + job.arguments
        do {
            return try environment.withEnvironment(variables) { (envp) throws(Errno) in
                try Syscall.spawn(executable, argv, envp, &actions, &attributes)
            }
        } catch {
            throw StartFailure(shepherd == nil ? "cannot execute '\(executable)'" : "cannot start the job's shepherd '\(executable)'", error)
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
}

/// The environment of a submission's jobs: the submitter's environment when it submitted,
/// overridden by `drmaa_v_env`, plus LocalDRM's job variables (`DRMAA_JOB_ID`, `DRMAA_TASK_ID` in
/// bulk tasks, `TMPDIR` and a scheduler profile's, see ``JobVariables``). The variables LocalDRM
/// manages are never passed on from the submitter (a job that submits jobs has its own); those
/// `drmaa_v_env` sets stand. It is converted to C strings once per submission, so a spawn only
/// adds the per-job variables.
final class JobEnvironment: @unchecked Sendable {
    // @unchecked: `shared` is written only in `init` and freed only in `deinit`; in between it is
    // only read, and the C strings it points to are never modified.
    private let shared: [UnsafeMutablePointer<CChar>]
    /// The names `drmaa_v_env` sets (their values stand over LocalDRM's).
    private let overridden: Set<String>
    /// The jobs' `PATH`, for finding a bare command name; `nil` if unset.
    let path: String?
    /// The submitter's `TMPDIR`, where jobs' private temporary directories are made; `nil` if unset.
    let temporaryBase: String?

    /// `managed`: the variables LocalDRM sets in these jobs (``JobVariables/managedNames(_:)``).
    init(base: [String], overrides: [(name: String, value: String)],
         managed: [String] = [Spawner.jobIDVariable, Spawner.taskIDVariable]) {
        var dropped = Set(managed.map { Substring($0) })
        for (name, _) in overrides { dropped.insert(Substring(name)) }
        var entries: [String] = []
        entries.reserveCapacity(base.count + overrides.count)
        var path: String?
        var temporaryBase: String?
        for entry in base {
            let name = entry.firstIndex(of: "=").map { entry[..<$0] } ?? Substring(entry)
            if name == JobVariables.temporaryDirectoryVariable { temporaryBase = String(entry.dropFirst(name.count + 1)) }
            guard !dropped.contains(name) else { continue }
            entries.append(entry)
            if name == "PATH" { path = String(entry.dropFirst(5)) }
        }
        var seen = Set<String>()
        for (name, value) in overrides.reversed() where seen.insert(name).inserted {
            entries.append("\(name)=\(value)")
            if name == "PATH" { path = value }
        }
        shared = entries.map { exactCStringCopy($0) }
        overridden = seen
        self.path = path
        self.temporaryBase = temporaryBase
    }

    deinit {
        for pointer in shared { free(pointer) }
    }

    /// True if `drmaa_v_env` sets the variable `name`.
    func sets(_ name: String) -> Bool { overridden.contains(name) }

    /// Calls `body` with the NULL-terminated environment of one job: the shared entries and the
    /// job's `variables`, except those `drmaa_v_env` sets.
    func withEnvironment<R, E: Error>(_ variables: [(name: String, value: String)],
                                      _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) throws(E) -> R) throws(E) -> R {
        var own: [UnsafeMutablePointer<CChar>] = []
        own.reserveCapacity(variables.count)
        for (name, value) in variables where !overridden.contains(name) {
            own.append(exactCStringCopy("\(name)=\(value)"))
        }
        defer { for pointer in own { free(pointer) } }
        var pointers: [UnsafeMutablePointer<CChar>?] = []
        pointers.reserveCapacity(shared.count + own.count + 1)
        pointers += shared.lazy.map { Optional($0) }
        pointers += own.lazy.map { Optional($0) }
        pointers.append(nil)
        return try pointers.withUnsafeBufferPointer { (buffer) throws(E) in try body(buffer.baseAddress!) }
    }

    /// The environment as `name=value` strings (for tests and diagnostics), with `variables`.
    func entries(_ variables: [(name: String, value: String)]) -> [String] {
        withEnvironment(variables) { envp in
            var result: [String] = []
            var entry = envp
            while let pointer = entry.pointee {
                result.append(String(exactCString: pointer))
                entry += 1
            }
            return result
        }
    }

    /// The environment of a job with only the DRMAA variables (for tests).
    func entries(jobID: String, taskIndex: Int?) -> [String] {
        entries([(Spawner.jobIDVariable, jobID)] + (taskIndex.map { [(Spawner.taskIDVariable, String($0))] } ?? []))
    }
}
