#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A lock around a value, used like `Synchronization.Mutex` (`withLock`), built on a
/// `pthread_mutex_t`, so that it keeps working in a process forked from one that used it.
///
/// Why not `Synchronization.Mutex`: on Linux it is a priority-inheritance futex whose lock word
/// holds the owner's thread id, which the standard library caches per thread. After `fork()`,
/// the thread that forked keeps the parent's cached id, so once one of its locks is contended by
/// another thread of the child (LocalDRM's supervisor, say), the kernel refuses the futex
/// operation and `Mutex` traps: a host such as Python with `multiprocessing` would crash. A
/// default (non-PI) pthread mutex does not depend on thread ids. ThreadSanitizer also sees the
/// ordering a pthread mutex gives, which it could not see for `Mutex`'s futex.
///
/// Every module of the package names it `Mutex` (a module-level `typealias`), so code reads as
/// with the standard type.
package final class ForkSafeMutex<Value>: @unchecked Sendable {
    // @unchecked: `value` is only read or written inside `withLock`, between pthread_mutex_lock
    // and pthread_mutex_unlock of `mutex`, which is initialised in `init` and destroyed in `deinit`.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    /// A lock around `value`.
    package init(_ value: consuming sending Value) {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        self.value = value
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value while holding the lock.
    package func withLock<Result, E: Error>(_ body: (inout sending Value) throws(E) -> sending Result) throws(E) -> sending Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

/// DRMAACore's locks are fork-safe (see ``ForkSafeMutex``).
typealias Mutex = ForkSafeMutex
