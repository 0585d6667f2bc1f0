import CLocalDRM
import Glibc
import Synchronization

/// The process-wide supervisor of LocalDRM's children: one thread blocked in `epoll_wait`
/// on a pidfd per child and one timerfd for every timer.
///
/// When a child exits its pidfd becomes readable; the supervisor then kills what is left of the
/// job's process group, reaps exactly that pid with `wait4` (so its rusage is the job's own)
/// and hands the result over. It never calls `waitpid(-1)` and installs no SIGCHLD handler, so
/// the host process's own children are left alone.
final class Supervisor: Sendable {
    /// What happens when a watched process exits.
    struct Watch {
        var pid: pid_t
        var pidfd: Int32
        /// Called before the pid is reaped, while it still cannot be reused: after it returns,
        /// nobody may signal the process group any more.
        var willReap: @Sendable () -> Void
        /// Called with the wait status and usage (`nil` if the status was lost).
        var didReap: @Sendable (ReapedProcess?) -> Void
    }

    /// A pending timer in deadline order; the action lives in `State.timers` until it fires or is cancelled.
    struct TimerEntry: Comparable {
        var deadline: Int64
        var token: UInt64
        static func < (a: Self, b: Self) -> Bool { (a.deadline, a.token) < (b.deadline, b.token) }
    }

    private struct State {
        var watches: [UInt64: Watch] = [:]
        /// The actions of pending timers; the heap may still hold entries of cancelled ones.
        var timers: [UInt64: @Sendable () -> Void] = [:]
        var deadlines = Heap<TimerEntry>()
        var nextToken: UInt64 = 2
        var armedDeadline: Int64 = 0

        /// Drops the heap entries of cancelled timers once they outnumber the live ones.
        mutating func compactIfNeeded() {
            guard deadlines.count > 64, deadlines.count > 2 * timers.count else { return }
            let live = timers
            deadlines.filter { live[$0.token] != nil }
        }
    }

    private static let timerToken: UInt64 = 1
    private let epoll: Int32
    private let timerFD: Int32
    private let state = Mutex(State())

    /// The one supervisor of this process, started on first use.
    static let shared: Result<Supervisor, Errno> = Result { () throws(Errno) in try Supervisor() }

    private init() throws(Errno) {
        epoll = try Syscall.epollCreate()
        do {
            timerFD = try Syscall.timerFD()
            try Syscall.epollAdd(epoll, timerFD, token: Self.timerToken)
        } catch {
            Syscall.close(epoll)
            throw error
        }
        try Syscall.startThread { [self] in run() }
    }

    /// Starts watching a child. If it has already exited, it is reaped at once.
    func watch(pid: pid_t, willReap: @escaping @Sendable () -> Void, didReap: @escaping @Sendable (ReapedProcess?) -> Void) throws(Errno) {
        let pidfd = try Syscall.pidfdOpen(pid)
        let token = state.withLock { state in
            let token = state.nextToken
            state.nextToken += 1
            state.watches[token] = Watch(pid: pid, pidfd: pidfd, willReap: willReap, didReap: didReap)
            return token
        }
        do {
            try Syscall.epollAdd(epoll, pidfd, token: token)
        } catch {
            _ = state.withLock { $0.watches.removeValue(forKey: token) }
            Syscall.close(pidfd)
            throw error
        }
    }

    /// Runs `action` on the supervisor thread once the monotonic clock reaches `deadline` (ns).
    func schedule(at deadline: Int64, _ action: @escaping @Sendable () -> Void) -> TimerToken {
        // The timerfd is re-armed under the lock so that concurrent calls cannot arm it out of order.
        state.withLock { state in
            let token = state.nextToken
            state.nextToken += 1
            state.timers[token] = action
            state.deadlines.insert(TimerEntry(deadline: deadline, token: token))
            if state.armedDeadline == 0 || deadline < state.armedDeadline {
                state.armedDeadline = max(1, deadline)
                try? Syscall.armTimer(timerFD, atMonotonicNanoseconds: state.armedDeadline)
            }
            return TimerToken(token)
        }
    }

    func cancel(_ token: TimerToken) {
        state.withLock { state in
            state.timers[token.value] = nil
            state.compactIfNeeded()
        }
    }

    func monotonicNow() -> Int64 { Syscall.monotonicNanoseconds() }

    private func run() {
        var tokens = [UInt64](repeating: 0, count: 64)
        while true {
            let count: Int
            do {
                count = try Syscall.epollWait(epoll, into: &tokens, timeoutMilliseconds: -1)
            } catch {
                // Only EBADF, EFAULT or EINVAL remain (EINTR is retried): the epoll descriptor was
                // closed behind our back. Retrying would spin; supervision cannot go on without it.
                fatalError("LocalDRM's supervisor lost its epoll descriptor: epoll_wait failed with \(error)")
            }
            // By index: iterating the slice `tokens[..<count]` in this never-returning loop leaks
            // one copy of the array per wake-up in release builds (Swift 6.3.1).
            for index in 0..<count {
                let token = tokens[index]
                if token == Self.timerToken {
                    Syscall.drain(timerFD)
                    fireDueTimers()
                } else {
                    processExited(token)
                }
            }
        }
    }

    private func processExited(_ token: UInt64) {
        guard let watch = state.withLock({ $0.watches.removeValue(forKey: token) }) else { return }
        Syscall.epollRemove(epoll, watch.pidfd)
        watch.willReap()
        // The exited leader still holds its pid as the group id, so this reaches only the job's
        // own leftovers (background children it did not wait for): a job ends whole, as on a cluster.
        try? Syscall.signalGroup(watch.pid, SIGKILL)
        let reaped = try? Syscall.reap(watch.pid)
        Syscall.close(watch.pidfd)
        watch.didReap(reaped)
    }

    private func fireDueTimers() {
        let now = Syscall.monotonicNanoseconds()
        let due = state.withLock { state -> [@Sendable () -> Void] in
            var due: [@Sendable () -> Void] = []
            while let first = state.deadlines.min, first.deadline <= now {
                state.deadlines.popMin()
                if let action = state.timers.removeValue(forKey: first.token) { due.append(action) }
            }
            while let first = state.deadlines.min, state.timers[first.token] == nil { state.deadlines.popMin() }
            state.armedDeadline = state.deadlines.min?.deadline ?? 0
            try? Syscall.armTimer(timerFD, atMonotonicNanoseconds: state.armedDeadline)
            return due
        }
        for action in due { action() }
    }
}

extension Supervisor: TimerClock {}
