import DRMAACore

/// The spool's tables, and the path from every older version to the current one.
enum Schema {
    /// The version this code writes and reads.
    static let version: Int64 = 1

    /// Version 1, made in an empty database.
    ///
    /// Typed columns for what is looked up; BLOBs for what the daemon encodes (templates,
    /// outcomes). Times are seconds since the epoch (REAL). A submission is one row whatever its
    /// number of tasks; a job gets a row only when it leaves its submission's initial state; an
    /// outcome row stays until the job is reaped, then only its key (so that a restarted daemon
    /// does not queue a reaped task of a bulk job again) until its whole submission is reaped
    /// and deleted, with every row of it.
    static let version1: StaticString = """
        CREATE TABLE meta(
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE counters(
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL CHECK (value >= 1)
        ) WITHOUT ROWID;
        INSERT INTO counters(name, value) VALUES ('job', 1);
        CREATE TABLE sessions(
            key TEXT PRIMARY KEY,
            options TEXT NOT NULL,
            created_at REAL NOT NULL,
            last_attached_at REAL NOT NULL,
            closed_at REAL
        ) WITHOUT ROWID;
        CREATE TABLE submissions(
            id INTEGER PRIMARY KEY CHECK (id >= 1),
            session TEXT NOT NULL REFERENCES sessions(key) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('single', 'bulk')),
            first_task INTEGER NOT NULL,
            last_task INTEGER NOT NULL,
            step INTEGER NOT NULL,
            held INTEGER NOT NULL CHECK (held IN (0, 1)),
            submitted_at REAL NOT NULL,
            unreaped INTEGER NOT NULL CHECK (unreaped >= 0),
            payload BLOB NOT NULL,
            CHECK ((kind = 'single' AND first_task = 0 AND last_task = 0 AND step = 1)
                OR (kind = 'bulk' AND first_task >= 1 AND last_task >= first_task AND step >= 1))
        );
        CREATE INDEX submissions_by_session ON submissions(session);
        CREATE TABLE jobs(
            submission INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
            task INTEGER NOT NULL CHECK (task >= 0),
            state TEXT NOT NULL CHECK (state IN ('queued', 'held', 'running', 'suspended')),
            shepherd_pid INTEGER,
            shepherd_start_time INTEGER,
            started_at REAL,
            PRIMARY KEY (submission, task)
        ) WITHOUT ROWID;
        CREATE TABLE outcomes(
            submission INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
            task INTEGER NOT NULL CHECK (task >= 0),
            session TEXT NOT NULL,
            finished_at REAL NOT NULL,
            reaped INTEGER NOT NULL DEFAULT 0 CHECK (reaped IN (0, 1)),
            payload BLOB,
            PRIMARY KEY (submission, task)
        ) WITHOUT ROWID;
        CREATE INDEX outcomes_unreaped_by_session ON outcomes(session) WHERE reaped = 0;
        CREATE INDEX outcomes_unreaped_by_time ON outcomes(finished_at) WHERE reaped = 0;
        INSERT INTO meta(name, value) VALUES ('schema_version', 1);
        """

    /// `migrations[n]` takes a version n + 1 database to version n + 2, in the same transaction
    /// as the check; it must end by setting `schema_version`. None yet: version 1 is the first.
    static let migrations: [StaticString] = []

    /// Makes or upgrades the schema of `database`, in one write transaction; refuses a database
    /// that is not a spool, or one written by a newer version.
    static func prepare(_ database: Database) throws(DRMAAError) {
        try database.execute("BEGIN IMMEDIATE")
        do throws(DRMAAError) {
            let tables = try database.query("SELECT name FROM sqlite_schema WHERE type = 'table'") { $0.text(0) }
            if tables.isEmpty {
                try database.execute(version1)
            } else {
                guard tables.contains("meta") else {
                    throw DRMAAError(.drmsInitFailed, "'\(database.path)' is not a swift-drmaa spool (it has tables but no schema version); move it away")
                }
                let found = try database.query("SELECT value FROM meta WHERE name = 'schema_version'") { $0.integer(0) }
                guard let current = found.first else {
                    throw DRMAAError(.drmsInitFailed, "the spool '\(database.path)' has no schema version; move it away")
                }
                guard current <= version else {
                    throw DRMAAError(.drmsInitFailed, "the spool '\(database.path)' has schema version \(current), newer than this version of swift-drmaa understands (\(version)): use the newer drmaad, or move the spool away")
                }
                guard current >= 1 else {
                    throw DRMAAError(.drmsInitFailed, "the spool '\(database.path)' has the invalid schema version \(current)")
                }
                for step in Int(current - 1)..<Int(version - 1) { try database.execute(migrations[step]) }
            }
            try database.execute("COMMIT")
        } catch {
            try? database.execute("ROLLBACK")
            throw error
        }
    }
}
