import DRMAACore
import Glibc

/// Where a user's durable-mode state lives (the daemon's socket and lock, the spool, the
/// shepherds' files), and the checks that it is the user's own.
package enum StateDirectory {
    /// The state directory for `environment` (the process's by default):
    /// `$DRMAA_LOCAL_STATE_DIR` if set (it must be absolute), else `$XDG_STATE_HOME/swift-drmaa`
    /// (an unset, empty or relative `XDG_STATE_HOME` is ignored, as the XDG specification says),
    /// else `$HOME/.local/state/swift-drmaa` (the password database's home if `HOME` is unset).
    package static func path(environment: [String: String]? = nil) throws(DRMAAError) -> String {
        let environment = environment ?? processEnvironment()
        if let explicit = environment["DRMAA_LOCAL_STATE_DIR"], !explicit.isEmpty {
            guard explicit.hasPrefix("/") else {
                throw DRMAAError(.drmsInitFailed, "DRMAA_LOCAL_STATE_DIR '\(explicit)' is not an absolute path")
            }
            return explicit
        }
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return joined(state, "swift-drmaa") }
        var home = environment["HOME"] ?? ""
        if home.isEmpty, let entry = getpwuid(geteuid()), let dir = entry.pointee.pw_dir { home = String(cString: dir) }
        guard home.hasPrefix("/") else {
            throw DRMAAError(.drmsInitFailed, "no spool directory: HOME is not set and the password database has no home for uid \(geteuid()); set DRMAA_LOCAL_STATE_DIR")
        }
        return joined(joined(home, ".local/state"), "swift-drmaa")
    }

    private static func joined(_ parent: String, _ name: String) -> String {
        parent.hasSuffix("/") ? parent + name : parent + "/" + name
    }

    private static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        for entry in Syscall.environment() {
            guard let equals = entry.firstIndex(of: "=") else { continue }
            result[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        return result
    }

    /// Makes `path` and its missing parents with mode 0700 (as the XDG specification asks), then
    /// checks that it is a directory of this user with no access for group or others.
    package static func prepare(_ path: String) throws(DRMAAError) {
        guard path.hasPrefix("/") else { throw DRMAAError(.drmsInitFailed, "the state directory '\(path)' is not an absolute path") }
        guard !path.utf8.contains(0) else { throw DRMAAError(.drmsInitFailed, "the state directory '\(path)' contains a NUL byte") }
        try makeDirectories(path)
        var info = stat()
        guard stat(path, &info) == 0 else { throw DRMAAError(.drmsInitFailed, "cannot examine the state directory '\(path)': \(errorText())") }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw DRMAAError(.drmsInitFailed, "the state directory '\(path)' exists but is not a directory")
        }
        guard info.st_uid == geteuid() else {
            throw DRMAAError(.drmsInitFailed, "the state directory '\(path)' belongs to uid \(info.st_uid), not to this user (uid \(geteuid())); refusing to keep jobs in it")
        }
        let mode = info.st_mode & 0o7777
        guard mode & 0o077 == 0 else {
            throw DRMAAError(.drmsInitFailed, "the state directory '\(path)' has mode \(octal(mode)): group and others must have no access to it (chmod 700 '\(path)')")
        }
    }

    private static func makeDirectories(_ path: String) throws(DRMAAError) {
        if mkdir(path, 0o700) == 0 { return }
        let error = errno
        if error == EEXIST { return }
        if error == ENOENT {
            var parent = path
            while parent.count > 1, parent.hasSuffix("/") { parent.removeLast() }
            if let slash = parent.lastIndex(of: "/"), slash != parent.startIndex {
                try makeDirectories(String(parent[..<slash]))
                if mkdir(path, 0o700) == 0 || errno == EEXIST { return }
            }
        }
        throw DRMAAError(.drmsInitFailed, "cannot create the state directory '\(path)': \(errorText())")
    }

    private static func errorText() -> String { String(cString: strerror(errno)) }

    static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
