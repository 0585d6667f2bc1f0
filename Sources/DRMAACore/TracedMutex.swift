import Synchronization

/// `Synchronization.Mutex` with the ordering it provides made visible to ThreadSanitizer.
///
/// On Linux, `Mutex` waits for a contended lock with a futex inside the (uninstrumented) standard
/// library, so ThreadSanitizer never sees that unlocking one thread orders it before the next
/// locker, and reports every contended critical section as a data race. This wrapper adds an
/// atomic read-modify-write with acquire ordering after locking and one with release ordering
/// before unlocking: ThreadSanitizer models those, and sees the happens-before edge the lock gives.
///
/// Only ThreadSanitizer builds use it (`make test-tsan` defines `DRMAA_TSAN`, and each module
/// then aliases `Mutex` to it); other builds use `Synchronization.Mutex` directly.
package struct TracedMutex<Value: ~Copyable>: ~Copyable, Sendable {
    private let mutex: Synchronization.Mutex<Value>
    private let edge = Atomic<Int>(0)

    /// A lock around `value`.
    package init(_ value: consuming sending Value) {
        mutex = Synchronization.Mutex(value)
    }

    /// Runs `body` with the value while holding the lock, as `Mutex.withLock` does.
    package borrowing func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        try mutex.withLock { (value: inout sending Value) throws(E) -> sending Result in
            _ = edge.add(1, ordering: .acquiring)
            defer { _ = edge.add(1, ordering: .releasing) }
            return try body(&value)
        }
    }
}

#if DRMAA_TSAN
typealias Mutex = TracedMutex
#endif
