import Glibc

/// An error number returned by a system call (also the shepherd's, which builds on this module).
package struct Errno: Error, Equatable, CustomStringConvertible {
    package let rawValue: Int32

    package init(rawValue: Int32) { self.rawValue = rawValue }

    package static let interrupted = Errno(rawValue: EINTR)
    package static let noSuchFile = Errno(rawValue: ENOENT)

    /// The C library's text and the number, such as `Permission denied (errno 13)`.
    package var description: String { "\(String(cString: strerror(rawValue))) (errno \(rawValue))" }

    /// The calling thread's current `errno`.
    package static var current: Errno { Errno(rawValue: errno) }
}

/// Runs `body` until it does not fail with `EINTR`; a result of -1 throws `errno`. The one
/// retry loop of ShepherdProtocol and the shepherd.
@inline(__always)
package func retryingEINTR<T: FixedWidthInteger>(_ body: () -> T) throws(Errno) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let error = Errno.current
        if error != .interrupted { throw error }
    }
}

/// The one place in ShepherdProtocol that calls raw system calls (for the outcome file).
///
/// Each function retries on `EINTR` and throws the typed ``Errno``.
enum Syscall {
    @inline(__always)
    private static func retrying<T: FixedWidthInteger>(_ body: () -> T) throws(Errno) -> T { try retryingEINTR(body) }

    /// Opens a file, always with `O_CLOEXEC`. A path with a NUL is refused (`EINVAL`): its C string
    /// would name another file. The corresponding C function is `open(2)`.
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws(Errno) -> Int32 {
        guard !path.utf8.contains(0) else { throw Errno(rawValue: EINVAL) }
        return try retrying { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    /// Writes all of `bytes`. The corresponding C function is `write(2)`.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { buffer in
                Result { () throws(Errno) in try retrying { write(fd, buffer.baseAddress! + written, buffer.count - written) } }
            }
            written += try result.get()
        }
    }

    /// Reads until end of file, at most `limit` bytes (one more is read to tell a longer file).
    /// The corresponding C function is `read(2)`.
    static func readAll(_ fd: Int32, limit: Int) throws(Errno) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var total = 0
        while total <= limit {
            let result = bytes.withUnsafeMutableBytes { buffer in
                Result { () throws(Errno) in try retrying { read(fd, buffer.baseAddress! + total, buffer.count - total) } }
            }
            let count = try result.get()
            if count == 0 { break }
            total += count
        }
        return Array(bytes[..<total])
    }

    /// The file type bits (`S_IFMT`) and size of an open file. The corresponding C function is `fstat(2)`.
    static func fileType(_ fd: Int32) throws(Errno) -> (type: mode_t, size: Int) {
        var info = stat()
        _ = try retrying { fstat(fd, &info) }
        return (info.st_mode & S_IFMT, Int(info.st_size))
    }

    /// Replaces `target` with `source` atomically. The corresponding C function is `rename(2)`.
    static func rename(_ source: String, _ target: String) throws(Errno) {
        guard !source.utf8.contains(0), !target.utf8.contains(0) else { throw Errno(rawValue: EINVAL) }
        _ = try retrying { Glibc.rename(source, target) }
    }

    /// Removes a file, ignoring errors (a leftover of a failed write). The corresponding C function is `unlink(2)`.
    static func unlink(_ path: String) {
        _ = Glibc.unlink(path)
    }

    /// The corresponding C function is `close(2)`; errors are ignored (the descriptor is gone either way).
    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }
}
