import CLocalDRM
import Glibc
import Synchronization

/// What became of a watched child.
enum Reaped {
    /// Reaped by us: its wait status and exact resource usage.
    case process(ReapedProcess)
    /// Its exit status is gone: `reason` says why (another part of the process reaped it, or
    /// supervision failed).
    case lost(reason: String)
}

/// The supervisor of LocalDRM's children in this process: one thread blocked in `epoll_wait`
/// on a pidfd per child and one timerfd for every timer. It only waits and reaps: spawning
/// happens on the threads that submit and on the ``Launcher``.
///
/// When a child exits its pidfd becomes readable; the supervisor then kills what is left of the
/// job's process group, reaps exactly that pid with `wait4` (so its rusage is the job's own)
/// and hands the result over. It never calls `waitpid(-1)` and installs no SIGCHLD handler, so
/// the host process's own children are left alone.
///
/// If `epoll_wait` ever fails, supervision ends: every watched job is killed, reaped and
/// reported lost with the reason, every registered backend is told (``observeFailure(_:_:)``),
/// later ``watch(pid:willReap:didReap:)`` calls throw, and the thread returns. The host lives on;
/// a new session gets a new supervisor.
final class Supervisor: Sendable {
    /// What happens when a watched process exits.
    struct Watch {
        var pid: pid_t
        var pidfd: Int32
        /// Called before the pid is reaped, while it still cannot be reused: after it returns,
        /// nobody may signal the process group any more.
        var willReap: @Sendable () -> Void
        /// Called with what became of the process.
        var didReap: @Sendable (Reaped) -> Void
    }

    /// What happens when a watched descriptor (a pooled shepherd's socket) becomes readable.
    struct ReadableWatch {
        var fd: Int32
        /// Called on the supervisor thread each time it is readable.
        var onReadable: @Sendable () -> ReadableOutcome
        /// Called if supervision ends while it is watched.
        var onFailure: @Sendable (String) -> Void
    }

    /// What a readable watch's owner made of the descriptor's news.
    enum ReadableOutcome {
        /// Watch on.
        case keep
        /// The watch ends; `then` runs once the descriptor is no longer watched (it may be
        /// watched anew from then on).
        case done(then: @Sendable () -> Void)
    }

    /// A pending timer in deadline order; the action lives in `State.timers` until it fires or is cancelled.
    struct TimerEntry: Comparable {
        var deadline: Int64
        var token: UInt64
        static func < (a: Self, b: Self) -> Bool { (a.deadline, a.token) < (b.deadline, b.token) }
    }

    private struct State {
        var watches: [UInt64: Watch] = [:]
        var readables: [UInt64: ReadableWatch] = [:]
        /// The actions of pending timers; the heap may still hold entries of cancelled ones.
        var timers: [UInt64: @Sendable () -> Void] = [:]
        var deadlines = Heap<TimerEntry>()
        var nextToken: UInt64 = 2
        var armedDeadline: Int64 = 0
        /// Why supervision ended, once it has.
        var failure: String?
        /// Told when supervision ends, by backend.
        var failureObservers: [ObjectIdentifier: @Sendable (String) -> Void] = [:]

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
    /// Tests only: makes the next wake-up behave as if `epoll_wait` had failed with this error.
    private let injectedFailure = Atomic<Int32>(0)

    /// Starts a supervisor and its thread; nothing leaks if any step fails.
    init() throws(Errno) {
        // Supervision needs pidfd_open (Linux 5.3): find out now, not at the first job.
        Syscall.close(try Syscall.pidfdOpen(Syscall.processID()))
        epoll = try Syscall.epollCreate()
        do {
            timerFD = try Syscall.timerFD()
        } catch {
            Syscall.close(epoll)
            throw error
        }
        do {
            try Syscall.epollAdd(epoll, timerFD, token: Self.timerToken)
            try Syscall.startThread { [self] ready in run(ready) }
        } catch {
            Syscall.close(timerFD)
            Syscall.close(epoll)
            throw error
        }
    }

    /// Why supervision ended, or `nil` while it goes on.
    var failure: String? { state.withLock { $0.failure } }

