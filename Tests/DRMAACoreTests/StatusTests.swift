import Foundation
import Testing
@testable import DRMAACore
import EmbeddedDRM

/// The 11 `DRMAA_PS_*` values.
let definedStateValues: Set<Int32> = [0x00, 0x10, 0x11, 0x12, 0x13, 0x20, 0x21, 0x22, 0x23, 0x30, 0x40]

/// Checks the invariants every decoded stat must satisfy, whatever its raw value.
private func expectConsistent(_ status: JobStatus, sourceLocation: SourceLocation = #_sourceLocation) {
    let raw = status.rawValue
    #expect(!(status.exited && status.signaled), "stat \(raw)", sourceLocation: sourceLocation)
    #expect((0...255).contains(status.exitStatus), "stat \(raw)", sourceLocation: sourceLocation)
    #expect(status.exited || status.exitStatus == 0, "stat \(raw)", sourceLocation: sourceLocation)
    #expect(status.signaled || status.signalNumber == 0, "stat \(raw)", sourceLocation: sourceLocation)
    #expect(status.signalNumber >= 0, "stat \(raw)", sourceLocation: sourceLocation)
    #expect(status.signalName.isEmpty == !status.signaled, "stat \(raw)", sourceLocation: sourceLocation)
    #expect(status.signaled || !status.coreDumped, "stat \(raw)", sourceLocation: sourceLocation)
    #expect(!(status.aborted && (status.exited || status.signaled)), "stat \(raw)", sourceLocation: sourceLocation)
    #expect(status.signalName.utf8.count < 32, "stat \(raw)", sourceLocation: sourceLocation)
}

@Suite("Job states, stat decoding and error codes", .timeLimit(.minutes(1)))
struct StatusTests {
    @Test("§10.80 stat 0, -1 and random values decode to consistent flags")
    func item80_statDecoding() {
        let zero = JobStatus(rawValue: 0)
        #expect(!zero.exited && !zero.signaled && !zero.coreDumped && !zero.aborted)
        #expect(zero.exitStatus == 0 && zero.signalName == "")
        let minusOne = JobStatus(rawValue: -1)
        #expect(!minusOne.exited && !minusOne.signaled && !minusOne.coreDumped)
        #expect(minusOne.exitStatus == 0 && minusOne.signalName == "")
        expectConsistent(zero)
        expectConsistent(minusOne)
        for raw: Int32 in [1, 2, 4, 8, 0xF, 0x31, 0x9002, 0x9006, Int32.max, Int32.min, 0x7FFF_FFF2, -2, -16] {
            expectConsistent(JobStatus(rawValue: raw))
        }
        var generator = SplitMix64(seed: 0xD12A_A10)
        for _ in 0..<20_000 {
            expectConsistent(JobStatus(rawValue: Int32(truncatingIfNeeded: generator.next())))
        }
    }

    @Test("§10.80 encoding then decoding a termination gives it back")
    func item80_roundTrip() {
        for status: Int32 in [0, 1, 3, 127, 128, 255] {
            let s = JobStatus(.exited(status: status))
            #expect(s.exited && !s.signaled && !s.aborted && !s.coreDumped)
            #expect(s.exitStatus == status)
            #expect(s.signalName == "")
        }
        #expect(JobStatus(.exited(status: 3)).rawValue == 0x31)
        for signal: Int32 in 1...64 {
            for core in [false, true] {
                let s = JobStatus(.signaled(signal: signal, coreDumped: core))
                #expect(s.signaled && !s.exited && !s.aborted)
                #expect(s.signalNumber == signal)
                #expect(s.coreDumped == core)
                #expect(s.exitStatus == 0)
                #expect(!s.signalName.isEmpty)
                expectConsistent(s)
            }
        }
        #expect(JobStatus(.signaled(signal: 9, coreDumped: false)).rawValue == 0x9002)
        let aborted = JobStatus(.aborted(reason: "x"))
        #expect(aborted.rawValue == 0x8)
        #expect(aborted.aborted && !aborted.exited && !aborted.signaled && aborted.exitStatus == 0)
    }

