import CSQLite
import DRMAACore
import Foundation
import Glibc
import LocalDRMSpool
import LocalDRM
import Testing
import TestSupport

/// A fresh temporary directory for a spool (`path`, not yet made), removed with everything in it.
final class SpoolDirectory: Sendable {
    let root: String
    let path: String

    init() throws {
        root = NSTemporaryDirectory() + "drmaa-spool-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        path = root + "/state/swift-drmaa"
    }

    func open() throws -> Spool { try Spool(directory: path) }

    deinit { try? FileManager.default.removeItem(atPath: root) }
}

/// A session `key` with one submission of `kind`, in a new transaction; returns the submission's id.
@discardableResult
func addSubmission(_ spool: Spool, session key: String = "s1", kind: SubmissionKind = .single, held: Bool = false) throws -> Int64 {
    try spool.write { tx throws(DRMAAError) in
        if try tx.session(key) == nil { try tx.insertSession(SessionRecord(key: key, options: "-q", createdAt: 10)) }
        let id = try tx.reserveJobIDs(count: 1).lowerBound
        try tx.insertSubmission(SubmissionRecord(id: id, session: key, kind: kind, held: held, submittedAt: 11, payload: [9, 8, 7]))
        return id
    }
}

@Suite("Spool: the tables round-trip", .timeLimit(.minutes(1)))
struct SpoolRoundTripTests {
    @Test("sessions are stored, attached, closed, listed and deleted with their submissions")
    func sessions() throws {
        let dir = try SpoolDirectory()
        let spool = try dir.open()
        let record = SessionRecord(key: "abc", options: "slots=4\n-l h_rt=10", createdAt: 100.5)
        try spool.write { tx throws(DRMAAError) in try tx.insertSession(record) }
        #expect(try spool.read { tx throws(DRMAAError) in try tx.session("abc") } == record)
        try spool.write { tx throws(DRMAAError) in
            try tx.markClosed("abc", at: 200)
            try tx.insertSession(SessionRecord(key: "", options: "", createdAt: 1))
        }
        #expect(try spool.read { tx throws(DRMAAError) in try tx.session("abc")?.closedAt } == 200)
        try spool.write { tx throws(DRMAAError) in try tx.markAttached("abc", at: 300) }
        let reopened = try dir.open()
        let all = try reopened.read { tx throws(DRMAAError) in try tx.sessions() }
        #expect(all == [SessionRecord(key: "", options: "", createdAt: 1),
                        SessionRecord(key: "abc", options: record.options, createdAt: 100.5, lastAttachedAt: 300, closedAt: nil)])

        let duplicate = expectDRMAAError(.invalidArgument) { try reopened.write { tx throws(DRMAAError) in try tx.insertSession(record) } }
        #expect(duplicate?.message.contains("'abc'") == true)
        expectDRMAAError(.invalidContactString) { try reopened.write { tx throws(DRMAAError) in try tx.markClosed("nope", at: 1) } }

        let id = try addSubmission(reopened, session: "abc")
        try reopened.write { tx throws(DRMAAError) in try tx.deleteSession("abc") }
        #expect(try reopened.read { tx throws(DRMAAError) in try tx.submission(id) } == nil)
    }

    @Test("submissions keep their kind, tasks, hold, time and payload; bad ones are refused")
    func submissions() throws {
        let dir = try SpoolDirectory()
        let spool = try dir.open()
        let payload = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try spool.write { tx throws(DRMAAError) in
            try tx.insertSession(SessionRecord(key: "s", options: "", createdAt: 0))
            try tx.insertSubmission(SubmissionRecord(id: 1, session: "s", kind: .single, held: false, submittedAt: 1.25, payload: payload))
            try tx.insertSubmission(SubmissionRecord(id: 2, session: "s", kind: .bulk(first: 3, last: 11, step: 4), held: true, submittedAt: 2, payload: []))
        }
        let stored = try dir.open().read { tx throws(DRMAAError) in try tx.submissions(ofSession: "s") }
        #expect(stored.count == 2)
        #expect(stored.first == SubmissionRecord(id: 1, session: "s", kind: .single, held: false, submittedAt: 1.25, payload: payload))
        #expect(stored.last == SubmissionRecord(id: 2, session: "s", kind: .bulk(first: 3, last: 11, step: 4), held: true, submittedAt: 2, payload: []))
        #expect(stored.last?.unreaped == 3)

        let bad = expectDRMAAError(.invalidArgument) {
            try spool.write { tx throws(DRMAAError) in
                try tx.insertSubmission(SubmissionRecord(id: 3, session: "s", kind: .bulk(first: 0, last: 5, step: 1), held: false, submittedAt: 0, payload: []))
            }
        }
        #expect(bad?.message.contains("bulk job 3") == true)
        expectDRMAAError(.invalidArgument) {
            try spool.write { tx throws(DRMAAError) in
                try tx.insertSubmission(SubmissionRecord(id: 2, session: "s", kind: .single, held: false, submittedAt: 0, payload: []))
            }
        }
        expectDRMAAError(.invalidContactString) {
            try spool.write { tx throws(DRMAAError) in
                try tx.insertSubmission(SubmissionRecord(id: 4, session: "other", kind: .single, held: false, submittedAt: 0, payload: []))
            }
        }
        try spool.write { tx throws(DRMAAError) in try tx.deleteSubmission(1) }
        #expect(try spool.read { tx throws(DRMAAError) in try tx.submission(1) } == nil)
    }

    @Test("job rows keep state, shepherd identity and start time; only jobs of the submission have one")
    func jobs() throws {
        let dir = try SpoolDirectory()
        let spool = try dir.open()
        let bulk = try addSubmission(spool, kind: .bulk(first: 1, last: 9, step: 2), held: true)
        let single = try addSubmission(spool)
        let shepherd = ProcessIdentity(pid: 4242, startTime: 987_654_321)
        let rows = [
            JobRecord(key: JobKey(submission: bulk, task: 3), state: .queued),
            JobRecord(key: JobKey(submission: bulk, task: 5), state: .suspended, shepherd: shepherd, startedAt: 55.5),
            JobRecord(key: .single(single), state: .running, shepherd: shepherd, startedAt: 60),
        ]
        try spool.write { tx throws(DRMAAError) in for row in rows { try tx.putJob(row) } }
        try spool.write { tx throws(DRMAAError) in try tx.putJob(JobRecord(key: JobKey(submission: bulk, task: 3), state: .held)) }
        let reopened = try dir.open()
        #expect(try reopened.read { tx throws(DRMAAError) in try tx.job(JobKey(submission: bulk, task: 3))?.state } == .held)
        #expect(try reopened.read { tx throws(DRMAAError) in try tx.jobs(ofSubmission: bulk) }.map(\.key.task) == [3, 5])
        #expect(try reopened.read { tx throws(DRMAAError) in try tx.allJobs() }.last == rows.last)
        #expect(try reopened.read { tx throws(DRMAAError) in try tx.job(JobKey(submission: bulk, task: 5)) } == rows[1])

        for key in [JobKey(submission: bulk, task: 4), JobKey(submission: bulk, task: 11), JobKey(submission: single, task: 1), .single(999)] {
            let error = expectDRMAAError(.invalidJob) { try reopened.write { tx throws(DRMAAError) in try tx.putJob(JobRecord(key: key, state: .running)) } }
            #expect(error?.message.contains("'\(key)'") == true)
        }
        #expect(try reopened.write { tx throws(DRMAAError) in try tx.deleteJob(JobKey(submission: bulk, task: 3)) })
        #expect(try reopened.write { tx throws(DRMAAError) in try tx.deleteJob(JobKey(submission: bulk, task: 3)) } == false)
    }

    @Test("an outcome replaces the job row, is recorded once, and reaping drops it; the last reap deletes the submission")
    func outcomes() throws {
        let dir = try SpoolDirectory()
        let spool = try dir.open()
        let bulk = try addSubmission(spool, kind: .bulk(first: 1, last: 3, step: 1))
        let first = JobKey(submission: bulk, task: 1)
        try spool.write { tx throws(DRMAAError) in try tx.putJob(JobRecord(key: first, state: .running, startedAt: 5)) }
        let outcome = OutcomeRecord(key: first, session: "s1", finishedAt: 6, payload: [1, 2, 3, 4])
        #expect(try spool.write { tx throws(DRMAAError) in try tx.recordOutcome(outcome) })
        let again = OutcomeRecord(key: first, session: "s1", finishedAt: 7, payload: [0])
        #expect(try spool.write { tx throws(DRMAAError) in try tx.recordOutcome(again) } == false, "an outcome is recorded once")
        expectDRMAAError(.invalidJob) { try spool.write { tx throws(DRMAAError) in try tx.putJob(JobRecord(key: first, state: .running)) } }

        var reopened = try dir.open()
        #expect(try reopened.read { tx throws(DRMAAError) in try tx.job(first) } == nil)
        #expect(try reopened.read { tx throws(DRMAAError) in try tx.unreapedOutcomes(ofSession: "s1") } == [outcome])
        #expect(try reopened.write { tx throws(DRMAAError) in try tx.markReaped([first, first]) } == 1)
        let reaped = try #require(try reopened.read { tx throws(DRMAAError) in try tx.outcome(first) })
        #expect(reaped.reaped && reaped.payload.isEmpty)
        #expect(try reopened.read { tx throws(DRMAAError) in try tx.reapedTasks(ofSubmission: bulk) } == [1])
        #expect(try reopened.read { tx throws(DRMAAError) in try tx.unreapedOutcomes(ofSession: "s1") }.isEmpty)

        try reopened.write { tx throws(DRMAAError) in
            for task in 2...3 { try tx.recordOutcome(OutcomeRecord(key: JobKey(submission: bulk, task: task), session: "s1", finishedAt: Double(task * 100), payload: [UInt8(task)])) }
        }
        #expect(try reopened.write { tx throws(DRMAAError) in try tx.purgeOutcomes(finishedBefore: 250) } == 1)
        reopened = try dir.open()
        #expect(try reopened.read { tx throws(DRMAAError) in try tx.unreapedOutcomes(ofSession: "s1") }.map(\.key.task) == [3])
        #expect(try reopened.read { tx throws(DRMAAError) in try tx.submission(bulk)?.unreaped } == 1)
        try reopened.write { tx throws(DRMAAError) in _ = try tx.markReaped([JobKey(submission: bulk, task: 3)]) }
        #expect(try reopened.read { tx throws(DRMAAError) in try tx.submission(bulk) } == nil, "fully reaped: gone")
        #expect(try reopened.read { tx throws(DRMAAError) in try tx.outcome(first) } == nil)
        // An outcome file ingested again after its submission was reaped whole is skipped; a
        // job id never issued is refused.
        let late = OutcomeRecord(key: first, session: "s1", finishedAt: 6, payload: [1])
        #expect(try reopened.write { tx throws(DRMAAError) in try tx.recordOutcome(late) } == false)
        #expect(try reopened.read { tx throws(DRMAAError) in try tx.submission(bulk) } == nil)
        let never = OutcomeRecord(key: .single(bulk + 100), session: "s1", finishedAt: 6, payload: [1])
        expectDRMAAError(.invalidJob) { try reopened.write { tx throws(DRMAAError) in try tx.recordOutcome(never) } }
    }
}

