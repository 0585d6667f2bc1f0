import DRMAACore
import LocalDRM
import Glibc
import Synchronization

/// This module's locks are fork-safe (see `ForkSafeMutex` in DRMAACore).
typealias Mutex = ForkSafeMutex

/// A user's crash-safe spool: the sessions, submissions, started jobs and unreaped outcomes of
/// the durable mode's daemon, in one SQLite database (`spool.db`) in a directory of the user's.
///
/// Every change is a transaction (``write(_:)``): it is in the database entirely or not at all.
/// The database runs in WAL mode with `synchronous=NORMAL`: a committed transaction is in the
/// write-ahead log in the operating system's page cache before `write` returns, so a `kill -9`
/// of any process at any moment (the client, the daemon, a shepherd, this very writer) keeps
/// every committed transaction and no part of an uncommitted one. A power loss or an operating
/// system crash keeps the database consistent, but may lose the transactions committed since the
/// last checkpoint's `fsync` (at most a few seconds of work): they are rolled back whole, never
/// torn. Only the process that owns the spool (the daemon, under its lock file) should write it.
///
/// Thread safety: a `Spool` may be used from any thread. Every call holds one `Mutex` for its
/// whole transaction, so calls are serialised; a transaction's body must not call its spool
/// again (that is refused with `INTERNAL_ERROR` instead of deadlocking). It must not be used in
/// a child of `fork()`: SQLite connections do not survive it.
public final class Spool: Sendable {
    /// The directory the spool lives in.
    public let directory: String
    /// The database file, `<directory>/spool.db`.
    public let databasePath: String
    /// The schema version of the spool's tables.
    public static var schemaVersion: Int { Int(Schema.version) }

    private let database: Mutex<Database>
    /// The thread inside a transaction (pthread_t), 0 when none: read before locking only to
    /// refuse re-entrance, which only the owning thread itself can cause.
    private let owner = Atomic<UInt>(0)

    /// Opens the spool in `directory`, making the directory (mode 0700) and the database if they
    /// do not exist, and migrating an older schema.
    ///
    /// Refuses, with `DRMS_INIT_FAILED` naming the path: a directory that is not this user's or
    /// that group or others can access, a database file that is not a regular file, a database
    /// that is not a spool, and one with a newer schema version than this code knows.
    public init(directory: String) throws(DRMAAError) {
        try StateDirectory.prepare(directory)
        let path = directory.hasSuffix("/") ? directory + "spool.db" : directory + "/spool.db"
        try SpoolFiles.prepareDatabaseFile(path)
        let database = try Database(path: path, busyTimeoutMilliseconds: 5_000)
        do throws(DRMAAError) {
            let mode = try database.query("PRAGMA journal_mode = WAL") { $0.text(0) }
            guard mode.first?.lowercased() == "wal" else {
                throw DRMAAError(.drmsInitFailed, "the spool database '\(path)' cannot use a write-ahead log (journal mode \(mode.first ?? "none")); is its file system a network one?")
            }
            try database.execute("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
            try Schema.prepare(database)
        } catch where error.code == .drmsInitFailed {
            throw error
        } catch {
            throw DRMAAError(.drmsInitFailed, error.message)
        }
        self.directory = directory
        self.databasePath = path
        self.database = Mutex(database)
    }

    /// Opens the spool at the user's state directory (`StateDirectory.path()`).
    public convenience init() throws(DRMAAError) {
        try self.init(directory: StateDirectory.path())
    }

    /// Runs `body` in one write transaction (`BEGIN IMMEDIATE`), committed when it returns and
    /// rolled back if it throws: batch the changes of one event in one call.
    public func write<R: Sendable>(_ body: (borrowing SpoolTransaction) throws(DRMAAError) -> R) throws(DRMAAError) -> R {
        try transaction(writable: true, body)
    }

    /// Runs `body` in one read transaction: a consistent snapshot for several queries.
    public func read<R: Sendable>(_ body: (borrowing SpoolTransaction) throws(DRMAAError) -> R) throws(DRMAAError) -> R {
        try transaction(writable: false, body)
    }

    /// Reserves `count` consecutive job ids in a transaction of its own: unique for the user
    /// across restarts, increasing, never reused (the first is 1).
    public func nextJobIDs(count: Int) throws(DRMAAError) -> ClosedRange<Int64> {
        try write { tx throws(DRMAAError) in try tx.reserveJobIDs(count: count) }
    }

    private func transaction<R: Sendable>(writable: Bool, _ body: (borrowing SpoolTransaction) throws(DRMAAError) -> R) throws(DRMAAError) -> R {
        let me = UInt(pthread_self())
        guard owner.load(ordering: .relaxed) != me else {
            throw DRMAAError(.internalError, "the spool '\(databasePath)' was used inside one of its own transactions")
        }
        return try database.withLock { (database) throws(DRMAAError) -> R in
            owner.store(me, ordering: .relaxed)
            defer { owner.store(0, ordering: .relaxed) }
            try database.execute(writable ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED")
            let result: R
            do throws(DRMAAError) {
                result = try body(SpoolTransaction(database: database, writable: writable))
                try database.execute("COMMIT")
            } catch {
                if database.inTransaction { try? database.execute("ROLLBACK") }
                throw error
            }
            return result
        }
    }
}
