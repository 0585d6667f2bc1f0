import CLocalDRM
import Glibc

/// An error number returned by a system call.
struct Errno: Error, Equatable, CustomStringConvertible {
    let rawValue: Int32

    static let interrupted = Errno(rawValue: EINTR)
    static let noChild = Errno(rawValue: ECHILD)
    static let noSuchProcess = Errno(rawValue: ESRCH)
    static let wouldBlock = Errno(rawValue: EAGAIN)

    /// The C library's text for the error, such as `No such file or directory`.
    var description: String { String(cString: strerror(rawValue)) }

    /// The calling thread's current `errno`.
    static var current: Errno { Errno(rawValue: errno) }
}

/// The exit status and resource usage of a reaped child.
struct ReapedProcess {
    var status: Int32
    var usage: rusage
}

/// The one place that calls the raw system calls LocalDRM needs.
///
/// Each function retries on `EINTR` and throws the typed ``Errno``; nothing else in LocalDRM
/// reads `errno`.
enum Syscall {
    /// Runs `body` until it does not fail with `EINTR`; a result of -1 throws `errno`.
    @inline(__always)
    static func retrying<T: FixedWidthInteger>(_ body: () -> T) throws(Errno) -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let error = Errno.current
            if error != .interrupted { throw error }
        }
    }

    /// Opens a file with `O_CLOEXEC`, moved to a descriptor >= 3 so that it can never collide
    /// with the standard streams it is later duplicated onto. The path's bytes are its
    /// ``Swift/String/exactBytes``. The corresponding C function is `open(2)`.
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o666) throws(Errno) -> Int32 {
        // The C string of a path with a NUL ends at the NUL and would name another file.
        guard !path.utf8.contains(0) else { throw Errno(rawValue: EINVAL) }
        let fd = try path.withExactCString { (cPath) throws(Errno) in try retrying { Glibc.open(cPath, flags | O_CLOEXEC, mode) } }
        guard fd < 3 else { return fd }
        defer { close(fd) }
        return try retrying { fcntl(fd, F_DUPFD_CLOEXEC, Int32(3)) }
    }

    /// Clears `O_NONBLOCK` of a file opened with `flags` (and `O_NONBLOCK`): one call, since the
    /// status flags it sets are known. The corresponding C function is `fcntl(2)` with `F_SETFL`.
    static func clearNonBlocking(_ fd: Int32, openedWith flags: Int32) throws(Errno) {
        _ = try retrying { fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
    }

    /// The file type bits (`S_IFMT`) and size of an open file. The corresponding C function is `fstat(2)`.
    static func fileType(_ fd: Int32) throws(Errno) -> (type: mode_t, size: Int) {
        var info = stat()
        _ = try retrying { fstat(fd, &info) }
        return (info.st_mode & S_IFMT, Int(info.st_size))
    }

    /// True if `path` names a FIFO. The corresponding C function is `stat(2)`.
    static func isFIFO(_ path: String) -> Bool {
        path.withExactCString { cPath in
            var info = stat()
            return stat(cPath, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO
        }
    }

    /// True if reading `fd` would not block: data, or a hang-up (all writers gone).
    /// The corresponding C function is `poll(2)` with a zero timeout.
    static func isReadable(_ fd: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard (try? retrying { Glibc.poll(&entry, 1, 0) }) == 1 else { return false }
        return entry.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0
    }

    /// The contents of a configuration file, as UTF-8 text: it must be a regular file of at most
    /// `limit` bytes. It is opened with `O_NONBLOCK`, so that a FIFO in its place cannot block.
    /// The corresponding C functions are `open(2)`, `fstat(2)` and `read(2)`.
    static func readConfigurationFile(_ path: String, limit: Int) throws(ConfigurationFileError) -> String {
        let fd: Int32
        do { fd = try open(path, O_RDONLY | O_NONBLOCK) } catch { throw .cannotOpen(error) }
        defer { close(fd) }
        let type: mode_t, size: Int
        do { (type, size) = try fileType(fd) } catch { throw .cannotRead(error) }
        guard type == S_IFREG else { throw .notRegular }
        guard size <= limit else { throw .tooLarge(size) }
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var total = 0
        while total <= limit {
            let result = bytes.withUnsafeMutableBytes { buffer in
                Result { () throws(Errno) in try retrying { read(fd, buffer.baseAddress! + total, buffer.count - total) } }
            }
            let count: Int
            switch result {
            case .success(let read): count = read
            case .failure(let error): throw .cannotRead(error)
            }
            if count == 0 { break }
            total += count
        }
        // It may have grown since fstat.
        guard total <= limit else { throw .tooLarge(total) }
        return String(decoding: bytes[..<total], as: UTF8.self)
    }

    /// Why ``readConfigurationFile(_:limit:)`` failed.
    enum ConfigurationFileError: Error, CustomStringConvertible {
        case cannotOpen(Errno)
        case cannotRead(Errno)
        case notRegular
        case tooLarge(Int)

        var description: String {
            switch self {
            case .cannotOpen(let error): "cannot open it: \(error)"
            case .cannotRead(let error): "cannot read it: \(error)"
            case .notRegular: "it is not a regular file"
            case .tooLarge(let size): "it is too large (\(size) bytes)"
            }
        }
    }

    /// True while `pid` is a child of this process that nobody has reaped (running, stopped or a
    /// zombie). The corresponding C function is `waitid(2)` with `WNOHANG | WNOWAIT`.
    static func isUnreapedChild(_ pid: pid_t) -> Bool {
        guard pid > 0 else { return false }
        var info = siginfo_t()
        return (try? retrying { waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) }) != nil
    }

    /// What this process does with its children's exit statuses.
    enum ChildStatusDisposition {
        /// Kept until reaped (the default).
        case kept
        /// SIGCHLD is SIG_IGN: the kernel reaps children itself.
        case ignored
        /// The SIGCHLD action has SA_NOCLDWAIT: the same.
        case noChildWait
    }

    /// Reads (never changes) the SIGCHLD disposition. The corresponding C function is `sigaction(2)`
    /// with a NULL new action.
    static func childStatusDiscarding() -> ChildStatusDisposition {
        switch clocaldrm_sigchld_disposition() {
        case 1: .ignored
        case 2: .noChildWait
        default: .kept
        }
    }

    /// The corresponding C function is `getpid(2)`.
    static func processID() -> pid_t { getpid() }

    /// Sets the nice level of every process in a group. The corresponding C function is `setpriority(2)`
    /// with `PRIO_PGRP`.
    static func setGroupNice(_ pgid: pid_t, _ nice: Int32) throws(Errno) {
        guard pgid > 1 else { throw Errno(rawValue: EINVAL) }  // never our own group, never every process
        _ = try retrying { setpriority(__priority_which_t(PRIO_PGRP.rawValue), id_t(pgid), nice) }
    }

    /// The limit of `resource` (`RLIMIT_AS`, …) of process `pid`, which must be our child.
    /// The corresponding C function is `prlimit(2)`.
    static func resourceLimit(of pid: pid_t, _ resource: Int32) throws(Errno) -> rlimit {
        guard pid > 1 else { throw Errno(rawValue: EINVAL) }  // 0 would be this process
        var limit = rlimit()
        _ = try retrying { clocaldrm_prlimit(pid, resource, nil, &limit) }
        return limit
    }

    /// Sets the limit of `resource` of process `pid` (our child); raising a hard limit needs
    /// privilege, so callers only lower it. The corresponding C function is `prlimit(2)`.
    static func setResourceLimit(of pid: pid_t, _ resource: Int32, _ limit: rlimit) throws(Errno) {
        guard pid > 1 else { throw Errno(rawValue: EINVAL) }
        var limit = limit
        _ = try retrying { clocaldrm_prlimit(pid, resource, &limit, nil) }
    }

    /// This process's current working directory, as an absolute path: `ENOENT` if it was removed
    /// or lies outside the process's root (Linux then names it `(unreachable)/…`, which older C
    /// libraries pass on), `ERANGE` if it is longer than `PATH_MAX`. The corresponding C function
    /// is `getcwd(3)`.
    static func currentDirectory() throws(Errno) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { throw Errno.current }
        let path = buffer.withUnsafeBufferPointer { String(exactCString: $0.baseAddress!) }
        guard path.hasPrefix("/") else { throw Errno(rawValue: ENOENT) }
        return path
    }

    /// This host's name. The corresponding C function is `gethostname(2)`.
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return buffer.withUnsafeBufferPointer { String(exactCString: $0.baseAddress!) }
    }

    /// The name of the user this process runs as: the password database, else `$USER`.
    /// The corresponding C function is `getpwuid_r(3)`.
    static func userName() -> String {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        if getpwuid_r(geteuid(), &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name {
            return String(exactCString: name)
        }
        return environmentValue("USER") ?? String(geteuid())
    }

    /// The corresponding C function is `close(2)`; errors are ignored (the descriptor is gone either way).
    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Sends a signal to a process group. Refuses (`EINVAL`) the special targets 0 and 1, which would
    /// signal our own group or every process. The corresponding C function is `kill(2)` with `-pgid`.
    static func signalGroup(_ pgid: pid_t, _ signal: Int32) throws(Errno) {
        guard pgid > 1 else { throw Errno(rawValue: EINVAL) }
        _ = try retrying { kill(-pgid, signal) }
    }

    /// Reaps the child a pidfd refers to, with its resource usage: never another process, even if
    /// the job's pid was reaped by someone else and reused. Without kernel support for `P_PIDFD`
    /// (Linux < 5.4), reaps by pid. The corresponding C function is `waitid(2)` with `P_PIDFD` and a
    /// rusage (the raw system call).
    static func reap(pidfd: Int32, pid: pid_t) throws(Errno) -> ReapedProcess {
        var status: Int32 = 0
        var usage = rusage()
        do {
            _ = try retrying { clocaldrm_pidfd_reap(pidfd, &status, &usage) }
            return ReapedProcess(status: status, usage: usage)
        } catch {
            guard error.rawValue == EINVAL else { throw error }
            return try reap(pid)
        }
    }

    /// True while the child a pidfd refers to is unreaped (running, stopped or a zombie); false if
    /// someone else reaped it, whatever now has its pid. Linux < 5.4: by pid, see ``isUnreapedChild(_:)``.
    /// The corresponding C function is `waitid(2)` with `P_PIDFD`, `WNOHANG | WNOWAIT`.
    static func isUnreapedChild(pidfd: Int32, pid: pid_t) -> Bool {
        do {
            _ = try retrying { clocaldrm_pidfd_peek(pidfd) }
            return true
        } catch {
            return error.rawValue == EINVAL ? isUnreapedChild(pid) : false
        }
    }

    /// Reaps a child that has exited, with its resource usage. The corresponding C function is `wait4(2)`.
    static func reap(_ pid: pid_t) throws(Errno) -> ReapedProcess {
        guard pid > 0 else { throw Errno(rawValue: ECHILD) }  // never wait4(-1) or for our group
        var status: Int32 = 0
        var usage = rusage()
        _ = try retrying { wait4(pid, &status, 0, &usage) }
        return ReapedProcess(status: status, usage: usage)
    }

    /// The corresponding C function is `pidfd_open(2)`.
    static func pidfdOpen(_ pid: pid_t) throws(Errno) -> Int32 {
        try aboveStandardStreams(try retrying { clocaldrm_pidfd_open(pid) })
    }

    /// `fd`, or a close-on-exec duplicate >= 3 if it is 0, 1 or 2 (a host that started with its
    /// standard streams closed): restoring them later (`dup2` onto 0–2) must not close ours.
    private static func aboveStandardStreams(_ fd: Int32) throws(Errno) -> Int32 {
        guard fd < 3 else { return fd }
        defer { close(fd) }
        return try retrying { fcntl(fd, F_DUPFD_CLOEXEC, Int32(3)) }
    }

    /// True if `fd` is a pidfd of process `pid` (its `/proc/self/fdinfo` entry says `Pid:\t<pid>`):
    /// after a descriptor was closed behind our back, its number may be anything.
    static func isPidfd(_ fd: Int32, of pid: pid_t) -> Bool {
        guard let info = try? readConfigurationFile("/proc/self/fdinfo/\(fd)", limit: 4096) else { return false }
        return info.split(separator: "\n").contains { $0 == "Pid:\t\(pid)" }
    }

    /// The corresponding C function is `epoll_create1(2)` with `EPOLL_CLOEXEC`.
    static func epollCreate() throws(Errno) -> Int32 {
        try aboveStandardStreams(try retrying { clocaldrm_epoll_create() })
    }

    /// Watches `fd` for readability, tagging its events with `token`. The corresponding C function is `epoll_ctl(2)`.
    static func epollAdd(_ epoll: Int32, _ fd: Int32, token: UInt64) throws(Errno) {
        _ = try retrying { clocaldrm_epoll_add(epoll, fd, token) }
    }

    /// The corresponding C function is `epoll_ctl(2)` with `EPOLL_CTL_DEL`.
    static func epollRemove(_ epoll: Int32, _ fd: Int32) {
        _ = try? retrying { clocaldrm_epoll_del(epoll, fd) }
    }

    /// Waits for events and returns their tokens. The corresponding C function is `epoll_wait(2)`.
    static func epollWait(_ epoll: Int32, into tokens: inout [UInt64], timeoutMilliseconds: Int32) throws(Errno) -> Int {
        let capacity = Int32(tokens.count)
        return Int(try tokens.withUnsafeMutableBufferPointer { (buffer) throws(Errno) in
            try retrying { clocaldrm_epoll_wait(epoll, buffer.baseAddress!, capacity, timeoutMilliseconds) }
        })
    }

    /// Empties a timerfd. The corresponding C function is `read(2)`.
    static func drain(_ fd: Int32) {
        var value: UInt64 = 0
        _ = try? retrying { read(fd, &value, 8) }
    }

    /// A monotonic, non-blocking, close-on-exec timerfd. The corresponding C function is `timerfd_create(2)`.
    static func timerFD() throws(Errno) -> Int32 {
        try aboveStandardStreams(try retrying { clocaldrm_timerfd() })
    }

    /// Arms a timerfd for an absolute monotonic time in nanoseconds (0 disarms).
    /// The corresponding C function is `timerfd_settime(2)`.
    static func armTimer(_ fd: Int32, atMonotonicNanoseconds deadline: Int64) throws(Errno) {
        _ = try retrying { clocaldrm_timerfd_arm(fd, deadline) }
    }

    /// The corresponding C function is `clock_gettime(2)` with `CLOCK_MONOTONIC`.
    static func monotonicNanoseconds() -> Int64 { clocaldrm_monotonic_ns() }

    /// Seconds since the epoch. The corresponding C function is `clock_gettime(2)` with `CLOCK_REALTIME`.
    static func realtimeSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// True if `path` is a regular file this process may execute. The corresponding C functions are `stat(2)` and `access(2)`.
    static func isExecutableFile(_ path: String) -> Bool {
        path.withExactCString { cPath in
            var info = stat()
            guard stat(cPath, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return false }
            return access(cPath, X_OK) == 0
        }
    }

    /// Spawns a process. The corresponding C function is `posix_spawn(3)`, which reports a failed
    /// file action or `exec` in the child as its result.
    static func spawn(
        _ path: String, _ arguments: [String], _ environment: UnsafePointer<UnsafeMutablePointer<CChar>?>,
        _ actions: inout posix_spawn_file_actions_t, _ attributes: inout posix_spawnattr_t
    ) throws(Errno) -> pid_t {
        var pid: pid_t = 0
        let result = withCStrings(arguments) { argv in
            path.withExactCString { cPath in posix_spawn(&pid, cPath, &actions, &attributes, argv, environment) }
        }
        guard result == 0 else { throw Errno(rawValue: result) }
        return pid
    }

    /// Spawns a process where glibc has no chdir file action for `posix_spawn` (before 2.29): the
    /// child gets `input`, `output` and `error` as fds 0-2, the working directory `directory` and
    /// nothing else, as ``Spawner`` asks of `posix_spawn`. The corresponding C function is
    /// `clocaldrm_spawn_fchdir_fallback` (`clone(2)` and `execve(2)`, as glibc's `posix_spawn`).
    static func spawnWithoutChdirAction(
        _ path: String, _ arguments: [String], _ environment: UnsafePointer<UnsafeMutablePointer<CChar>?>,
        input: Int32, output: Int32, error: Int32, directory: Int32
    ) throws(Errno) -> pid_t {
        var pid: pid_t = 0
        let result = withCStrings(arguments) { argv in
            path.withExactCString { cPath in
                clocaldrm_spawn_fchdir_fallback(&pid, cPath, argv, environment, input, output, error, directory)
            }
        }
        guard result == 0 else { throw Errno(rawValue: result) }
        return pid
    }

    /// The number of CPUs online. The corresponding C function is `sysconf(3)`.
    static func onlineProcessors() -> Int {
        max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }

    /// The home directory of the current user: `$HOME`, else the password database.
    /// The corresponding C function is `getpwuid_r(3)`.
    static func homeDirectory() -> String {
        if let home = getenv("HOME"), home.pointee != 0 { return String(exactCString: home) }
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        if getpwuid_r(getuid(), &entry, &buffer, buffer.count, &result) == 0, result != nil, let dir = entry.pw_dir {
            return String(exactCString: dir)
        }
        return "/"
    }

    /// The value of one environment variable. The corresponding C function is `getenv(3)`.
    static func environmentValue(_ name: String) -> String? {
        getenv(name).map { String(exactCString: $0) }
    }

    /// The process's environment as `name=value` strings. The corresponding C variable is `environ`.
    static func environment() -> [String] {
        var result: [String] = []
        guard var entry = clocaldrm_environ() else { return result }
        while let pointer = entry.pointee {
            result.append(String(exactCString: pointer))
            entry += 1
        }
        return result
    }

    /// Seconds east of UTC of local time at an instant. The corresponding C function is `localtime_r(3)`.
    static func utcOffset(at instant: Int64) -> Int {
        var time = time_t(instant)
        var parts = tm()
        guard localtime_r(&time, &parts) != nil else { return 0 }
        return Int(parts.tm_gmtoff)
    }

    /// Starts a detached thread with every signal blocked, so that signals sent to a host
    /// process (such as Python) are never delivered to it, and returns once the thread has called
    /// the `ready` it is given: a thread that is set up and about to wait holds none of the Swift
    /// runtime's locks, so a `fork()` of the host right after cannot inherit one locked.
    /// The corresponding C function is `pthread_create(3)`.
    static func startThread(_ body: @escaping @Sendable (_ ready: @Sendable () -> Void) -> Void) throws(Errno) {
        final class Box: @unchecked Sendable {
            // @unchecked: `started` is initialised before the thread exists and destroyed only
            // after `sem_wait` returned, i.e. after the thread's one `sem_post`.
            let body: @Sendable (_ ready: @Sendable () -> Void) -> Void
            let started: UnsafeMutablePointer<sem_t> = .allocate(capacity: 1)
            init(_ body: @escaping @Sendable (_ ready: @Sendable () -> Void) -> Void) {
                self.body = body
                sem_init(started, 0, 0)
            }
        }
        let box = Box(body)
        defer {
            sem_destroy(box.started)
            box.started.deallocate()
        }
        // The thread starts with every signal blocked (it inherits this mask), so no host handler
        // can ever run on it, not even before it blocks them itself.
        var all = sigset_t(), previous = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_SETMASK, &all, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        var thread = pthread_t()
        let raw = Unmanaged.passRetained(box).toOpaque()
        let result = pthread_create(&thread, nil, { raw in
            clocaldrm_block_all_signals()
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            nonisolated(unsafe) var once = false  // called on this thread only
            box.body({
                guard !once else { return }
                once = true
                sem_post(box.started)
            })
            return nil
        }, raw)
        guard result == 0 else {
            Unmanaged<Box>.fromOpaque(raw).release()
            throw Errno(rawValue: result)
        }
        pthread_detach(thread)
        while sem_wait(box.started) != 0 {}  // EINTR only
    }
}

