import CLocalDRM
import Glibc
import ShepherdProtocol

extension Errno {
    static let noSuchProcess = Errno(rawValue: ESRCH)

    /// Out of processes or memory for a moment: a spawn is worth trying again.
    var isTransient: Bool { rawValue == EAGAIN || rawValue == ENOMEM }
}

/// A failed step of spawning the job: which call, and its error number.
struct SpawnError: Error {
    var call: String
    var error: Errno
}

/// The one place in the shepherd that calls raw system calls.
///
/// Each function retries on `EINTR` and throws the typed ``Errno``; nothing else reads `errno`.
enum Syscall {
    @inline(__always)
    private static func retrying<T: FixedWidthInteger>(_ body: () -> T) throws(Errno) -> T { try retryingEINTR(body) }

    /// Makes this process the leader of a new session (and process group). A process that already
    /// leads its session (the daemon spawned it with `POSIX_SPAWN_SETSID`) is left as it is.
    /// The corresponding C functions are `setsid(2)` and `getsid(2)`.
    static func startSession() throws(Errno) {
        guard setsid() == -1 else { return }
        let error = Errno.current
        if error.rawValue == EPERM, getsid(0) == getpid() { return }
        throw error
    }

    /// Sets `FD_CLOEXEC`. The corresponding C function is `fcntl(2)` with `F_SETFD`.
    static func setCloseOnExec(_ fd: Int32) throws(Errno) {
        _ = try retrying { fcntl(fd, F_SETFD, FD_CLOEXEC) }
    }

    /// True if `fd` is a `SOCK_SEQPACKET` socket. The corresponding C function is `getsockopt(2)` with `SO_TYPE`.
    static func isSeqPacketSocket(_ fd: Int32) -> Bool {
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 else { return false }
        return type == Int32(SOCK_SEQPACKET.rawValue)
    }

    /// Sets the disposition of `signal` to `SIG_IGN` (`ignore`) or `SIG_DFL`.
    /// The corresponding C function is `sigaction(2)`.
    static func setSignal(_ signal: Int32, ignore: Bool) throws(Errno) {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = ignore ? SIG_IGN : SIG_DFL
        sigemptyset(&action.sa_mask)
        _ = try retrying { sigaction(signal, &action, nil) }
    }

