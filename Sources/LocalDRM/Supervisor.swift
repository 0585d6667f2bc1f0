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

    struct Timer {
        var deadline: Int64
        var action: @Sendable () -> Void
    }

    private struct State {
        var watches: [UInt64: Watch] = [:]
        var timers: [UInt64: Timer] = [:]
        var nextToken: UInt64 = 2
        var armedDeadline: Int64 = 0
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

    /// Runs `action` on the supervisor thread at a monotonic time (nanoseconds); returns a token for ``cancel(_:)``.
    @discardableResult
    func schedule(atMonotonic deadline: Int64, _ action: @escaping @Sendable () -> Void) -> UInt64 {
        // The timer is re-armed under the lock so that concurrent calls cannot arm it out of order.
        state.withLock { state in
            let token = state.nextToken
            state.nextToken += 1
            state.timers[token] = Timer(deadline: deadline, action: action)
            if state.armedDeadline == 0 || deadline < state.armedDeadline {
                state.armedDeadline = max(1, deadline)
                try? Syscall.armTimer(timerFD, atMonotonicNanoseconds: state.armedDeadline)
            }
            return token
        }
    }

    /// Cancels a timer that has not fired yet.
    func cancel(_ token: UInt64) {
        _ = state.withLock { $0.timers.removeValue(forKey: token) }
    }

    private func run() {
        var tokens = [UInt64](repeating: 0, count: 64)
        while true {
            guard let count = try? Syscall.epollWait(epoll, into: &tokens, timeoutMilliseconds: -1) else { continue }
            for token in tokens[..<count] {
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
            var due: [(Int64, UInt64, @Sendable () -> Void)] = []
            var next: Int64 = 0
            for (token, timer) in state.timers {
                if timer.deadline <= now {
                    due.append((timer.deadline, token, timer.action))
                } else if next == 0 || timer.deadline < next {
                    next = timer.deadline
                }
            }
            for (_, token, _) in due { state.timers[token] = nil }
            state.armedDeadline = next
            try? Syscall.armTimer(timerFD, atMonotonicNanoseconds: next)
            return due.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
        }
        for action in due { action() }
    }
}
