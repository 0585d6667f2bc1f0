import Glibc

/// The processes of the machine as /proc shows them.
enum ProcessTable {
    /// Every process's pid and argv (an empty argv for kernel threads and for processes gone meanwhile).
    static func commandLines() -> [(pid: pid_t, arguments: [String])] {
        directoryEntries("/proc").compactMap { name -> (pid_t, [String])? in
            guard let pid = pid_t(name), pid > 0 else { return nil }
            let text = readFile("/proc/\(name)/cmdline") ?? ""
            return (pid, text.split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init))
        }
    }

    /// The processes other than this one whose argv names a path inside `directory`: the daemons
    /// (`--state-dir`) and shepherds (`--outcomes`) of the state directories under it.
    static func processes(naming directory: String) -> [(pid: pid_t, arguments: [String])] {
        let me = getpid()
        return commandLines().filter { process in
            process.pid != me && process.arguments.contains { $0 == directory || $0.hasPrefix(directory + "/") }
        }
    }

    /// Waits up to `timeout` seconds for every process naming `directory` to end by itself (a
    /// durable daemon leaves `DRMAA_LOCAL_IDLE_EXIT` seconds after its last client). Those still
    /// there are killed with SIGKILL and described in the result, which is empty when all left.
    static func awaitExit(naming directory: String, timeout: Double) -> [String] {
        let deadline = monotonicNanoseconds() + Int64(timeout * 1e9)
        var left = processes(naming: directory)
        while !left.isEmpty && monotonicNanoseconds() < deadline {
            pause(0.05)
            left = processes(naming: directory)
        }
        for process in left { kill(process.pid, SIGKILL) }
        return left.map { "pid \($0.pid): \($0.arguments.joined(separator: " "))" }
    }
}

/// The resident memory of a process, from /proc/<pid>/status.
struct ProcessMemory: Sendable {
    /// `VmRSS`, in bytes.
    var rss: Int
    /// `RssAnon` (the heap and other anonymous memory, without the program's file pages), in bytes.
    var anonymous: Int
}

/// A running `drmaad`, found in /proc by its command line.
struct RunningDaemon: Sendable {
    let pid: pid_t

    /// The daemon proper of `stateDirectory`: `drmaad --state-dir <dir>` (the library starts
    /// `drmaad --detach --state-dir <dir>`, which starts it without `--detach` and exits).
    static func find(stateDirectory: String) -> RunningDaemon? {
        for process in ProcessTable.commandLines() {
            let arguments = process.arguments
            guard let program = arguments.first, program == "drmaad" || program.hasSuffix("/drmaad"),
                  !arguments.contains("--detach"),
                  let flag = arguments.firstIndex(of: "--state-dir"), flag + 1 < arguments.count,
                  arguments[flag + 1] == stateDirectory else { continue }
            return RunningDaemon(pid: process.pid)
        }
        return nil
    }

    /// The daemon's resident memory now.
    func memory() throws(BenchFailure) -> ProcessMemory {
        guard let text = readFile("/proc/\(pid)/status"), !text.isEmpty else {
            throw BenchFailure("the daemon (pid \(pid)) is gone: cannot read /proc/\(pid)/status")
        }
        func kibibytes(_ field: String) -> Int? {
            for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
                return Int(String(line.dropFirst(field.count + 1).filter(\.isNumber))).map { $0 * 1024 }
            }
            return nil
        }
        guard let rss = kibibytes("VmRSS") else { throw BenchFailure("/proc/\(pid)/status has no VmRSS") }
        return ProcessMemory(rss: rss, anonymous: kibibytes("RssAnon") ?? 0)
    }
}
