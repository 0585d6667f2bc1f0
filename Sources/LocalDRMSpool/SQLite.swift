import CSQLite
import DRMAACore

/// A value bound to a statement's parameter, or read from a column.
enum SQLValue {
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case null
}

/// The one place that calls SQLite: a connection and its cached prepared statements.
///
/// Nothing else in LocalDRMSpool calls an `sqlite3_*` function. SQL is always a `StaticString`,
/// so no statement can be built from values: every value is bound. Failures are `DRMAAError`s
/// naming the database file and SQLite's own message; `SQLITE_BUSY` (another process held the
/// lock longer than the busy timeout) is `TRY_LATER`, anything else `INTERNAL_ERROR`.
///
/// Not thread-safe: `Spool` keeps its one `Database` behind a `Mutex`.
final class Database {
    let path: String
    private let handle: OpaquePointer
    /// Prepared statements by the address of their SQL text (a literal's address never changes).
    private var statements: [UnsafeRawPointer: Statement] = [:]

    /// Opens (creating if needed) the database file at `path`, read-write, without SQLite's own
    /// locking (the caller serialises), with extended result codes.
    init(path: String, busyTimeoutMilliseconds: Int32) throws(DRMAAError) {
        self.path = path
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(handle)
            throw DRMAAError(.drmsInitFailed, "cannot open the spool database '\(path)': \(message)")
        }
        self.handle = handle
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement.handle) }
        sqlite3_close_v2(handle)
    }

    /// The error for result code `rc` of `operation`.
    func failure(_ rc: Int32, _ operation: String) -> DRMAAError {
        let primary = rc & 0xff
        let detail = String(cString: sqlite3_errmsg(handle))
        let code: ErrorCode = primary == SQLITE_BUSY || primary == SQLITE_LOCKED ? .tryLater : .internalError
        return DRMAAError(code, "spool database '\(path)': \(operation) failed: \(detail) (SQLite code \(rc))")
    }

    /// Runs SQL without values, possibly several statements (schema, pragmas, BEGIN/COMMIT).
    func execute(_ sql: StaticString) throws(DRMAAError) {
        let rc = sql.withUTF8Buffer { buffer in
            // A StaticString literal is NUL-terminated.
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count + 1) {
                sqlite3_exec(handle, $0, nil, nil, nil)
            }
        }
        guard rc == SQLITE_OK else { throw failure(rc, "\(sql)") }
    }

    /// The cached prepared statement of `sql`, reset and with no bindings.
    func statement(_ sql: StaticString) throws(DRMAAError) -> Statement {
        let key = UnsafeRawPointer(sql.utf8Start)
        if let cached = statements[key] { return cached }
        var prepared: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, key.assumingMemoryBound(to: CChar.self), Int32(sql.utf8CodeUnitCount),
                                    UInt32(SQLITE_PREPARE_PERSISTENT), &prepared, nil)
        guard rc == SQLITE_OK, let prepared else { throw failure(rc, "preparing \(sql)") }
        let statement = Statement(handle: prepared, database: self, sql: "\(sql)")
        statements[key] = statement
        return statement
    }

    /// Runs `sql` with `values` bound in order, for its effect; returns the number of rows changed.
    @discardableResult
    func run(_ sql: StaticString, _ values: SQLValue...) throws(DRMAAError) -> Int {
        let statement = try statement(sql)
        defer { statement.reset() }
        try statement.bind(values)
        while try statement.step() {}
        return Int(sqlite3_changes(handle))
    }

    /// Runs the query `sql` with `values` bound in order; `row` makes a value of each result row.
    func query<T>(_ sql: StaticString, _ values: SQLValue..., row: (Row) throws(DRMAAError) -> T) throws(DRMAAError) -> [T] {
        let statement = try statement(sql)
        defer { statement.reset() }
        try statement.bind(values)
        var rows: [T] = []
        while try statement.step() { rows.append(try row(Row(statement: statement))) }
        return rows
    }

    /// True inside a transaction (BEGIN … COMMIT/ROLLBACK).
    var inTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }
}

/// A prepared statement of a `Database`.
final class Statement {
    fileprivate let handle: OpaquePointer
    private unowned let database: Database
    private let sql: String

    fileprivate init(handle: OpaquePointer, database: Database, sql: String) {
        self.handle = handle
        self.database = database
        self.sql = sql
    }

    fileprivate func bind(_ values: [SQLValue]) throws(DRMAAError) {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .integer(let v): rc = sqlite3_bind_int64(handle, index, v)
            case .real(let v): rc = sqlite3_bind_double(handle, index, v)
            case .null: rc = sqlite3_bind_null(handle, index)
            case .text(var v):
                // An empty buffer has no base address, which SQLite would bind as NULL.
                rc = v.withUTF8 { bytes in
                    bytes.isEmpty ? sqlite3_bind_text(handle, index, "", 0, csqlite_transient())
                        : bytes.withMemoryRebound(to: CChar.self) {
                            sqlite3_bind_text(handle, index, $0.baseAddress, Int32($0.count), csqlite_transient())
                        }
                }
            case .blob(let v):
                rc = v.isEmpty ? sqlite3_bind_zeroblob(handle, index, 0)
                    : v.withUnsafeBytes { sqlite3_bind_blob(handle, index, $0.baseAddress, Int32($0.count), csqlite_transient()) }
            }
            guard rc == SQLITE_OK else { throw database.failure(rc, "binding parameter \(index) of \(sql)") }
        }
    }

    /// Steps once: true if a row is ready, false when done.
    fileprivate func step() throws(DRMAAError) -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw database.failure(rc, sql)
    }

    fileprivate func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }
}

/// The current result row of a query.
struct Row {
    fileprivate let statement: Statement

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement.handle, column) == SQLITE_NULL }
    func integer(_ column: Int32) -> Int64 { sqlite3_column_int64(statement.handle, column) }
    func real(_ column: Int32) -> Double { sqlite3_column_double(statement.handle, column) }
    func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(statement.handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement.handle, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }
    func blob(_ column: Int32) -> [UInt8] {
        let bytes = sqlite3_column_blob(statement.handle, column)
        let count = Int(sqlite3_column_bytes(statement.handle, column))
        guard let bytes, count > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }
}
