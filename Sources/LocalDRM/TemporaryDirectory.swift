import Glibc

/// A job's private temporary directory, its `TMPDIR`: made with mode 0700 when the job starts,
/// under the submitting process's `$TMPDIR` (else `/tmp`), named after the job
/// (`drmaa-job-7.3-Ab12Cd`), and removed with everything in it when the job ends.
///
/// Removal never follows a symbolic link (entries are removed with `unlinkat`, directories opened
/// with `O_NOFOLLOW` relative to their parent), never leaves the directory's file system, and
/// empties nothing unless the directory is still the one that was made (same inode, owned by
/// this process's user). A directory in it whose mode keeps its owner out (a job's `chmod 000`
/// or `chmod 500`) gets mode 0700 back first — only one of ours, inside the tree, on its file
/// system, changed through a descriptor of it. If a symbolic link took the directory's place, the
/// link is removed. It runs on a thread that may block; never on the supervisor's.
struct PrivateTemporaryDirectory: Sendable, Equatable {
    /// The directory it was made in.
    let parent: String
    /// Its name in `parent`.
    let name: String
    /// What it was when it was made: anything else by that name is left alone.
    let identity: FileIdentity

    /// The path the job sees as `TMPDIR`.
    var path: String { parent + (parent.hasSuffix("/") ? "" : "/") + name }

    /// Directories nested deeper than this are moved up to the top of the tree before they are
    /// emptied, so that removal holds at most this many descriptors at once.
    static let maximumDepth = 32
    /// How many times a directory is read again when entries appeared in it while it was emptied
    /// (a process the job left behind may still be making them). Passes that find directories
    /// moved up from deeper down do not count: they are the removal's own progress.
    static let maximumPasses = 100
    /// How many deep directories are moved up at most: enough for a tree thousands of levels
    /// deep, and a bound on the work should something keep making deeper ones.
    static let maximumMoves = 100_000

    /// The base for jobs' directories: `temporaryBase` if it is an absolute path, else `/tmp`.
    static func parent(forBase temporaryBase: String?) -> String {
        guard let temporaryBase, temporaryBase.hasPrefix("/") else { return "/tmp" }
        return temporaryBase
    }

    /// Makes the directory of job `jobID` in `parent`.
    static func make(in parent: String, jobID: String) throws(Errno) -> PrivateTemporaryDirectory {
        let (name, identity) = try Syscall.makeUniqueDirectory(in: parent, prefix: "drmaa-job-\(jobID)-")
        return PrivateTemporaryDirectory(parent: parent, name: name, identity: identity)
    }

    /// Removes the directory if it is empty (what most jobs leave): one `rmdir`, which never
    /// removes anything but an empty directory and never follows a link. True if it is gone.
    func removeIfEmpty() -> Bool {
        do {
            try Syscall.unlink(path, in: AT_FDCWD, directory: true)
            return true
        } catch {
            return error.rawValue == ENOENT
        }
    }

    /// Removes the directory and everything in it. Returns why something was left, or `nil`.
    /// Never fatal: whatever cannot be removed stays.
    @discardableResult
    func remove() -> String? {
        if removeIfEmpty() { return nil }
        let parentFD: Int32
        do {
            parentFD = try Syscall.openDirectory(parent, in: AT_FDCWD, followingLink: true)
        } catch {
            return "cannot open '\(parent)': \(error)"
        }
        defer { Syscall.close(parentFD) }
        let rootFD: Int32
        do {
            rootFD = try openRestoringAccess(name, in: parentFD, expecting: identity)
        } catch {
            switch error.rawValue {
            case ENOENT:
                return nil
            case ELOOP, ENOTDIR:
                // The job put a symbolic link (or a file) in its place: a link goes (never what it
                // points to); anything else is left alone.
                guard Syscall.isSymbolicLink(name, in: parentFD) else { return "'\(path)' is no longer the directory LocalDRM made; it was left alone" }
                do {
                    try Syscall.unlink(name, in: parentFD, directory: false)
                    return nil
                } catch {
                    return error.rawValue == ENOENT ? nil : "cannot remove the symbolic link '\(path)' a job put in place of its TMPDIR: \(error)"
                }
            default:
                return "cannot open '\(path)': \(error)"
            }
        }
        guard let (found, owner, _) = try? Syscall.identity(rootFD), found == identity, owner == Syscall.effectiveUserID() else {
            Syscall.close(rootFD)
            return "'\(path)' is no longer the directory LocalDRM made; it was left alone"
        }
        var problem = empty(rootFD)
        do {
            try Syscall.unlink(name, in: parentFD, directory: true)
        } catch {
            problem = problem ?? "cannot remove '\(path)': \(error)"
        }
        return problem
    }

    /// Opens the directory `name` of the directory `parent` without following a link. If its mode
    /// keeps us out (`EACCES`: a job ran `chmod 000` on it), it gets mode 0700 back — if it is a
    /// directory of ours on the tree's file system (and, given `expected`, that very one), as a
    /// descriptor that names it without opening it shows; the mode is changed through that
    /// descriptor, so never on anything else — and it is opened again.
    private func openRestoringAccess(_ name: String, in parent: Int32, expecting expected: FileIdentity? = nil) throws(Errno) -> Int32 {
        do {
            return try Syscall.openDirectory(name, in: parent)
        } catch {
            guard error.rawValue == EACCES else { throw error }
        }
        let handle = try Syscall.openPath(name, in: parent)
        defer { Syscall.close(handle) }
        let (found, owner, _) = try Syscall.identity(handle)
        guard owner == Syscall.effectiveUserID(), found.device == identity.device, expected == nil || expected == found else {
            throw Errno(rawValue: EACCES)
        }
        do {
            try Syscall.changeMode(ofPath: handle, 0o700)
        } catch {
            throw Errno(rawValue: EACCES)  // the problem stays the mode (without /proc, say): not "gone"
        }
        return try Syscall.openDirectory(name, in: parent)
    }

