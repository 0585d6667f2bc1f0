import DRMAACore
import Synchronization

/// The monotonic time `seconds` after `now` (nanoseconds), saturating: a time limit or a date
/// centuries ahead becomes "never" (`Int64.max`) instead of overflowing.
func monotonic(_ now: Int64, plus seconds: Double) -> Int64 {
    let nanoseconds = max(0, seconds) * 1e9
    guard nanoseconds < Double(Int64.max - now) else { return Int64.max }
    return now + Int64(nanoseconds)
}

/// Identifies a scheduled timer, for cancelling it.
public struct TimerToken: Hashable, Sendable {
    /// The clock's own number for the timer.
    public let value: UInt64

    /// A token with the clock's number for a timer.
    public init(_ value: UInt64) { self.value = value }
}

/// The time source of LocalDRM's timers: start times, deadlines, time limits and the grace
/// periods of terminate.
///
/// By default LocalDRM uses its supervisor thread's timerfd on the monotonic clock. Tests
/// inject a ``ManualClock`` instead, so that time-driven behaviour is deterministic and fast.
public protocol TimerClock: Sendable {
    /// The current monotonic time in nanoseconds; only differences are meaningful.
    func monotonicNow() -> Int64
    /// Runs `action` once ``monotonicNow()`` has reached `deadline`, on a thread of the clock's
    /// choosing, never inside this call; the token cancels it. `action` may call the clock.
    func schedule(at deadline: Int64, _ action: @escaping @Sendable () -> Void) -> TimerToken
    /// Cancels a timer that has not fired yet; does nothing for a timer that already fired.
    func cancel(_ token: TimerToken)
}

/// A clock that moves only when told to: it serves as both the wall clock and the timer clock of a
/// LocalDRM session in tests.
///
/// ```swift
/// let clock = ManualClock()
/// let drm = LocalDRM(configuration: .init(clock: clock, timers: clock))
/// // … submit a job with a one-hour wall-clock limit …
/// clock.advance(by: 3600)   // the limit fires now, on this thread
/// ```
///
/// Timers fire on the thread that calls ``advance(by:)``, in deadline order (then in the
/// order they were scheduled); a timer scheduled for a time already reached fires at the next
/// `advance`, even `advance(by: 0)`.
public final class ManualClock: WallClock, TimerClock {
    private struct Timer {
        var deadline: Int64
        var action: @Sendable () -> Void
    }

    private struct State {
        var elapsed: Int64 = 0
        var nextToken: UInt64 = 1
        var timers: [UInt64: Timer] = [:]
    }

    /// The wall-clock time (seconds since the epoch) when the clock was made.
    public let origin: Double
    private let state = Mutex(State())

    /// A clock whose wall time starts at `wallTime` seconds since the epoch (default: 2026-01-01 00:00:00 UTC).
    public init(wallTime: Double = 1_767_225_600) {
        origin = wallTime
    }

    /// The wall-clock time: ``origin`` plus the time advanced so far.
    public func now() -> Double {
        origin + Double(state.withLock { $0.elapsed }) / 1e9
    }

    public func monotonicNow() -> Int64 {
        state.withLock { $0.elapsed }
    }

    public func schedule(at deadline: Int64, _ action: @escaping @Sendable () -> Void) -> TimerToken {
        state.withLock { state in
            let token = state.nextToken
            state.nextToken += 1
            state.timers[token] = Timer(deadline: deadline, action: action)
            return TimerToken(token)
        }
    }

    public func cancel(_ token: TimerToken) {
        _ = state.withLock { $0.timers.removeValue(forKey: token.value) }
    }

    /// The number of timers not yet fired or cancelled.
    public var pendingTimers: Int {
        state.withLock { $0.timers.count }
    }

    /// Moves time forward and fires every timer that is due by then, one at a time, without
    /// holding the clock's lock (so actions may schedule or cancel timers, and those due by then fire too).
    public func advance(by seconds: Double) {
        precondition(seconds >= 0, "a ManualClock only moves forward")
        let target = monotonic(state.withLock { $0.elapsed }, plus: seconds)
        while true {
            let next = state.withLock { state -> (@Sendable () -> Void)? in
                let due = state.timers.filter { $0.value.deadline <= target }
                guard let (token, timer) = due.min(by: { ($0.value.deadline, $0.key) < ($1.value.deadline, $1.key) }) else {
                    state.elapsed = target
                    return nil
                }
                state.elapsed = max(state.elapsed, timer.deadline)
                state.timers[token] = nil
                return timer.action
            }
            guard let action = next else { return }
            action()
        }
    }
}