    /// Starts watching a child. If it has already exited, it is reaped at once. Throws `EIO` once
    /// supervision has ended.
    func watch(pid: pid_t, willReap: @escaping @Sendable () -> Void, didReap: @escaping @Sendable (Reaped) -> Void) throws(Errno) {
        let pidfd = try Syscall.pidfdOpen(pid)
        // Added under the lock, so that a watch is either in the table when supervision fails
        // (and ended by it) or refused.
        let added = state.withLock { state -> Result<Void, Errno> in
            guard state.failure == nil else { return .failure(Errno(rawValue: EIO)) }
            let token = state.nextToken
            state.nextToken += 1
            do throws(Errno) {
                try Syscall.epollAdd(epoll, pidfd, token: token)
            } catch {
                return .failure(error)
            }
            state.watches[token] = Watch(pid: pid, pidfd: pidfd, willReap: willReap, didReap: didReap)
            return .success(())
        }
        if case .failure(let error) = added {
            Syscall.close(pidfd)
            throw error
        }
    }

    /// Watches a descriptor (which stays the caller's) until `onReadable` says it is done; throws
    /// `EIO` once supervision has ended.
    func watch(readable fd: Int32, onReadable: @escaping @Sendable () -> ReadableOutcome,
               onFailure: @escaping @Sendable (String) -> Void) throws(Errno) {
        try state.withLock { state throws(Errno) in
            guard state.failure == nil else { throw Errno(rawValue: EIO) }
            let token = state.nextToken
            state.nextToken += 1
            try Syscall.epollAdd(epoll, fd, token: token)
            state.readables[token] = ReadableWatch(fd: fd, onReadable: onReadable, onFailure: onFailure)
        }
    }

    /// Calls `action` (once, on the supervisor thread) if supervision ends while `owner` is registered.
    func observeFailure(_ owner: ObjectIdentifier, _ action: @escaping @Sendable (String) -> Void) {
        state.withLock { $0.failureObservers[owner] = action }
    }

    func stopObservingFailure(_ owner: ObjectIdentifier) {
        _ = state.withLock { $0.failureObservers.removeValue(forKey: owner) }
    }