/// Calls `body` with a NULL-terminated C array of the strings' ``Swift/String/exactBytes``.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { exactCStringCopy($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// A `malloc`ed NUL-terminated copy of the string's ``Swift/String/exactBytes``; the caller frees it.
func exactCStringCopy(_ string: String) -> UnsafeMutablePointer<CChar> {
    string.withExactCString { strdup($0)! }
}

/// Which file an open descriptor refers to: its file system and inode.
struct FileIdentity: Sendable, Equatable {
    var device: UInt64
    var inode: UInt64
}

// MARK: Directories (a job's private temporary directory)

extension Syscall {
    /// Makes a new directory with mode 0700 and a unique name, `<prefix>` and six random
    /// characters, in `parent`, and returns its name and identity. The corresponding C functions
    /// are `mkdtemp(3)` and `lstat(2)`.
    static func makeUniqueDirectory(in parent: String, prefix: String) throws(Errno) -> (name: String, identity: FileIdentity) {
        let separator = parent.hasSuffix("/") ? "" : "/"
        let template = parent + separator + prefix + "XXXXXX"
        guard !template.utf8.contains(0) else { throw Errno(rawValue: EINVAL) }
        var bytes = template.exactBytes.map { CChar(bitPattern: $0) } + [0]
        let made = bytes.withUnsafeMutableBufferPointer { buffer in mkdtemp(buffer.baseAddress!) != nil }
        guard made else { throw Errno.current }
        let path = String(exactCString: bytes)
        var info = stat()
        let result = path.withExactCString { lstat($0, &info) }
        guard result == 0 else { throw Errno.current }
        // mkdtemp replaced the six X in place: the name is the prefix and the last six characters.
        return (prefix + String(path.unicodeScalars.suffix(6)),
                FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)))
    }

    /// Opens the directory `name` in the directory `parent` (a descriptor, or `AT_FDCWD` for a
    /// path), without following a symbolic link in its last component unless `followingLink`;
    /// the descriptor is >= 3. The corresponding C function is `openat(2)` with `O_DIRECTORY`.
    static func openDirectory(_ name: String, in parent: Int32, followingLink: Bool = false) throws(Errno) -> Int32 {
        guard !name.utf8.contains(0) else { throw Errno(rawValue: EINVAL) }
        let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (followingLink ? 0 : O_NOFOLLOW)
        let fd = try name.withExactCString { (cName) throws(Errno) in try retrying { openat(parent, cName, flags) } }
        return try aboveStandardStreams(fd)
    }

    /// The identity, owner and mode of an open file (also one opened with `O_PATH`). The
    /// corresponding C function is `fstat(2)`.
    static func identity(_ fd: Int32) throws(Errno) -> (identity: FileIdentity, owner: uid_t, mode: mode_t) {
        var info = stat()
        _ = try retrying { fstat(fd, &info) }
        return (FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)), info.st_uid, info.st_mode)
    }

    /// A descriptor that only names the directory `name` of the directory `parent`, without
    /// opening it for reading (so that its mode does not matter) and never following a symbolic
    /// link; >= 3. The corresponding C function is `openat(2)` with `O_PATH | O_NOFOLLOW | O_DIRECTORY`.
    static func openPath(_ name: String, in parent: Int32) throws(Errno) -> Int32 {
        guard !name.utf8.contains(0) else { throw Errno(rawValue: EINVAL) }
        let flags = clocaldrm_o_path() | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
        let fd = try name.withExactCString { (cName) throws(Errno) in try retrying { openat(parent, cName, flags) } }
        return try aboveStandardStreams(fd)
    }

    /// Sets the mode of the file open as `fd`. The corresponding C function is `fchmod(2)`.
    static func changeMode(_ fd: Int32, _ mode: mode_t) throws(Errno) {
        _ = try retrying { fchmod(fd, mode) }
    }

    /// Sets the mode of the file a descriptor opened with `O_PATH` names: that very file, whatever
    /// its name now is (`fchmod` refuses such descriptors). The corresponding C function is
    /// `chmod(2)` on `/proc/self/fd/<fd>`, whose magic link leads to the open file itself.
    static func changeMode(ofPath fd: Int32, _ mode: mode_t) throws(Errno) {
        let path = "/proc/self/fd/\(fd)"
        _ = try retrying { chmod(path, mode) }
    }

    /// True if the entry `name` of the directory `parent` is a symbolic link (the link itself is
    /// looked at). The corresponding C function is `fstatat(2)` with `AT_SYMLINK_NOFOLLOW`.
    static func isSymbolicLink(_ name: String, in parent: Int32) -> Bool {
        guard !name.utf8.contains(0) else { return false }
        var info = stat()
        let result = name.withExactCString { fstatat(parent, $0, &info, AT_SYMLINK_NOFOLLOW) }
        return result == 0 && info.st_mode & S_IFMT == S_IFLNK
    }

    /// The effective user id of this process. The corresponding C function is `geteuid(2)`.
    static func effectiveUserID() -> uid_t { geteuid() }

    /// Removes the entry `name` of the directory `parent`, never following a symbolic link: a
    /// file (or link) or, with `directory`, an empty directory. The corresponding C function is
    /// `unlinkat(2)`.
    static func unlink(_ name: String, in parent: Int32, directory: Bool) throws(Errno) {
        _ = try name.withExactCString { (cName) throws(Errno) in
            try retrying { unlinkat(parent, cName, directory ? AT_REMOVEDIR : 0) }
        }
    }

    /// Renames the entry `name` of the directory `parent` to `newName` in `newParent`, without
    /// following links. The corresponding C function is `renameat(2)`.
    static func rename(_ name: String, in parent: Int32, to newName: String, in newParent: Int32) throws(Errno) {
        _ = try name.withExactCString { (cName) throws(Errno) in
            try newName.withExactCString { (cNew) throws(Errno) in try retrying { renameat(parent, cName, newParent, cNew) } }
        }
    }

    /// A directory stream on an open directory, which it takes over (``closeDirectory(_:)`` closes
    /// both). The corresponding C function is `fdopendir(3)`.
    static func directoryStream(_ fd: Int32) throws(Errno) -> OpaquePointer {
        guard let stream = fdopendir(fd) else {
            let error = Errno.current
            close(fd)
            throw error
        }
        return stream
    }

    /// The name of the next entry of a directory stream other than `.` and `..`, `nil` at its end.
    /// The corresponding C function is `readdir(3)`.
    static func nextEntry(_ stream: OpaquePointer) throws(Errno) -> String? {
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw Errno.current }
                return nil
            }
            let name = withUnsafePointer(to: &entry.pointee.d_name) { tuple in
                tuple.withMemoryRebound(to: CChar.self, capacity: 256) { String(exactCString: $0) }
            }
            if name != "." && name != ".." { return name }
        }
    }

    /// The descriptor of a directory stream. The corresponding C function is `dirfd(3)`.
    static func descriptor(of stream: OpaquePointer) -> Int32 { dirfd(stream) }

    /// Starts reading a directory stream again from its first entry. The corresponding C function is `rewinddir(3)`.
    static func rewind(_ stream: OpaquePointer) { rewinddir(stream) }

    /// Closes a directory stream and its descriptor. The corresponding C function is `closedir(3)`.
    static func closeDirectory(_ stream: OpaquePointer) { _ = closedir(stream) }
}

