import Dispatch
import Foundation
import Synchronization
import Testing
@testable import DRMAACore
import EmbeddedDRM

// Kept in this target, not in TestSupport: it reads the JobTable's internal state, which only a
// test target may import @testable in every build configuration.

/// An EmbeddedDRM that also remembers the JobTable each session is given, so that a test can
/// see when a blocking (or async) wait has parked. Used only where a test must make sure the
/// waiter is really blocked before it acts; the outcome of those tests does not depend on it.
final class ObservedDRM: DRMSystem {
    let embedded: EmbeddedDRM
    private let tables = Mutex<[JobTable]>([])

    init(clock: any WallClock = FixedClock(1_000_000_000)) {
        embedded = EmbeddedDRM(clock: clock)
    }

    var drmsInfo: String { embedded.drmsInfo }
    var drmaaImplementation: String { embedded.drmaaImplementation }

    func makeBackend(options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend {
        let backend = try embedded.makeBackend(options: options, jobs: jobs)
        tables.withLock { $0.append(jobs) }
        return backend
    }

    var backend: EmbeddedBackend { embedded.backend! }
    var table: JobTable { tables.withLock { $0.last! } }

    /// How many waits are parked in the current session's table.
    var parkedWaiters: Int { table.state.withLock { $0.waiters.count } }

    /// Polls (1 ms steps, at most 10 s) until at least `count` waiters are parked.
    func awaitParked(_ count: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        let deadline = DispatchTime.now() + .seconds(10)
        while parkedWaiters < count {
            if DispatchTime.now() > deadline {
                Issue.record("only \(parkedWaiters) of \(count) waiters parked after 10 s", sourceLocation: sourceLocation)
                return
            }
            usleep(1000)
        }
    }

    /// The async form of ``awaitParked(_:sourceLocation:)``: sleeps instead of blocking a thread.
    func awaitParkedAsync(_ count: Int, sourceLocation: SourceLocation = #_sourceLocation) async {
        let deadline = DispatchTime.now() + .seconds(10)
        while parkedWaiters < count {
            if DispatchTime.now() > deadline {
                Issue.record("only \(parkedWaiters) of \(count) waiters parked after 10 s", sourceLocation: sourceLocation)
                return
            }
            try? await Task.sleep(nanoseconds: 1_000_000)
        }
    }
}

func makeObservedSession() throws -> (Session, ObservedDRM) {
    let system = ObservedDRM()
    let session = Session(system: system)
    try session.initialize()
    return (session, system)
}
