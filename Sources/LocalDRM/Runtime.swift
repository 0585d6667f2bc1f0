import Glibc
import Synchronization

/// LocalDRM's threads in this process: the ``Supervisor``, the ``Launcher`` and the cleaner (a
/// second ``Launcher``, which removes ended jobs' temporary directories off the supervisor thread).
///
/// Made on first use. Made again in a process forked from one that had them (threads do not
/// survive `fork()`, and the inherited epoll instance is still the parent's), and after
/// supervision failed. A failure to make them is not remembered: the next session tries again.
struct Runtime: Sendable {
    let supervisor: Supervisor
    let launcher: Launcher
    let cleaner: Launcher

    /// A runtime of these threads; without a `cleaner`, the launcher also cleans up.
    init(supervisor: Supervisor, launcher: Launcher, cleaner: Launcher? = nil) {
        (self.supervisor, self.launcher, self.cleaner) = (supervisor, launcher, cleaner ?? launcher)
    }

    private struct Current {
        var processID: pid_t = 0
        var launcher: Launcher?
        var cleaner: Launcher?
        var supervisor: Supervisor?
    }

    private static let current = Mutex(Current())

    /// This process's runtime.
    static func shared() throws(Errno) -> Runtime {
        try current.withLock { current throws(Errno) in
            let pid = Syscall.processID()
            if current.processID != pid {
                current = Current(processID: pid)
            }
            if current.supervisor?.failure != nil { current.supervisor = nil }
            let launcher: Launcher
            if let existing = current.launcher { launcher = existing } else { launcher = try Launcher() }
            current.launcher = launcher
            let cleaner: Launcher
            if let existing = current.cleaner { cleaner = existing } else { cleaner = try Launcher() }
            current.cleaner = cleaner
            let supervisor: Supervisor
            if let existing = current.supervisor { supervisor = existing } else { supervisor = try Supervisor() }
            current.supervisor = supervisor
            return Runtime(supervisor: supervisor, launcher: launcher, cleaner: cleaner)
        }
    }
}

/// A thread that runs the actions given to it in order. One starts jobs when the work comes from
/// the supervisor thread (a reaped job freed its slots, a start time came): the supervisor never
/// spawns, so a slow spawn never delays a reap or a timer, and spawning runs beside reaping.
/// Another removes the temporary directories of jobs the supervisor reaped, which may take long.
final class Launcher: @unchecked Sendable {
    // @unchecked: `semaphore` is initialised in `init` and never destroyed (a launcher lives as long
    // as its process); `sem_post` and `sem_wait` are thread-safe. The work list is behind a Mutex.
    private let semaphore: UnsafeMutablePointer<sem_t>
    private let work = Mutex<[@Sendable () -> Void]>([])

    init() throws(Errno) {
        semaphore = .allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
        do {
            try Syscall.startThread { [self] ready in run(ready) }
        } catch {
            sem_destroy(semaphore)
            semaphore.deallocate()
            throw error
        }
    }

    /// Runs `action` on the launcher thread, after the actions submitted before it.
    func submit(_ action: @escaping @Sendable () -> Void) {
        work.withLock { $0.append(action) }
        sem_post(semaphore)
    }

    private func run(_ ready: @Sendable () -> Void) {
        ready()
        while true {
            while sem_wait(semaphore) != 0 {}  // EINTR only
            let actions = work.withLock { work in
                defer { work.removeAll(keepingCapacity: work.count < 1024) }
                return work
            }
            for action in actions { action() }
        }
    }
}

/// Job ids of LocalDRM in this process: 1, 2, 3, … In a process forked from one that had opened
/// a session or numbered jobs, numbering starts again at pid × 10⁹ + 1, so that a parent and its
/// children (and the children among themselves) never hand out the same id (none would reach 10⁹ jobs).
enum LocalJobIDs {
    private static let state = Mutex<(processID: pid_t, next: Int)>((0, 1))

    /// Records this process as the numbering one, if none is yet: a session opened before a
    /// `fork()` makes the children renumber even if no job was submitted before it.
    static func noteProcess() {
        state.withLock { state in
            if state.processID == 0 { state.processID = Syscall.processID() }
        }
    }

    static func next() -> String {
        state.withLock { state in
            let pid = Syscall.processID()
            if state.processID != pid {
                if state.processID != 0 { state.next = Int(pid) * 1_000_000_000 + 1 }
                state.processID = pid
            }
            defer { state.next += 1 }
            return String(state.next)
        }
    }
}
