#if DRMAA_TSAN
import DRMAACore

/// ThreadSanitizer builds: a `Mutex` whose ordering TSan can see (see `TracedMutex`).
typealias Mutex = TracedMutex
#endif