// MARK: Sockets, locks and processes of the durable mode

extension Syscall {
    /// `SOCK_STREAM` and `SOCK_SEQPACKET`.
    static let streamSocket = clocaldrm_sock_stream()
    static let packetSocket = clocaldrm_sock_seqpacket()

    /// A listening Unix socket at `path` (in a directory only this user can enter), then given
    /// `mode`. The corresponding C functions are `socket(2)`, `bind(2)`, `chmod(2)` and `listen(2)`.
    static func listenUnix(_ path: String, type: Int32, backlog: Int32 = 128, mode: mode_t = 0o600) throws(Errno) -> Int32 {
        try moveAboveStandardStreams(try retrying { path.withExactCString { clocaldrm_unix_listen($0, type, backlog, UInt32(mode)) } })
    }

    /// A Unix socket connected to `path`. The corresponding C functions are `socket(2)` and `connect(2)`.
    static func connectUnix(_ path: String, type: Int32) throws(Errno) -> Int32 {
        try moveAboveStandardStreams(try retrying { path.withExactCString { clocaldrm_unix_connect($0, type) } })
    }

    /// The corresponding C function is `accept4(2)` with `SOCK_CLOEXEC`.
    static func accept(_ listener: Int32) throws(Errno) -> Int32 {
        try moveAboveStandardStreams(try retrying { clocaldrm_unix_accept(listener) })
    }