    /// Removes the entry `name` of the directory open as `directory` (one inside the tree). If
    /// that directory's mode is in the way (`EACCES`: no write or search permission; `EPERM`: a
    /// sticky bit), it gets mode 0700 back, if it is ours and not already so, and removal is
    /// tried once more.
    private func unlinkRestoringAccess(_ name: String, in directory: Int32, directory isDirectory: Bool) throws(Errno) {
        do {
            try Syscall.unlink(name, in: directory, directory: isDirectory)
            return
        } catch {
            guard error.rawValue == EACCES || error.rawValue == EPERM, restoreAccess(directory) else { throw error }
        }
        try Syscall.unlink(name, in: directory, directory: isDirectory)
    }

    /// Gives the directory open as `fd` (one inside the tree) mode 0700 if it is ours, on the
    /// tree's file system, and its mode is something else. True if it changed.
    private func restoreAccess(_ fd: Int32) -> Bool {
        guard let (found, owner, mode) = try? Syscall.identity(fd), owner == Syscall.effectiveUserID(),
              found.device == identity.device, mode & 0o7777 != 0o700 else { return false }
        return (try? Syscall.changeMode(fd, 0o700)) != nil
    }

    /// One directory being emptied: its stream, its name in the level above, and the progress
    /// count when it was last read from the start.
    private struct Level {
        var stream: OpaquePointer
        var name: String
        var progressAtStart: Int
        var passes = 1
    }

    /// Empties the directory open as `rootFD` (taken over and closed), depth first, without
    /// recursion. Returns the first problem met, or `nil`.
    private func empty(_ rootFD: Int32) -> String? {
        var problem: String?
        func note(_ text: @autoclosure () -> String) { if problem == nil { problem = text() } }
        let root: OpaquePointer
        do {
            root = try Syscall.directoryStream(rootFD)
        } catch {
            return "cannot read '\(path)': \(error)"
        }
        let rootDescriptor = Syscall.descriptor(of: root)
        var levels = [Level(stream: root, name: "", progressAtStart: 0)]
        var progress = 0  // entries removed or moved so far
        var moved = 0  // names of moved directories used so far
        var movesAtRootPass = 0
        while let top = levels.last {
            let directory = Syscall.descriptor(of: top.stream)
            let entry: String?
            do {
                entry = try Syscall.nextEntry(top.stream)
            } catch {
                note("cannot read a directory in '\(path)': \(error)")
                entry = nil
            }
            guard let entry else {
                // The end of this directory: read it again if anything changed meanwhile (entries
                // that readdir skipped, or moved here from deeper down), else leave it.
                // At the top, a pass that follows directories moved up is the removal's own progress.
                let movedUp = levels.count == 1 && moved != movesAtRootPass
                if progress != top.progressAtStart, movedUp || top.passes < Self.maximumPasses {
                    Syscall.rewind(top.stream)
                    levels[levels.count - 1].progressAtStart = progress
                    if levels.count == 1 { movesAtRootPass = moved }
                    if !movedUp { levels[levels.count - 1].passes += 1 }
                    continue
                }
                levels.removeLast()
                Syscall.closeDirectory(top.stream)
                guard let parent = levels.last else { break }
                do {
                    try unlinkRestoringAccess(top.name, in: Syscall.descriptor(of: parent.stream), directory: true)
                    progress += 1
                } catch {
                    note("cannot remove a directory in '\(path)': \(error)")
                }
                continue
            }
            // A file, a link or anything else goes at once; unlinkat says EISDIR for a directory
            // (Linux; POSIX allows EPERM, which also means a file that may not be removed).
            let unlinkError: Errno
            do {
                try unlinkRestoringAccess(entry, in: directory, directory: false)
                progress += 1
                continue
            } catch {
                unlinkError = error
            }
            switch unlinkError.rawValue {
            case ENOENT: continue
            case EISDIR, EPERM: break
            default:
                note("cannot remove '\(entry)' in '\(path)': \(unlinkError)")
                continue
            }
            if levels.count >= Self.maximumDepth {
                // Too deep to hold another descriptor: move it to the top, where a later pass finds
                // it (under a name of its own; a job may have used the first ones).
                var renamed = false
                for _ in 0..<8 where !renamed && moved < Self.maximumMoves {
                    renamed = (try? Syscall.rename(entry, in: directory, to: ".drmaa-deep-\(moved)", in: rootDescriptor)) != nil
                    moved += 1
                }
                if renamed { progress += 1 } else { note("cannot remove a deeply nested directory in '\(path)'") }
                continue
            }
            let child: Int32
            do {
                child = try openRestoringAccess(entry, in: directory)
            } catch {
                if unlinkError.rawValue == EISDIR, error.rawValue == ELOOP || error.rawValue == ENOTDIR {
                    progress += 1  // replaced by a link or a file since: the next pass removes it
                } else {
                    note("cannot remove '\(entry)' in '\(path)': \(unlinkError.rawValue == EISDIR ? error : unlinkError)")
                }
                continue
            }
            guard let (found, _, _) = try? Syscall.identity(child), found.device == identity.device else {
                Syscall.close(child)
                note("'\(entry)' in '\(path)' is another file system mounted there; it was left alone")
                continue
            }
            do {
                levels.append(Level(stream: try Syscall.directoryStream(child), name: entry, progressAtStart: progress))
            } catch {
                note("cannot read '\(entry)' in '\(path)': \(error)")
            }
        }
        return problem
    }
}
