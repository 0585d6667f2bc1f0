import CDRMAABench
import Glibc

/// A failure that makes the benchmark exit non-zero: something did not work (a job did not
/// finish, a process could not be started), as opposed to a slow result.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the machine, so a child's
/// reading can be compared with ours.
func monotonicNanoseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// Seconds elapsed since a ``monotonicNanoseconds()`` reading.
func seconds(since start: Int64) -> Double {
    Double(monotonicNanoseconds() - start) / 1e9
}

/// The number of CPUs online.
func onlineCPUs() -> Int {
    max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}

/// The 1-minute load average: other work on the machine skews every number.
func loadAverage() -> Double {
    var load = [0.0, 0.0, 0.0]
    return getloadavg(&load, 3) > 0 ? load[0] : .nan
}

/// Process memory, as the kernel and the C allocator see it.
enum Memory {
    /// Resident set size (`VmRSS` of /proc/self/status) in bytes.
    static func residentBytes() -> Int {
        guard let text = readFile("/proc/self/status") else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let digits = line.dropFirst(6).filter { $0.isNumber }
            return (Int(String(digits)) ?? 0) * 1024
        }
        return 0
    }

    /// Bytes in live `malloc` allocations (Swift allocates with `malloc` on Linux): what the
    /// program holds, without the free memory the allocator keeps.
    static func heapInUseBytes() -> Int {
        Int(drmaabench_heap_in_use())
    }

    /// Gives the allocator's free memory back to the kernel, so that a following RSS reading
    /// starts from what is really in use.
    static func trim() {
        drmaabench_trim()
    }

    /// Both readings at once, after a trim.
    static func snapshot() -> (rss: Int, heap: Int) {
        trim()
        return (residentBytes(), heapInUseBytes())
    }
}

/// The whole content of a (small) file, `nil` if it cannot be read.
func readFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }
        bytes += buffer[..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Writes a whole file (created or truncated).
func writeFile(_ path: String, _ text: String) throws(BenchFailure) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw BenchFailure("cannot write \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { throw BenchFailure("cannot write \(path): \(String(cString: strerror(errno)))") }
        bytes = bytes.dropFirst(written)
    }
}

/// `mkdir -p`.
func makeDirectories(_ path: String) {
    var current = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        current += "/" + component
        mkdir(current, 0o755)
    }
}

/// True if `path` is an existing file we may execute (or read, with `executable: false`).
func fileExists(_ path: String, executable: Bool = false) -> Bool {
    access(path, executable ? X_OK : R_OK) == 0
}

/// `command` looked up on `$PATH`, as a shell would; `nil` if absent.
func findOnPath(_ command: String) -> String? {
    let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") where !directory.isEmpty {
        let candidate = "\(directory)/\(command)"
        if fileExists(candidate, executable: true) { return candidate }
    }
    return nil
}

/// The absolute path of this executable.
func executablePath() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { return CommandLine.arguments[0] }
    buffer[count] = 0
    return decodeCString(buffer)
}

/// The current directory.
func currentDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return "." }
    return decodeCString(buffer)
}

/// `path` made absolute against the current directory.
func absolutePath(_ path: String) -> String {
    path.hasPrefix("/") ? path : currentDirectory() + "/" + path
}

/// A fresh private directory under /tmp; removed with ``removeTree(_:)``.
func makeTemporaryDirectory() throws(BenchFailure) -> String {
    var template = Array("/tmp/drmaabench.XXXXXX".utf8CString)
    guard mkdtemp(&template) != nil else { throw BenchFailure("mkdtemp failed: \(String(cString: strerror(errno)))") }
    return decodeCString(template)
}

/// Removes a directory and everything in it (a durable state directory has subdirectories; no
/// symbolic link is followed: `unlink` removes the link itself).
func removeTree(_ path: String) {
    if let directory = opendir(path) {
        var names: [(String, Bool)] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append((name, entry.pointee.d_type == UInt8(DT_DIR))) }
        }
        closedir(directory)
        for (name, isDirectory) in names {
            if isDirectory { removeTree(path + "/" + name) } else { unlink(path + "/" + name) }
        }
    }
    rmdir(path)
}

/// The names in a directory (without `.` and `..`); empty if it cannot be read.
func directoryEntries(_ path: String) -> [String] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// Sleeps for `seconds`.
func pause(_ seconds: Double) {
    var time = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
    var left = timespec()
    while nanosleep(&time, &left) < 0 && errno == EINTR { time = left }
}

/// Today's local date, `YYYY-MM-DD`.
func todayString() -> String {
    var now = time(nil)
    var parts = tm()
    localtime_r(&now, &parts)
    var buffer = [CChar](repeating: 0, count: 32)
    strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M", &parts)
    return decodeCString(buffer)
}

/// `uname -sr`.
func kernelName() -> String {
    var names = utsname()
    uname(&names)
    func field<T>(_ value: T) -> String {
        withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
    return "\(field(names.sysname)) \(field(names.release))"
}

/// The text of a NUL-terminated buffer.
func decodeCString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
