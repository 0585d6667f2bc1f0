import CSQLite
import DRMAACore
import Foundation
import Glibc
import LocalDRMSpool
import Testing
import TestSupport

/// The SpoolCrashHelper executable, built next to the test bundle (`swift build --build-tests`
/// builds every target into the same directory).
func crashHelperPath() throws -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    try #require(count > 0)
    let exe = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let helper = String(exe[..<exe.lastIndex(of: "/")!]) + "/SpoolCrashHelper"
    try #require(access(helper, X_OK) == 0, "\(helper) is missing: build with `swift build --build-tests`")
    return helper
}

/// Starts the helper on `directory`, its stdout on a pipe; returns its pid and the pipe's read end.
func spawnHelper(_ helper: String, _ directory: String) throws -> (pid: pid_t, output: Int32) {
    var fds: [Int32] = [0, 0]
    try #require(pipe(&fds) == 0)
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    var actions = posix_spawn_file_actions_t()
    try #require(posix_spawn_file_actions_init(&actions) == 0)
    defer { posix_spawn_file_actions_destroy(&actions) }
    try #require(posix_spawn_file_actions_adddup2(&actions, fds[1], 1) == 0)
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup(helper), strdup(directory), nil]
    defer { argv.forEach { free($0) } }
    let rc = posix_spawn(&pid, helper, &actions, nil, argv, environ)
    close(fds[1])
    guard rc == 0 else {
        close(fds[0])
        throw DRMAAError(.internalError, "posix_spawn \(helper): \(String(cString: strerror(rc)))")
    }
    return (pid, fds[0])
}

/// Everything readable from `fd` until end of file.
func readAll(_ fd: Int32) -> String {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        bytes += chunk[..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The bytes from `fd` up to and including the first newline, or what came before `timeout` (or the end).
func firstLine(_ fd: Int32, timeoutMilliseconds timeout: Int32) -> String {
    var bytes: [UInt8] = []
    var byte: UInt8 = 0
    while bytes.last != UInt8(ascii: "\n") {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, timeout) > 0 else { break }
        let n = read(fd, &byte, 1)
        if n < 0 && errno == EINTR { continue }
        guard n == 1 else { break }
        bytes.append(byte)
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The helper's payload of task `task`.
func expectedPayload(_ task: Int) -> [UInt8] { (0..<200).map { UInt8(truncatingIfNeeded: task &* 31 &+ $0) } }

/// The integer the query `sql` returns, read with SQLite directly (as another program would).
func rawInteger(_ path: String, _ sql: String) throws -> Int64? {
    var db: OpaquePointer?
    try #require(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK)
    defer { sqlite3_close(db) }
    var statement: OpaquePointer?
    try #require(sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK)
    defer { sqlite3_finalize(statement) }
    return sqlite3_step(statement) == SQLITE_ROW ? sqlite3_column_int64(statement, 0) : nil
}

@Suite("Spool: kill -9 of a writer loses nothing committed and leaves nothing partial", .timeLimit(.minutes(2)))
struct SpoolCrashTests {
    @Test("a helper writing outcomes is killed with SIGKILL at random moments; every reported commit survives, whole")
    func killedWriter() throws {
        let helper = try crashHelperPath()
        let dir = try SpoolDirectory()
        var random = SplitMix64(seed: 0x5EED_0F_C4A5)
        var reported = 0
        var kills = 0
        for round in 0..<30 {
            let (pid, output) = try spawnHelper(helper, dir.path)
            // Every third round waits for the helper's first commit (on a slow machine, or under
            // TSan, 40 ms may not even see it open the spool); the others kill it at any moment.
            let first = round % 3 == 2 ? firstLine(output, timeoutMilliseconds: 60_000) : ""
            usleep(UInt32(random.next() % 40_000))  // 0 to 40 ms: while opening, migrating, writing
            #expect(kill(pid, SIGKILL) == 0)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            let lines = first + readAll(output)
            close(output)
            // Killed, or (never expected) exited with an error: the helper never ends by itself.
            #expect(status & 0x7f == SIGKILL, "the helper ended otherwise: status \(status), output \(lines)")
            kills += 1
            if let last = lines.split(separator: "\n").last.flatMap({ Int($0) }) { reported = max(reported, last) }

            let spool = try dir.open()
            let state = try spool.read { tx throws(DRMAAError) in
                (outcomes: try tx.unreapedOutcomes(ofSession: "crash"), jobs: try tx.allJobs())
            }
            let next = try rawInteger(spool.databasePath, "SELECT value FROM counters WHERE name = 'job'")
            let tasks = state.outcomes.map(\.key.task)
            #expect(tasks.count >= reported, "a reported commit was lost: \(tasks.count) outcomes, \(reported) reported")
            #expect(tasks.count % 3 == 0, "a transaction was partly kept: \(tasks.count) outcomes")
            #expect(tasks == Array(stride(from: 1, through: tasks.count, by: 1)))
            let torn = state.outcomes.filter { $0.payload != expectedPayload($0.key.task) }.map(\.key.task)
            #expect(torn.isEmpty, "outcomes with a wrong payload: \(torn)")
            #expect(state.jobs.isEmpty, "a job row of a transaction that recorded its outcome")
            // The id counter moved with the outcomes (one id for the submission, three per transaction).
            if tasks.count > 0 { #expect(next == Int64(tasks.count) + 2) }
            reported = max(reported, tasks.count)
        }
        print("spool crash test: \(kills) kills, \(reported) outcomes committed in all")
        #expect(reported > 0, "the helper never committed: kill moments too early?")
    }
}