@Suite("Spool: transactions, job ids and bulk jobs", .timeLimit(.minutes(1)))
struct SpoolTransactionTests {
    @Test("job ids are unique and increasing across reopening")
    func jobIDsAcrossReopen() throws {
        let dir = try SpoolDirectory()
        var seen: [Int64] = []
        for round in 0..<4 {
            let spool = try dir.open()
            for count in [1, 3, 1000] { seen += Array(try spool.nextJobIDs(count: count + round)) }
        }
        #expect(seen.first == 1)
        #expect(seen == Array(1...Int64(seen.count)))
        expectDRMAAError(.invalidArgument) { try dir.open().nextJobIDs(count: 0) }
    }

    @Test("a body that throws rolls back the whole transaction")
    func rollback() throws {
        let dir = try SpoolDirectory()
        let spool = try dir.open()
        expectDRMAAError(.invalidContactString) {
            try spool.write { tx throws(DRMAAError) in
                _ = try tx.reserveJobIDs(count: 5)
                try tx.insertSession(SessionRecord(key: "kept?", options: "", createdAt: 0))
                try tx.markClosed("missing", at: 1)
            }
        }
        #expect(try spool.read { tx throws(DRMAAError) in try tx.sessions() }.isEmpty)
        #expect(try spool.nextJobIDs(count: 1) == 1...1)
    }