    @Test("§10.81 the signal name is empty unless signalled, and a POSIX name when signalled")
    func item81_signalNames() {
        #expect(JobStatus(.exited(status: 9)).signalName == "")
        #expect(JobStatus(.aborted(reason: "")).signalName == "")
        #expect(JobStatus(rawValue: 0).signalName == "")
        #expect(JobStatus(.signaled(signal: 9, coreDumped: false)).signalName == "SIGKILL")
        #expect(JobStatus(.signaled(signal: 15, coreDumped: false)).signalName == "SIGTERM")
        #expect(JobStatus(.signaled(signal: 11, coreDumped: true)).signalName == "SIGSEGV")
        #expect(SignalNames.name(of: 2) == "SIGINT")
        #expect(SignalNames.name(of: 6) == "SIGABRT")
        #expect(SignalNames.name(of: 34) == "SIGRTMIN")
        #expect(SignalNames.name(of: 35) == "SIGRTMIN+1")
        #expect(SignalNames.name(of: 200).hasPrefix("SIG"))
        for signal: Int32 in 1...31 {
            let name = SignalNames.name(of: signal)
            #expect(name.hasPrefix("SIG") && name.count > 3)
        }
    }

    @Test("§10.82 JobInfo flags follow the encoded stat for every kind of outcome")
    func item82_jobInfoFlags() {
        let cases: [Termination] = [.exited(status: 0), .exited(status: 42), .signaled(signal: 9, coreDumped: false),
                                    .signaled(signal: 6, coreDumped: true), .aborted(reason: "terminated")]
        for termination in cases {
            let info = JobInfo(jobID: "1", outcome: JobOutcome(termination: termination, usage: ResourceUsage()))
            #expect(info.hasExited == info.status.exited)
            #expect(info.hasSignal == info.status.signaled)
            #expect(info.exitStatus == info.status.exitStatus)
            #expect(info.terminatedSignal == info.status.signalName)
            #expect(info.hasCoreDump == info.status.coreDumped)
            #expect(info.wasAborted == info.status.aborted)
            #expect(info.hasResourceUsage)
            #expect(info.outcome.finalState == (info.wasAborted ? .failed : .done))
        }
    }

    @Test("§10.83 jobStatus only ever yields the 11 defined values through a job's whole life")
    func item83_onlyDefinedStates() throws {
        #expect(Set(JobState.allCases.map(\.rawValue)) == definedStateValues)
        #expect(JobState.allCases.count == 11)
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        var seen: [JobState] = []
        func poll(_ id: String) throws {
            let state = try session.jobStatus(id)
            #expect(definedStateValues.contains(state.rawValue))
            seen.append(state)
        }
        let id = try session.runJob(commandTemplate())
        try poll(id)
        try session.control(id, .hold); try poll(id)
        try session.control(id, .release); try poll(id)
        backend.start(id); try poll(id)
        try session.control(id, .suspend); try poll(id)
        try session.control(id, .resume); try poll(id)
        backend.finish(id, .exited(status: 1)); try poll(id)
        #expect(seen == [.queuedActive, .userOnHold, .queuedActive, .running, .userSuspended, .running, .done])
        let failed = try session.runJob(commandTemplate())
        backend.start(failed)
        try session.control(failed, .terminate)
        try poll(failed)
        #expect(seen.last == .failed)
    }

    @Test("§10.84 jobStatus of a running job is RUNNING (0x20)")
    func item84_running() throws {
        let (session, system) = try makeSession()
        let id = try session.runJob(commandTemplate())
        try system.requireBackend().start(id)
        #expect(try session.jobStatus(id) == .running)
    }

    @Test("§10.85 jobStatus before initialize and after exit is NO_ACTIVE_SESSION")
    func item85_statusNeedsSession() throws {
        let session = Session(system: EmbeddedDRM())
        expectDRMAAError(.noActiveSession) { try session.jobStatus("1") }
        try session.initialize()
        let id = try session.runJob(commandTemplate())
        #expect(try session.jobStatus(id) == .queuedActive)
        try session.exit()
        expectDRMAAError(.noActiveSession) { try session.jobStatus(id) }
    }

    @Test("§10.86 jobStatus of an unknown or empty id is INVALID_JOB")
    func item86_unknownID() throws {
        let (session, _) = try makeSession()
        for id in ["", "nope", "1.2.3", Session.jobIDsSessionAll, Session.jobIDsSessionAny] {
            expectDRMAAError(.invalidJob) { try session.jobStatus(id) }
        }
    }

