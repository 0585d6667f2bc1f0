#if DRMAA_TSAN
import DRMAACore

/// ThreadSanitizer builds: a lock whose ordering TSan can see (a pthread mutex, `ForkSafeMutex`).
typealias Mutex = ForkSafeMutex
#endif