    /// The uid and pid of a Unix socket's peer. The corresponding C function is
    /// `getsockopt(2)` with `SO_PEERCRED`.
    static func peerCredentials(_ fd: Int32) throws(Errno) -> (uid: uid_t, pid: pid_t) {
        var uid: uid_t = 0
        var pid: pid_t = 0
        _ = try retrying { clocaldrm_peer_credentials(fd, &uid, &pid) }
        return (uid, pid)
    }

    /// A connected pair of Unix sockets, close-on-exec. The corresponding C function is `socketpair(2)`.
    static func socketPair(type: Int32) throws(Errno) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        _ = try retrying { clocaldrm_socketpair(type, &fds) }
        do {
            return (try moveAboveStandardStreams(fds[0]), try moveAboveStandardStreams(fds[1]))
        } catch {
            close(fds[0])
            close(fds[1])
            throw error
        }
    }

    /// A descriptor that is 0, 1 or 2 (the host closed its standard streams) moved to >= 3, so
    /// that dup2 onto a job's streams can never clobber it; the original is closed.
    private static func moveAboveStandardStreams(_ fd: Int32) throws(Errno) -> Int32 {
        guard fd < 3 else { return fd }
        defer { close(fd) }
        return try retrying { fcntl(fd, F_DUPFD_CLOEXEC, 3) }
    }

    /// Sends all of `bytes` on a socket, blocking; never raises SIGPIPE (a closed peer is `EPIPE`).
    /// The corresponding C function is `send(2)` with `MSG_NOSIGNAL`.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) {
        var offset = 0
        let flags = clocaldrm_msg_nosignal()
        while offset < bytes.count {
            let sent = try retrying {
                bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, flags) }
            }
            offset += sent
        }
    }

    /// Sends as much of `bytes` as the socket takes now (0 if none); `EAGAIN` is not an error.
    /// The corresponding C function is `send(2)` with `MSG_NOSIGNAL | MSG_DONTWAIT`.
    static func sendSome(_ fd: Int32, _ bytes: ArraySlice<UInt8>) throws(Errno) -> Int {
        let flags = clocaldrm_msg_nosignal() | clocaldrm_msg_dontwait()
        do throws(Errno) {
            return try retrying { bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, flags) } }
        } catch where error == .wouldBlock {
            return 0
        }
    }

    /// Sends one packet (a `SOCK_SEQPACKET` message) without blocking. The corresponding C function
    /// is `send(2)` with `MSG_NOSIGNAL | MSG_DONTWAIT`.
    static func sendPacket(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) {
        let flags = clocaldrm_msg_nosignal() | clocaldrm_msg_dontwait()
        _ = try retrying { bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, flags) } }
    }

    /// Sends one packet with `descriptors` passed along (SCM_RIGHTS, at most 8), without blocking.
    /// The corresponding C function is `sendmsg(2)` with `MSG_NOSIGNAL | MSG_DONTWAIT`.
    static func sendPacket(_ fd: Int32, _ bytes: [UInt8], descriptors: [Int32]) throws(Errno) {
        _ = try retrying {
            bytes.withUnsafeBytes { raw in
                descriptors.withUnsafeBufferPointer { fds in
                    clocaldrm_send_with_descriptors(fd, raw.baseAddress, raw.count, fds.baseAddress, Int32(fds.count))
                }
            }
        }
    }

    /// Sends `signal` to our own unreaped child `pid` (so the pid cannot be another process's).
    /// Refuses 0, 1 and negative pids. The corresponding C function is `kill(2)`.
    static func signalChild(_ pid: pid_t, _ signal: Int32) throws(Errno) {
        guard pid > 1 else { throw Errno(rawValue: EINVAL) }
        _ = try retrying { kill(pid, signal) }
    }

    /// Gives the memory malloc holds free back to the system. The corresponding C function is `malloc_trim(3)`.
    static func returnFreedMemory() {
        _ = clocaldrm_malloc_trim()
    }

    /// True if `fd` is an open descriptor. The corresponding C function is `fcntl(2)` with `F_GETFD`.
    static func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) >= 0 }

    /// Receives up to `buffer.count` bytes (a stream's next bytes, or one packet); 0 at the end
    /// of the stream. `nonBlocking`: `EAGAIN` when nothing is there. The corresponding C function is `recv(2)`.
    static func receive(_ fd: Int32, into buffer: inout [UInt8], nonBlocking: Bool = false) throws(Errno) -> Int {
        let flags = nonBlocking ? clocaldrm_msg_dontwait() : 0
        return try retrying { buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, flags) } }
    }

    /// Waits for any of `fds` to be ready (`events` each); returns their `revents`. `timeout` in
    /// milliseconds, -1 for none. The corresponding C function is `poll(2)`.
    static func poll(_ fds: [(fd: Int32, events: Int16)], timeoutMilliseconds timeout: Int32) throws(Errno) -> [Int16] {
        var entries = fds.map { pollfd(fd: $0.fd, events: $0.events, revents: 0) }
        _ = try retrying { Glibc.poll(&entries, nfds_t(entries.count), timeout) }
        return entries.map(\.revents)
    }

    /// A pipe, both ends close-on-exec, above the standard streams; only the read end is
    /// non-blocking (the status flags are the open file's: a non-blocking write end would make the
    /// child's writes fail with EAGAIN whenever the pipe is full, and its output be lost). The
    /// corresponding C functions are `pipe2(2)` and `fcntl(2)` with `F_SETFL`.
    static func pipe() throws(Errno) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        _ = try retrying { clocaldrm_pipe(&fds) }
        do throws(Errno) {
            _ = try retrying { fcntl(fds[0], F_SETFL, O_RDONLY | O_NONBLOCK) }
            let read = try moveAboveStandardStreams(fds[0])
            let write = try moveAboveStandardStreams(fds[1])
            return (read, write)
        } catch {
            close(fds[0]); close(fds[1])
            throw error
        }
    }

    /// Reads what is there (0 at end of file; `wouldBlock` if nothing is). The corresponding C function is `read(2)`.
    static func readSome(_ fd: Int32, into buffer: inout [UInt8]) throws(Errno) -> Int {
        let count = buffer.count
        return try retrying { buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, count) } }
    }

    /// Waits for child `pid` (never any other) and returns its wait status; `nil` if it was reaped
    /// elsewhere (a host that ignores SIGCHLD). The corresponding C function is `waitpid(2)`.
    static func waitStatus(_ pid: pid_t) throws(Errno) -> Int32? {
        guard pid > 0 else { throw Errno(rawValue: ECHILD) }
        var status: Int32 = 0
        do throws(Errno) {
            _ = try retrying { waitpid(pid, &status, 0) }
            return status
        } catch where error == .noChild {
            return nil
        }
    }

    /// `pid`'s exit status if it has ended (reaping it), `.running` if not yet, `.gone` if it is
    /// no child of ours any more (a host that reaps children itself). The corresponding C
    /// function is `waitpid(2)` with `WNOHANG`.
    enum ChildPoll { case running, ended(Int32), gone }
    static func pollChild(_ pid: pid_t) throws(Errno) -> ChildPoll {
        guard pid > 0 else { throw Errno(rawValue: ECHILD) }
        var status: Int32 = 0
        do throws(Errno) {
            return try retrying { waitpid(pid, &status, WNOHANG) } == 0 ? .running : .ended(status)
        } catch where error == .noChild {
            return .gone
        }
    }

    /// The process environment as given to `posix_spawn`. The corresponding C variable is `environ(7)`.
    static var processEnvironment: UnsafePointer<UnsafeMutablePointer<CChar>?> {
        UnsafePointer(Glibc.environ)
    }

    /// An `eventfd(2)` counter (close-on-exec, non-blocking), to wake a thread in `poll`.
    static func eventFD() throws(Errno) -> Int32 {
        try moveAboveStandardStreams(try retrying { clocaldrm_eventfd() })
    }

    /// Adds one to an eventfd. The corresponding C function is `write(2)`.
    static func notify(_ eventFD: Int32) {
        var one: UInt64 = 1
        _ = try? retrying { write(eventFD, &one, 8) }
    }

    /// Opens (creating, mode 0600) and locks `path` exclusively without waiting: the descriptor
    /// holds the lock until closed (or the process dies); `nil` if another process holds it.
    /// The corresponding C functions are `open(2)` and `flock(2)`.
    static func tryLock(_ path: String) throws(Errno) -> Int32? {
        let fd = try open(path, O_RDWR | O_CREAT, mode: 0o600)
        do throws(Errno) {
            _ = try retrying { flock(fd, LOCK_EX | LOCK_NB) }
            return fd
        } catch where error == .wouldBlock {
            close(fd)
            return nil
        } catch {
            close(fd)
            throw error
        }
    }

    /// Removes a file; a missing one is not an error. The corresponding C function is `unlink(2)`.
    static func removeFile(_ path: String) {
        _ = path.withExactCString { Glibc.unlink($0) }
    }

    /// The corresponding C function is `mkdir(2)`; an existing directory is not an error.
    static func makeDirectory(_ path: String, mode: mode_t = 0o700) throws(Errno) {
        do throws(Errno) {
            _ = try retrying { path.withExactCString { Glibc.mkdir($0, mode) } }
        } catch where error.rawValue == EEXIST {
        }
    }

    /// The calling process's own limit of `resource` (what a child it spawns inherits). The
    /// corresponding C function is `getrlimit(2)`.
    static func ownResourceLimit(_ resource: Int32) throws(Errno) -> rlimit {
        var limit = rlimit()
        _ = try retrying { clocaldrm_prlimit(0, resource, nil, &limit) }
        return limit
    }
}

