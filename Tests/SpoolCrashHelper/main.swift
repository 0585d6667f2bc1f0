// Writes outcomes into a spool, three per transaction, until it is killed; the crash test of
// LocalDRMSpoolTests kills it with SIGKILL at random moments and checks what survived.
//
// Usage: SpoolCrashHelper <spool directory>
// After each commit it writes the last committed task's index as one line on stdout (one
// write(2), so a line is whole or absent). Task t's outcome payload is `payload(t)`; the job id
// counter moves with the outcomes (3 ids per transaction), so a partial transaction would show.
import Glibc
import DRMAACore
import LocalDRMSpool

func payload(_ task: Int) -> [UInt8] { (0..<200).map { UInt8(truncatingIfNeeded: task &* 31 &+ $0) } }

func fail(_ message: String) -> Never {
    let line = Array("SpoolCrashHelper: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(2)
}

guard CommandLine.arguments.count == 2 else { fail("usage: SpoolCrashHelper <spool directory>") }
let session = "crash"
do throws(DRMAAError) {
    let spool = try Spool(directory: CommandLine.arguments[1])
    try spool.write { tx throws(DRMAAError) in
        guard try tx.session(session) == nil else { return }
        try tx.insertSession(SessionRecord(key: session, options: "", createdAt: 0))
        let id = try tx.reserveJobIDs(count: 1).lowerBound  // 1: the job ids after it are the tasks + 1
        try tx.insertSubmission(SubmissionRecord(id: id, session: session, kind: .bulk(first: 1, last: 100_000_000, step: 1),
                                                 held: false, submittedAt: 0, payload: [1, 2, 3]))
    }
    let me = ProcessIdentity.of(pid: getpid())
    while true {
        let last = try spool.write { tx throws(DRMAAError) -> Int in
            let ids = try tx.reserveJobIDs(count: 3)
            for id in ids {
                let key = JobKey(submission: 1, task: Int(id - 1))
                try tx.putJob(JobRecord(key: key, state: .running, shepherd: me, startedAt: Double(id)))
                try tx.recordOutcome(OutcomeRecord(key: key, session: session, finishedAt: Double(id), payload: payload(key.task)))
            }
            return Int(ids.upperBound - 1)
        }
        let line = Array("\(last)\n".utf8)
        guard line.withUnsafeBytes({ write(1, $0.baseAddress, $0.count) }) == line.count else { fail("cannot write to stdout") }
    }
} catch {
    fail(error.description)
}