    @Test("a read transaction refuses changes, and a spool used inside its own transaction refuses instead of deadlocking")
    func misuse() throws {
        let dir = try SpoolDirectory()
        let spool = try dir.open()
        expectDRMAAError(.internalError) { try spool.read { tx throws(DRMAAError) in try tx.reserveJobIDs(count: 1) } }
        let nested = expectDRMAAError(.internalError) { try spool.write { _ throws(DRMAAError) in try spool.nextJobIDs(count: 1) } }
        #expect(nested?.message.contains(spool.databasePath) == true)
        #expect(try spool.nextJobIDs(count: 1) == 1...1)
    }

    @Test("a bulk job of 100,000 held tasks is one submission row and no job row")
    func bulkIsOneRow() throws {
        let dir = try SpoolDirectory()
        let spool = try dir.open()
        try spool.write { tx throws(DRMAAError) in try tx.insertSession(SessionRecord(key: "s", options: "", createdAt: 0)) }
        let template = [UInt8](repeating: 0x41, count: 4096)  // a template with its environment
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            try spool.write { tx throws(DRMAAError) in
                let id = try tx.reserveJobIDs(count: 1).lowerBound
                try tx.insertSubmission(SubmissionRecord(id: id, session: "s", kind: .bulk(first: 1, last: 100_000, step: 1),
                                                         held: true, submittedAt: 1, payload: template))
            }
        }
        print("spool: a held bulk job of 100,000 tasks written in \(elapsed)")
        let stored = try dir.open().read { tx throws(DRMAAError) in (try tx.submissions(ofSession: "s"), try tx.allJobs()) }
        #expect(stored.0.count == 1)
        #expect(stored.0.first?.unreaped == 100_000)
        #expect(stored.1.isEmpty)
    }

    @Test("a shepherd's identity is its pid and start time, and tells a live process from a gone one")
    func processIdentity() throws {
        let me = try #require(ProcessIdentity.of(pid: getpid()))
        #expect(me.pid == getpid() && me.startTime > 0)
        #expect(me.isAlive)
        #expect(!ProcessIdentity(pid: me.pid, startTime: me.startTime + 1).isAlive, "a reused pid is another process")
        #expect(ProcessIdentity.of(pid: 0) == nil && ProcessIdentity.of(pid: -1) == nil)
    }
}