    /// Runs `action` on the supervisor thread once the monotonic clock reaches `deadline` (ns).
    func schedule(at deadline: Int64, _ action: @escaping @Sendable () -> Void) -> TimerToken {
        // The timerfd is re-armed under the lock so that concurrent calls cannot arm it out of order.
        state.withLock { state in
            let token = state.nextToken
            state.nextToken += 1
            state.timers[token] = action
            state.deadlines.insert(TimerEntry(deadline: deadline, token: token))
            if state.failure == nil, state.armedDeadline == 0 || deadline < state.armedDeadline {
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

    /// Tests only: the supervisor behaves as if its next `epoll_wait` failed with `error`.
    func injectWaitFailure(_ error: Int32) {
        injectedFailure.store(error, ordering: .sequentiallyConsistent)
        state.withLock { state in
            if state.failure == nil { try? Syscall.armTimer(timerFD, atMonotonicNanoseconds: 1) }
        }
    }

    private func run(_ ready: @Sendable () -> Void) {
        var tokens = [UInt64](repeating: 0, count: 64)
        ready()
        while true {
            let count: Int
            do {
                count = try Syscall.epollWait(epoll, into: &tokens, timeoutMilliseconds: -1)
                let injected = injectedFailure.load(ordering: .sequentiallyConsistent)
                if injected != 0 { throw Errno(rawValue: injected) }
            } catch {
                // EINTR is retried; what remains (EBADF, EFAULT, EINVAL) means the epoll
                // descriptor is gone. Retrying would spin: end supervision, not the host.
                fail("LocalDRM's supervisor stopped: epoll_wait failed: \(error)")
                return
            }
            // By index: iterating the slice `tokens[..<count]` in this never-returning loop leaks
            // one copy of the array per wake-up in release builds (Swift 6.3.1).
            for index in 0..<count {
                let token = tokens[index]
                if token == Self.timerToken {
                    Syscall.drain(timerFD)
                    fireDueTimers()
                } else if !processExited(token) {
                    descriptorReadable(token)
                }
            }
        }
    }

    /// False if `token` is not a process's.
    private func processExited(_ token: UInt64) -> Bool {
        guard let watch = state.withLock({ $0.watches.removeValue(forKey: token) }) else { return false }
        Syscall.epollRemove(epoll, watch.pidfd)
        watch.willReap()
        watch.didReap(endAndReap(watch))
        Syscall.close(watch.pidfd)
        return true
    }

    private func descriptorReadable(_ token: UInt64) {
        guard let watch = state.withLock({ $0.readables[token] }) else { return }
        guard case .done(let then) = watch.onReadable() else { return }
        // Out of epoll before its owner may close the descriptor or watch it anew.
        _ = state.withLock { $0.readables.removeValue(forKey: token) }
        Syscall.epollRemove(epoll, watch.fd)
        then()
    }

    /// Kills what is left of an exited (or doomed) job's group and reaps its leader, through its pidfd.
    private func endAndReap(_ watch: Watch) -> Reaped {
        // Still our unreaped child (asked through the pidfd, which names this process and no
        // other)? Then its zombie, or the live leader, holds the pid, which is also the group id,
        // so the group signal reaches only the job's own processes (after an exit, the background
        // children it did not wait for): a job ends whole, as on a cluster. If someone else reaped
        // it, the pid may be reused already, so nothing is signalled.
        guard Syscall.isUnreapedChild(pidfd: watch.pidfd, pid: watch.pid) else {
            return .lost(reason: Self.stolenReason)
        }
        try? Syscall.signalGroup(watch.pid, SIGKILL)
        do {
            return .process(try Syscall.reap(pidfd: watch.pidfd, pid: watch.pid))
        } catch {
            return .lost(reason: Self.stolenReason)
        }
    }

    /// Kills a job's whole group and reaps its leader, by pid, for when there is no pidfd to go
    /// through. That is exact while the pid is our unreaped child (its pid cannot be reused then);
    /// if someone else reaped it, nothing is signalled and its status is reported lost.
    static func killAndReap(_ pid: pid_t) -> Reaped {
        guard Syscall.isUnreapedChild(pid) else { return .lost(reason: stolenReason) }
        try? Syscall.signalGroup(pid, SIGKILL)
        do {
            return .process(try Syscall.reap(pid))
        } catch {
            return .lost(reason: stolenReason)
        }
    }

    /// Why a job's exit status can be gone although it was our child.
    static var stolenReason: String {
        switch Syscall.childStatusDiscarding() {
        case .ignored: "its exit status was discarded by the kernel: this process now sets SIGCHLD to SIG_IGN"
        case .noChildWait: "its exit status was discarded by the kernel: this process's SIGCHLD handler now has SA_NOCLDWAIT"
        case .kept: "its exit status was taken by another part of this process (waitpid(-1) or wait(), often in a SIGCHLD handler)"
        }
    }

    /// Supervision cannot go on: every watched job is killed, reaped and reported lost; timers
    /// are dropped; the backends are told.
    private func fail(_ reason: String) {
        let (watches, observers) = state.withLock { state in
            state.failure = reason
            state.timers = [:]
            state.deadlines = Heap()
            // The epoll fd, the timerfd and the pidfds are not closed: supervision fails when a
            // descriptor was closed behind our back, so their numbers may be the host's files by
            // now. Leaking a few descriptors once is safe; closing someone else's is not.
            defer {
                state.watches = [:]
                state.readables = [:]
                state.failureObservers = [:]
            }
            return (Array(state.watches.values), Array(state.failureObservers.values) + state.readables.values.map { watch in
                { reason in watch.onFailure(reason) }
            })
        }
        for watch in watches {
            watch.willReap()
            let reaped: Reaped
            if Syscall.isPidfd(watch.pidfd, of: watch.pid) {
                reaped = endAndReap(watch)  // kills the whole group (the leader too) if still ours
            } else {
                reaped = Self.killAndReap(watch.pid)  // its pidfd is gone too
            }
            switch reaped {
            case .process: watch.didReap(.lost(reason: "\(reason); the job was killed"))
            case .lost: watch.didReap(reaped)
            }
        }
        for observer in observers { observer(reason) }
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
            if state.failure == nil { try? Syscall.armTimer(timerFD, atMonotonicNanoseconds: state.armedDeadline) }
            return due
        }
        for action in due { action() }
    }
}

extension Supervisor: TimerClock {}
