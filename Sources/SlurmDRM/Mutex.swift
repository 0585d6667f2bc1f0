import DRMAACore

/// This module's locks are fork-safe (see `ForkSafeMutex` in DRMAACore).
typealias Mutex = ForkSafeMutex