@Suite("Spool: what it refuses to open", .timeLimit(.minutes(1)))
struct SpoolRefusalTests {
    /// Runs `sql` on the spool's database file with SQLite directly, as another program would.
    func tamper(_ path: String, _ sql: String) throws {
        var db: OpaquePointer?
        #expect(sqlite3_open(path, &db) == SQLITE_OK)
        defer { sqlite3_close(db) }
        #expect(sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK)
    }

    @Test("a spool of a newer schema version is refused, naming both versions; the current one reopens")
    func newerSchema() throws {
        let dir = try SpoolDirectory()
        let path = try dir.open().databasePath
        _ = try dir.open()  // version 1 reopens
        try tamper(path, "UPDATE meta SET value = 2 WHERE name = 'schema_version'")
        let error = expectDRMAAError(.drmsInitFailed) { try dir.open() }
        #expect(error?.message.contains("schema version 2") == true && error?.message.contains("(1)") == true)
        #expect(error?.message.contains(path) == true)
    }

    @Test("a database that is not a spool is refused")
    func foreignDatabase() throws {
        let dir = try SpoolDirectory()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try tamper(dir.path + "/spool.db", "CREATE TABLE songs(title TEXT)")
        let error = expectDRMAAError(.drmsInitFailed) { try dir.open() }
        #expect(error?.message.contains("not a swift-drmaa spool") == true)
    }

    @Test("a missing directory is made with mode 0700, parents included")
    func makesDirectory() throws {
        let dir = try SpoolDirectory()
        _ = try dir.open()
        for path in [dir.path, dir.root + "/state"] {
            var info = stat()
            #expect(stat(path, &info) == 0)
            #expect(info.st_mode & 0o7777 == 0o700, "\(path)")
        }
        var info = stat()
        #expect(stat(dir.path + "/spool.db", &info) == 0 && info.st_mode & 0o077 == 0)
    }

    @Test("a directory that group or others can reach, or that is not a directory, is refused, naming it")
    func badDirectories() throws {
        let dir = try SpoolDirectory()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        chmod(dir.path, 0o750)
        let open = expectDRMAAError(.drmsInitFailed) { try dir.open() }
        #expect(open?.message.contains("'\(dir.path)' has mode 0750") == true)
        chmod(dir.path, 0o700)
        _ = try dir.open()

        let file = dir.root + "/plain"
        #expect(FileManager.default.createFile(atPath: file, contents: nil))
        let notDirectory = expectDRMAAError(.drmsInitFailed) { try Spool(directory: file) }
        #expect(notDirectory?.message.contains("'\(file)' exists but is not a directory") == true)
        expectDRMAAError(.drmsInitFailed) { try Spool(directory: "relative/dir") }
    }

    @Test("a directory of another user is refused (as root only)", .enabled(if: geteuid() == 0))
    func otherOwner() throws {
        let dir = try SpoolDirectory()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        #expect(chown(dir.path, 65534, 65534) == 0)
        let error = expectDRMAAError(.drmsInitFailed) { try dir.open() }
        #expect(error?.message.contains("belongs to uid 65534") == true)
    }

    @Test("the spool's place: DRMAA_LOCAL_STATE_DIR, else XDG_STATE_HOME, else HOME")
    func location() throws {
        #expect(try StateDirectory.path(environment: ["DRMAA_LOCAL_STATE_DIR": "/x/y", "XDG_STATE_HOME": "/s", "HOME": "/h"]) == "/x/y")
        #expect(try StateDirectory.path(environment: ["XDG_STATE_HOME": "/s/", "HOME": "/h"]) == "/s/swift-drmaa")
        #expect(try StateDirectory.path(environment: ["XDG_STATE_HOME": "rel", "HOME": "/h"]) == "/h/.local/state/swift-drmaa")
        #expect(try StateDirectory.path(environment: ["HOME": "/h"]) == "/h/.local/state/swift-drmaa")
        let error = expectDRMAAError(.drmsInitFailed) { try StateDirectory.path(environment: ["DRMAA_LOCAL_STATE_DIR": "rel/x"]) }
        #expect(error?.message.contains("'rel/x'") == true)
    }
}