extension Syscall {
    /// The target of a symbolic link. The corresponding C function is `readlink(2)`.
    static func readLink(_ path: String) throws(Errno) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = try retrying { path.withExactCString { name in buffer.withUnsafeMutableBytes { readlink(name, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) } } }
        return String(exactBytes: buffer[..<count])
    }
}

extension Syscall {
    /// The device and inode of the file at `path` itself (a symbolic link is not followed), `nil`
    /// if there is none. The corresponding C function is `lstat(2)`.
    static func identity(of path: String) -> (device: UInt64, inode: UInt64)? {
        var info = stat()
        guard path.withExactCString({ lstat($0, &info) }) == 0 else { return nil }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }
}

extension Syscall {
    /// A close-on-exec duplicate of `fd` numbered `minimum` or above. The corresponding C function
    /// is `fcntl(2)` with `F_DUPFD_CLOEXEC`.
    static func duplicate(_ fd: Int32, atLeast minimum: Int32) throws(Errno) -> Int32 {
        try retrying { fcntl(fd, F_DUPFD_CLOEXEC, minimum) }
    }
}

extension Syscall {
    /// True if process `pid` is stopped (state `T` in `/proc/<pid>/stat`).
    static func isStopped(_ pid: pid_t) -> Bool {
        guard pid > 0, let text = try? readConfigurationFile("/proc/\(pid)/stat", limit: 4096),
              let close = text.lastIndex(of: ")") else { return false }
        let rest = text[text.index(after: close)...].drop(while: { $0 == " " })
        return rest.first == "T"
    }
}

extension Syscall {
    /// Writes all of `bytes` to a file. The corresponding C function is `write(2)`.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) {
        var offset = 0
        while offset < bytes.count {
            offset += try retrying { bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) } }
        }
    }
}

extension Syscall {
    /// The session id of process `pid`, `nil` if there is no such process. The corresponding C
    /// function is `getsid(2)`.
    static func sessionID(of pid: pid_t) -> pid_t? {
        guard pid > 0 else { return nil }
        let id = getsid(pid)
        return id < 0 ? nil : id
    }
}