    /// Sets this process's nice level. The corresponding C function is `setpriority(2)` with `PRIO_PROCESS`.
    static func setNice(_ nice: Int32) throws(Errno) {
        _ = try retrying { setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) }
    }

    /// The corresponding C function is `getrlimit(2)`.
    static func resourceLimit(_ resource: Int32) throws(Errno) -> rlimit {
        var limit = rlimit()
        _ = try retrying { getrlimit(__rlimit_resource_t(UInt32(bitPattern: resource)), &limit) }
        return limit
    }

    /// The corresponding C function is `setrlimit(2)`.
    static func setResourceLimit(_ resource: Int32, _ limit: rlimit) throws(Errno) {
        var limit = limit
        _ = try retrying { setrlimit(__rlimit_resource_t(UInt32(bitPattern: resource)), &limit) }
    }

    /// Spawns the job: its own process group, an empty signal mask, every signal's default action,
    /// only fds 0-2 (every descriptor from 3 closed). A one-shot shepherd's job gets this
    /// process's streams, directory and environment (`files` and `environment` nil); a pooled
    /// shepherd's gets `files` (descriptors received from the daemon, all above 2) on fds 0-2 and
    /// as its directory, and `environment`. Every `posix_spawn*` call is checked. The
    /// corresponding C function is `posix_spawn(3)`, which reports a failed `exec` in the child as
    /// its result.
    static func spawn(_ path: UnsafePointer<CChar>, _ argv: UnsafePointer<UnsafeMutablePointer<CChar>?>,
                      files: (input: Int32, output: Int32, error: Int32, directory: Int32)? = nil,
                      environment: UnsafePointer<UnsafeMutablePointer<CChar>?>? = nil) throws(SpawnError) -> pid_t {
        func check(_ result: Int32, _ call: String) throws(SpawnError) {
            guard result == 0 else { throw SpawnError(call: call, error: Errno(rawValue: result)) }
        }
        var actions = posix_spawn_file_actions_t()
        try check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init")
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let files {
            guard files.input > 2, files.output > 2, files.error > 2, files.directory > 2 else {
                throw SpawnError(call: "the job's descriptors", error: Errno(rawValue: EBADF))
            }
            // Every source is above 2, so no dup2 overwrites another's source.
            try check(posix_spawn_file_actions_adddup2(&actions, files.input, 0), "posix_spawn_file_actions_adddup2")
            try check(posix_spawn_file_actions_adddup2(&actions, files.output, 1), "posix_spawn_file_actions_adddup2")
            try check(posix_spawn_file_actions_adddup2(&actions, files.error, 2), "posix_spawn_file_actions_adddup2")
            try check(clocaldrm_spawn_addfchdir(&actions, files.directory), "posix_spawn_file_actions_addfchdir_np")
        }
        // The daemon's fd 3 is close-on-exec already; this also closes whatever it forgot.
        try check(clocaldrm_spawn_addclosefrom(&actions, 3), "posix_spawn_file_actions_addclosefrom_np")

        var attributes = posix_spawnattr_t()
        try check(posix_spawnattr_init(&attributes), "posix_spawnattr_init")
        defer { posix_spawnattr_destroy(&attributes) }
        try check(posix_spawnattr_setpgroup(&attributes, 0), "posix_spawnattr_setpgroup")
        // Also undoes the shepherd's own SIG_IGN dispositions, which exec would otherwise pass on.
        try check(clocaldrm_spawnattr_clean_signals(&attributes, Int16(POSIX_SPAWN_SETPGROUP)), "posix_spawnattr_setsig*")
        var pid: pid_t = 0
        try check(posix_spawn(&pid, path, &actions, &attributes, argv, environment ?? clocaldrm_environ()), "posix_spawn")
        return pid
    }

    /// Receives one packet and the descriptors passed with it (close-on-exec), without waiting:
    /// the packet's full length (more than the buffer if it was cut), 0 at end of stream, and
    /// whether descriptors were cut off. The corresponding C function is `recvmsg(2)`.
    static func receive(_ fd: Int32, into buffer: inout [UInt8], descriptors: inout [Int32]) throws(Errno) -> (length: Int, truncated: Bool) {
        var passed = [Int32](repeating: -1, count: 8)
        var count: Int32 = 0
        var truncated: Int32 = 0
        let result = buffer.withUnsafeMutableBytes { raw in
            passed.withUnsafeMutableBufferPointer { fds in
                Result { () throws(Errno) in
                    try retrying { clocaldrm_receive_with_descriptors(fd, raw.baseAddress, raw.count, fds.baseAddress, 8, &count, &truncated) }
                }
            }
        }
        let length = try result.get()
        descriptors = Array(passed[..<Int(count)])
        return (length, truncated != 0)
    }

    /// The corresponding C function is `chdir(2)`.
    static func changeDirectory(_ path: String) throws(Errno) {
        _ = try retrying { chdir(path) }
    }

    /// A close-on-exec pidfd of our child `pid`. The corresponding C function is `pidfd_open(2)`.
    static func pidfdOpen(_ pid: pid_t) throws(Errno) -> Int32 {
        let fd = try retrying { clocaldrm_pidfd_open(pid) }
        return fd
    }

    /// Waits until one of `entries` has an event, or `timeout` milliseconds (-1: forever).
    /// The corresponding C function is `poll(2)`.
    static func poll(_ entries: inout [pollfd], timeout: Int32) throws(Errno) -> Int {
        let count = nfds_t(entries.count)
        let result = entries.withUnsafeMutableBufferPointer { buffer in
            Result { () throws(Errno) in try retrying { Glibc.poll(buffer.baseAddress, count, timeout) } }
        }
        return Int(try result.get())
    }

    /// Receives one packet into `buffer`; returns the packet's full length (more than the buffer
    /// holds if it was truncated), 0 at end of stream. The corresponding C function is `recv(2)`
    /// with `MSG_TRUNC`.
    static func receive(_ fd: Int32, into buffer: inout [UInt8]) throws(Errno) -> Int {
        let result = buffer.withUnsafeMutableBytes { raw in
            Result { () throws(Errno) in try retrying { recv(fd, raw.baseAddress, raw.count, Int32(MSG_TRUNC) | Int32(MSG_DONTWAIT)) } }
        }
        return try result.get()
    }

    /// Sends one packet without waiting (the shepherd sends two small messages per connection, so
    /// a full buffer means a peer that does not read) and without `SIGPIPE`.
    /// The corresponding C function is `send(2)` with `MSG_NOSIGNAL | MSG_DONTWAIT`.
    static func send(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(Errno) in try retrying { Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) } }
        }
        _ = try result.get()
    }

    /// Reaps exactly the child `pid` with its resource usage; nil if `hang` is false and it has not
    /// ended. The corresponding C function is `wait4(2)`.
    static func reap(_ pid: pid_t, hang: Bool) throws(Errno) -> (status: Int32, usage: rusage)? {
        guard pid > 0 else { throw Errno(rawValue: ECHILD) }  // never wait4(-1) or for a group
        var status: Int32 = 0
        var usage = rusage()
        let reaped = try retrying { wait4(pid, &status, hang ? 0 : WNOHANG, &usage) }
        return reaped == pid ? (status, usage) : nil
    }

    /// Sends a signal to a process group. Refuses (`EINVAL`) the special targets 0 and 1, which would
    /// signal our own group or every process. The corresponding C function is `kill(2)` with `-pgid`.
    static func signalGroup(_ pgid: pid_t, _ signal: Int32) throws(Errno) {
        guard pgid > 1 else { throw Errno(rawValue: EINVAL) }
        _ = try retrying { kill(-pgid, signal) }
    }

    /// The longest socket path `sockaddr_un` holds (with its NUL).
    static let maximumSocketPathLength = MemoryLayout<sockaddr_un>.size - MemoryLayout<sa_family_t>.size - 1

    /// A listening, close-on-exec, non-blocking `SOCK_SEQPACKET` socket bound at `path` with mode
    /// 0600; a stale file at `path` is removed first. The corresponding C functions are `socket(2)`,
    /// `unlink(2)`, `umask(2)`, `bind(2)` and `listen(2)`.
    static func listen(at path: String) throws(Errno) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumSocketPathLength, !bytes.contains(0) else { throw Errno(rawValue: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let fd = try retrying { socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0) }
        var done = false
        defer { if !done { close(fd) } }
        _ = Glibc.unlink(path)
        // The socket file is made with mode 0777 less the umask: 0600 from the start, no window.
        let previousMask = umask(0o177)
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                Result { () throws(Errno) in try retrying { bind(fd, address, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            }
        }
        umask(previousMask)
        _ = try bound.get()
        _ = try retrying { Glibc.listen(fd, 4) }
        done = true
        return fd
    }

    /// Accepts one connection, close-on-exec; `EAGAIN` if none is pending.
    /// The corresponding C function is `accept4(2)` with `SOCK_CLOEXEC`.
    static func accept(_ fd: Int32) throws(Errno) -> Int32 {
        try retrying { clocaldrm_unix_accept(fd) }
    }

    /// The user id of the process at the other end of a Unix socket.
    /// The corresponding C function is `getsockopt(2)` with `SO_PEERCRED`.
    static func peerUserID(_ fd: Int32) throws(Errno) -> uid_t {
        var uid: uid_t = 0
        var pid: pid_t = 0
        _ = try retrying { clocaldrm_peer_credentials(fd, &uid, &pid) }
        return uid
    }

    /// The corresponding C function is `getuid(2)`.
    static func userID() -> uid_t { getuid() }

    /// Removes a file, ignoring errors. The corresponding C function is `unlink(2)`.
    static func unlink(_ path: String) {
        _ = Glibc.unlink(path)
    }

    /// The corresponding C function is `close(2)`; errors are ignored (the descriptor is gone either way).
    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Seconds since the epoch. The corresponding C function is `clock_gettime(2)` with `CLOCK_REALTIME`.
    static func realtimeSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Sleeps (a spawn's back-off). The corresponding C function is `nanosleep(2)`, resumed after a signal.
    static func sleep(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1, errno == EINTR { request = remaining }
    }

    /// Writes a line to standard error (the job's error file: the daemon reads it there), ignoring
    /// errors. The corresponding C function is `write(2)`.
    static func report(_ line: String) {
        let bytes = Array(("drmaa-shepherd: " + line + "\n").utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { write(2, $0.baseAddress! + written, $0.count - written) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return }
            written += count
        }
    }

    /// Ends the process. The corresponding C function is `exit(3)`.
    static func exit(_ status: Int32) -> Never { Glibc.exit(status) }
}