    @Test("§10.87 jobStatus of a bulk parent id is INVALID_JOB; each task id has a valid state")
    func item87_bulkParentStatus() throws {
        let (session, system) = try makeSession()
        let backend = try system.requireBackend()
        let tasks = try session.runBulkJobs(commandTemplate(), beginIndex: 1, endIndex: 3, step: 1)
        let parent = String(tasks[0].split(separator: ".")[0])
        let error = expectDRMAAError(.invalidJob) { try session.jobStatus(parent) }
        #expect(error?.message.contains(parent) == true)
        expectDRMAAError(.invalidJob) { try session.wait(parent, timeout: .noWait) }
        backend.start(tasks[1])
        backend.finish(tasks[2], .exited(status: 0))
        #expect(try session.jobStatus(tasks[0]) == .queuedActive)
        #expect(try session.jobStatus(tasks[1]) == .running)
        #expect(try session.jobStatus(tasks[2]) == .done)
        // A task id that does not exist is unknown.
        expectDRMAAError(.invalidJob) { try session.jobStatus("\(parent).4") }
    }

    @Test("JobState names and classification")
    func stateNames() {
        #expect(JobState.allCases.map(\.name) == [
            "undetermined", "queued_active", "system_on_hold", "user_on_hold", "user_system_on_hold", "running",
            "system_suspended", "user_suspended", "user_system_suspended", "done", "failed",
        ])
        for state in JobState.allCases {
            #expect(state.isFinished == (state == .done || state == .failed))
            #expect(state.isPending == [.queuedActive, .systemOnHold, .userOnHold, .userSystemOnHold].contains(state))
            #expect(state.isStarted == [.running, .systemSuspended, .userSuspended, .userSystemSuspended].contains(state))
            #expect(state.description == state.name)
        }
    }

    @Test("§10.4 every one of the 26 error codes has a non-empty standard message and its C name")
    func item4_errorCodeMessages() {
        #expect(ErrorCode.allCases.count == 26)
        #expect(ErrorCode.allCases.map(\.rawValue) == Array(0...25))
        var messages: Set<String> = []
        for code in ErrorCode.allCases {
            #expect(!code.standardMessage.isEmpty, "\(code)")
            #expect(code.constantName.hasPrefix("DRMAA_ERRNO_"))
            #expect(code.description == code.constantName)
            messages.insert(code.standardMessage)
        }
        #expect(messages.count == 26)
        #expect(ErrorCode(rawValue: 26) == nil)
        #expect(ErrorCode(rawValue: -1) == nil)
        #expect(ErrorCode.invalidJob.constantName == "DRMAA_ERRNO_INVALID_JOB")
        #expect(ErrorCode.noMoreElements.rawValue == 25)
        #expect(ErrorCode.exitTimeout.rawValue == 23)
        #expect(ErrorCode.deniedByDRM.rawValue == 17)
        #expect(ErrorCode.table.map(\.code) == ErrorCode.allCases, "one row per code, in raw-value order")
    }

    @Test("every error code's C name and value are those of our drmaa.h")
    func errorCodesMatchHeader() throws {
        let header = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/DRMAA/include/drmaa.h").path
        let text = try String(contentsOfFile: header, encoding: .utf8)
        for code in ErrorCode.allCases {
            #expect(text.contains("    \(code.constantName) = \(code.rawValue),"), "\(code.constantName) = \(code.rawValue) in drmaa.h")
        }
    }

    @Test("§10.95 a DRMAAError message is never empty: an empty one falls back to the standard text")
    func item95_errorMessageNeverEmpty() {
        for code in ErrorCode.allCases {
            let error = DRMAAError(code, "")
            #expect(error.message == code.standardMessage)
            #expect(!error.message.isEmpty)
            #expect(error.description == "code \(code.rawValue): \(code.standardMessage)")
            let specific = DRMAAError(code)
            #expect(!specific.message.isEmpty)
        }
        #expect(DRMAAError(.invalidJob, "job 7 is gone").message == "job 7 is gone")
        #expect(DRMAAError(.invalidJob, "job 7 is gone").description == "code 18: job 7 is gone")
    }
}
