import Testing
@testable import DRMAACore
import EmbeddedDRM

@Suite("Submission: runJob and runBulkJobs", .timeLimit(.minutes(1)))
struct SubmissionTests {
    @Test("§10.31 changing or deleting the template after runJob does not change the submitted job")
    func item31_templateCopiedAtSubmission() throws {
        let (session, system) = try makeSession()
        var template = commandTemplate("/bin/echo", ["one"])
        template.jobName = "before"
        template.outputPath = ":/tmp/before"
        let id = try session.runJob(template)
        template.remoteCommand = "/bin/false"
        template.args = ["two"]
        template.jobName = "after"
        template.outputPath = ":/tmp/after"
        template.jobSubmissionState = .hold
        session.deleteJobTemplate(template)
        let request = try #require(try system.lastRequests().first)
        #expect(request.jobID == id)
        #expect(request.remoteCommand == "/bin/echo")
        #expect(request.arguments == ["one"])
        #expect(request.jobName == "before")
        #expect(request.outputPath == "/tmp/before")
        #expect(!request.hold)
        #expect(try session.jobStatus(id) == .queuedActive)
        // Reusing the changed template submits a job with the new values.
        let second = try session.runJob(template)
        let again = try #require(try system.lastRequests().first)
        #expect(again.jobID == second)
        #expect(again.remoteCommand == "/bin/false")
        #expect(again.hold)
        #expect(try session.jobStatus(second) == .userOnHold)
    }

    @Test("§10.33 runJob without drmaa_remote_command is DENIED_BY_DRM and records no job")
    func item33_noRemoteCommand() throws {
        let (session, system) = try makeSession()
        var template = JobTemplate()
        template.args = ["x"]
        expectDRMAAError(.deniedByDRM) { try session.runJob(template) }
        expectDRMAAError(.deniedByDRM) { try session.runBulkJobs(template, beginIndex: 1, endIndex: 3, step: 1) }
        try template.setAttribute("drmaa_remote_command", "")
        expectDRMAAError(.deniedByDRM) { try session.runJob(template) }
        #expect(try system.requireBackend().submitted.isEmpty)
        expectDRMAAError(.invalidJob) { try session.wait(Session.jobIDsSessionAny, timeout: .noWait) }
    }

    @Test("§10.34 job ids are non-empty, printable, shorter than 128 bytes and unique")
    func item34_jobIDs() throws {
        let (session, _) = try makeSession()
        var ids: [String] = []
        for _ in 0..<50 { ids.append(try session.runJob(commandTemplate())) }
        ids += try session.runBulkJobs(commandTemplate(), beginIndex: 1, endIndex: 20, step: 1)
        let (other, _) = try makeSession()
        for _ in 0..<10 { ids.append(try other.runJob(commandTemplate())) }
        for id in ids {
            #expect(!id.isEmpty)
            #expect(id.utf8.count < 128)
            #expect(id.unicodeScalars.allSatisfy { $0.isASCII && $0.value >= 0x21 && $0.value < 0x7F }, "\(id)")
            #expect(id != Session.jobIDsSessionAny && id != Session.jobIDsSessionAll)
        }
        #expect(Set(ids).count == ids.count)
    }

    @Test("§10.34 job ids are never reused across sessions")
    func item34_idsNotReusedAcrossSessions() throws {
        let (session, _) = try makeSession()
        let first = try session.runJob(commandTemplate())
        try session.exit()
        try session.initialize()
        let second = try session.runJob(commandTemplate())
        #expect(first != second)
    }

    @Test("§10.35 argv reaches the backend unchanged (no shell, no placeholder expansion)")
    func item35_argvUnchanged() throws {
        let (session, system) = try makeSession()
        let argv = ["a b", "\"q\"", "'s'", "$HOME", "*", "", "$drmaa_hd_ph$/x", "$drmaa_wd_ph$", "$drmaa_incr_ph$", "a;b|c"]
        _ = try session.runJob(commandTemplate("/bin/echo", argv))
        #expect(try system.lastRequests()[0].arguments == argv)
        _ = try session.runBulkJobs(commandTemplate("/bin/echo", argv), beginIndex: 1, endIndex: 2, step: 1)
        for request in try system.lastRequests() { #expect(request.arguments == argv) }
    }

    @Test("§10.36 drmaa_v_env entries reach the backend split at the first '=', in order")
    func item36_environmentSplit() throws {
        let (session, system) = try makeSession()
        var template = commandTemplate()
        try template.setVectorAttribute("drmaa_v_env", ["A=1", "B=x=y", "EMPTY=", "NOVALUE", "A=2", "P=$drmaa_hd_ph$"])
        _ = try session.runJob(template)
        let environment = try system.lastRequests()[0].environment
        #expect(environment.map(\.name) == ["A", "B", "EMPTY", "NOVALUE", "A", "P"])
        #expect(environment.map(\.value) == ["1", "x=y", "", "", "2", "$drmaa_hd_ph$"])
    }

    @Test("§10.41 an unparseable drmaa_start_time or drmaa_deadline_time is DENIED_BY_DRM at runJob", arguments: [
        "garbage", "25:00", "", "12:00 +99:00", "13/40 10:00",
    ])
    func item41_badStartTime(_ text: String) throws {
        let (session, system) = try makeSession()
        var template = commandTemplate()
        try template.setAttribute("drmaa_start_time", text)   // not validated at set time
        expectDRMAAError(.deniedByDRM) { try session.runJob(template) }
        expectDRMAAError(.deniedByDRM) { try session.runBulkJobs(template, beginIndex: 1, endIndex: 2, step: 1) }
        var deadline = commandTemplate()
        try deadline.setAttribute("drmaa_deadline_time", text)
        expectDRMAAError(.deniedByDRM) { try session.runJob(deadline) }
        #expect(try system.requireBackend().submitted.isEmpty)
    }

    @Test("§10.42 drmaa_start_time and drmaa_deadline_time reach the backend resolved to instants")
    func item42_startTimeResolved() throws {
        // 2002-09-03 17:00 at UTC-07:00, as in the digest's examples but in a western zone.
        let offset = -7 * 3600
        let (session, system) = try makeSession(
            clock: FixedClock(digestNow - Double(offset)), timeZone: FixedOffsetTimeZone(secondsEastOfUTC: offset))
        var template = commandTemplate()
        template.startTime = "16:47"
        template.deadlineTime = "03 16:47"
        _ = try session.runJob(template)
        let request = try system.lastRequests()[0]
        #expect(request.startTime == 1_031_158_020 - Int64(offset))   // 2002-09-04 16:47 local
        #expect(request.deadlineTime == 1_033_663_620 - Int64(offset))  // 2002-10-03 16:47 local
        #expect(request.submissionTime == digestNow - Double(offset))
        _ = try session.runJob(commandTemplate())
        #expect(try system.lastRequests()[0].startTime == nil)
        #expect(try system.lastRequests()[0].deadlineTime == nil)
    }

    @Test("§10.43 runBulkJobs(1, 2, 1) gives ids N.1 and N.2")
    func item43_bulkIDs() throws {
        let (session, system) = try makeSession()
        let ids = try session.runBulkJobs(commandTemplate(), beginIndex: 1, endIndex: 2, step: 1)
        #expect(ids.count == 2)
        let parent = try #require(ids.first?.split(separator: ".").first.map(String.init))
        #expect(!parent.isEmpty)
        #expect(ids == ["\(parent).1", "\(parent).2"])
        let requests = try system.lastRequests()
        #expect(requests.map(\.jobID) == ids)
        #expect(requests.map(\.taskIndex) == [1, 2])
        #expect(requests.allSatisfy { $0.bulkJobID == parent })
        for id in ids { #expect(try session.jobStatus(id) == .queuedActive) }
        // A plain job has no bulk id.
        _ = try session.runJob(commandTemplate())
        #expect(try system.lastRequests()[0].bulkJobID == nil)
        #expect(try system.lastRequests()[0].taskIndex == nil)
    }

    @Test("§10.44 runBulkJobs(1, 10, 3) gives 4 tasks with indexes 1, 4, 7, 10", arguments: [
        (1, 10, 3, [1, 4, 7, 10]), (1, 11, 3, [1, 4, 7, 10]), (5, 5, 1, [5]), (2, 9, 100, [2]),
        (3, 8, 2, [3, 5, 7]),
    ])
    func item44_bulkIndexes(_ begin: Int, _ end: Int, _ step: Int, _ indexes: [Int]) throws {
        let (session, system) = try makeSession()
        let ids = try session.runBulkJobs(commandTemplate(), beginIndex: begin, endIndex: end, step: step)
        let parent = try #require(ids.first?.split(separator: ".").first.map(String.init))
        #expect(ids == indexes.map { "\(parent).\($0)" })
        #expect(try system.lastRequests().map(\.taskIndex) == indexes)
        #expect(try system.requireBackend().submitted.count == 1)
    }

    @Test("§10.45 runBulkJobs with begin < 1, end < begin or step < 1 is INVALID_ARGUMENT", arguments: [
        (0, 2, 1), (-1, 2, 1), (3, 2, 1), (1, 2, 0), (1, 2, -1), (1, 0, 1), (1, Int(Int32.max) + 1, 1),
    ])
    func item45_bulkInvalidRange(_ begin: Int, _ end: Int, _ step: Int) throws {
        let (session, system) = try makeSession()
        expectDRMAAError(.invalidArgument) { try session.runBulkJobs(commandTemplate(), beginIndex: begin, endIndex: end, step: step) }
        #expect(try system.requireBackend().submitted.isEmpty)
    }

    @Test("§10.47 drmaa_js_state = drmaa_hold gives USER_ON_HOLD (0x12)")
    func item47_submitOnHold() throws {
        let (session, system) = try makeSession()
        var template = commandTemplate()
        try template.setAttribute("drmaa_js_state", "drmaa_hold")
        let id = try session.runJob(template)
        #expect(try session.jobStatus(id) == .userOnHold)
        #expect(try session.jobStatus(id).rawValue == 0x12)
        #expect(try system.lastRequests()[0].hold)
        for task in try session.runBulkJobs(template, beginIndex: 1, endIndex: 3, step: 1) {
            #expect(try session.jobStatus(task) == .userOnHold)
        }
        // A held job does not start.
        try system.requireBackend().start(id)
        #expect(try session.jobStatus(id) == .userOnHold)
    }

    @Test("A backend refusal (validate) is DENIED_BY_DRM and records no job")
    func backendValidateRefusal() throws {
        let (session, system) = try makeSession()
        var template = commandTemplate()
        template.nativeSpecification = "-l x \(EmbeddedBackend.refusedNativeOption)"
        let error = expectDRMAAError(.deniedByDRM) { try session.runJob(template) }
        #expect(error?.message.contains(EmbeddedBackend.refusedNativeOption) == true)
        expectDRMAAError(.deniedByDRM) { try session.runBulkJobs(template, beginIndex: 1, endIndex: 3, step: 1) }
        #expect(try system.requireBackend().submitted.isEmpty)
        expectDRMAAError(.invalidJob) { try session.wait(Session.jobIDsSessionAny, timeout: .noWait) }
        try session.synchronize([Session.jobIDsSessionAll], timeout: .noWait)
        try session.control(Session.jobIDsSessionAll, .terminate)
        // An accepted native specification passes through.
        template.nativeSpecification = "-l h_vmem=1G"
        template.jobCategory = "cat"
        _ = try session.runJob(template)
        #expect(try system.lastRequests()[0].nativeSpecification == "-l h_vmem=1G")
        #expect(try system.lastRequests()[0].jobCategory == "cat")
    }

    @Test("A refused bulk submission leaves no bulk parent behind")
    func refusedBulkLeavesNothing() throws {
        let (session, _) = try makeSession()
        var template = commandTemplate()
        template.nativeSpecification = EmbeddedBackend.refusedNativeOption
        expectDRMAAError(.deniedByDRM) { try session.runBulkJobs(template, beginIndex: 1, endIndex: 3, step: 1) }
        let ids = try session.runBulkJobs(commandTemplate(), beginIndex: 1, endIndex: 1, step: 1)
        let parent = String(ids[0].split(separator: ".")[0])
        // The refused bulk job's id would be one less; it is unknown.
        let refused = String(Int(parent)! - 1)
        expectDRMAAError(.invalidJob) { try session.control(refused, .terminate) }
        expectDRMAAError(.invalidJob) { try session.control("\(refused).1", .terminate) }
    }

    @Test("The request carries the job name (default: the command's base name), join_files and limits")
    func requestFields() throws {
        let (session, system) = try makeSession()
        var template = commandTemplate("/usr/bin/env", [])
        try template.setAttribute("drmaa_join_files", "y")
        try template.setAttribute("drmaa_wct_hlimit", "1:00:00")
        try template.setAttribute("drmaa_wct_slimit", "1:30")
        try template.setAttribute("drmaa_duration_hlimit", "0:90")
        try template.setAttribute("drmaa_duration_slimit", "5")
        _ = try session.runJob(template)
        var request = try system.lastRequests()[0]
        #expect(request.jobName == "env")
        #expect(request.joinFiles)
        #expect(request.hardWallclockLimit == 3600)
        #expect(request.softWallclockLimit == 90)
        #expect(request.hardRunDurationLimit == 90)
        #expect(request.softRunDurationLimit == 5)
        #expect(request.inputPath == nil && request.outputPath == nil && request.errorPath == nil)
        template.jobName = "named"
        template.remoteCommand = "python"
        _ = try session.runJob(template)
        request = try system.lastRequests()[0]
        #expect(request.jobName == "named")
        #expect(request.remoteCommand == "python")
        template.jobName = nil
        _ = try session.runJob(template)
        #expect(try system.lastRequests()[0].jobName == "python")
        // An empty name counts as none (it would make hidden files such as `.o7`).
        template.jobName = ""
        template.remoteCommand = "/usr/bin/python3"
        _ = try session.runJob(template)
        #expect(try system.lastRequests()[0].jobName == "python3")
    }

    @Test("A bulk job of more than Session.maximumBulkTasks tasks is DENIED_BY_DRM and records nothing")
    func bulkTaskLimit() throws {
        let (session, system) = try makeSession()
        let error = expectDRMAAError(.deniedByDRM) {
            try session.runBulkJobs(commandTemplate(), beginIndex: 1, endIndex: Session.maximumBulkTasks + 1, step: 1)
        }
        #expect(error?.message.contains("\(Session.maximumBulkTasks)") == true)
        #expect(try system.requireBackend().submitted.isEmpty)
        // The limit counts tasks, not the index range.
        let ids = try session.runBulkJobs(commandTemplate(), beginIndex: 1, endIndex: 3 * Session.maximumBulkTasks, step: Session.maximumBulkTasks)
        #expect(ids.count == 3)
    }
}

@Suite("Submission: lazy task requests", .timeLimit(.minutes(1)))
struct LazySubmissionTests {
    @Test("a bulk submission makes each task's request on demand, with that task's placeholders")
    func perTaskRequests() throws {
        let (session, system) = try makeSession()
        var template = commandTemplate("/bin/echo", ["x"])
        template.workingDirectory = "$drmaa_hd_ph$/run.$drmaa_incr_ph$"
        template.outputPath = ":$drmaa_wd_ph$/out"
        template.errorPath = ":/logs/err.$drmaa_incr_ph$"
        template.inputPath = ":/data/in"
        let ids = try session.runBulkJobs(template, beginIndex: 2, endIndex: 8, step: 3)
        let requests = try system.lastRequests()
        #expect(requests.map(\.jobID) == ids)
        #expect(requests.map(\.taskIndex) == [2, 5, 8])
        for (request, index) in zip(requests, [2, 5, 8]) {
            let bulk = String(ids[0].split(separator: ".")[0])
            #expect(request.bulkJobID == bulk)
            #expect(request.workingDirectory.hasSuffix("/run.\(index)"))
            #expect(request.outputPath == request.workingDirectory + "/out")
            #expect(request.errorPath == "/logs/err.\(index)")
            #expect(request.inputPath == "/data/in")
            #expect(request.remoteCommand == "/bin/echo" && request.arguments == ["x"])
        }
    }

    @Test("a Submission's ids, count and first request")
    func submissionShape() throws {
        let builder = try RequestBuilder(template: commandTemplate("/bin/true", []), homeDirectory: "/home/u", now: 0,
                                         timeZone: FixedOffsetTimeZone.utc, bulk: true)
        let bulk = Submission(jobID: "9", taskIndexes: stride(from: 1, through: 10, by: 3), builder: builder)
        #expect(bulk.isBulk && bulk.bulkJobID == "9" && bulk.count == 4)
        #expect(bulk.jobIDs == ["9.1", "9.4", "9.7", "9.10"])
        #expect(bulk.first.jobID == "9.1" && bulk.first.taskIndex == 1)
        #expect(bulk.request(taskIndex: 7).jobID == "9.7")
        #expect(bulk.requests.map(\.jobID) == bulk.jobIDs)
        let single = Submission(jobID: "3", taskIndexes: nil, builder: try RequestBuilder(
            template: commandTemplate("/bin/true", []), homeDirectory: "/home/u", now: 0, timeZone: FixedOffsetTimeZone.utc, bulk: false))
        #expect(!single.isBulk && single.bulkJobID == nil && single.count == 1 && single.jobIDs == ["3"])
        #expect(single.first.jobID == "3" && single.first.taskIndex == nil && single.first.bulkJobID == nil)
    }

    @Test("a dictionary that lost most of its entries is rebuilt smaller")
    func shrinkIfSparse() {
        var dictionary: [Int: Int] = [:]
        for i in 0..<10_000 { dictionary[i] = i }
        let full = dictionary.capacity
        for i in 0..<9_900 { dictionary[i] = nil }
        dictionary.shrinkIfSparse()
        #expect(dictionary.capacity < full / 8)
        #expect(dictionary.count == 100 && dictionary[9_999] == 9_999)
    }
}

@Suite("Task ids as the backend spells them; bulk membership stored, never parsed", .timeLimit(.minutes(1)))
struct TaskIDSpellingTests {
    @Test("a backend spelling task ids 'N_i' (Slurm's way): run, status, control and wait by bulk id all work")
    func backendSpelledTaskIDs() throws {
        let system = EmbeddedDRM(taskIDSeparator: "_")
        let session = Session(system: system)
        try session.initialize()
        defer { try? session.exit() }
        var template = JobTemplate()
        template.remoteCommand = "/bin/true"
        let ids = try session.runBulkJobs(template, beginIndex: 1, endIndex: 5, step: 2)
        let bulk = try #require(ids.first.map { String($0[..<$0.firstIndex(of: "_")!]) })
        #expect(ids == ["\(bulk)_1", "\(bulk)_3", "\(bulk)_5"])
        let backend = try #require(system.backend)
        #expect(backend.submitted.last?.map(\.bulkJobID) == [bulk, bulk, bulk])
        #expect(backend.submitted.last?.map(\.jobID) == ids)
        #expect(expectDRMAAError(.invalidJob) { _ = try session.jobStatus(bulk) }?.message.contains("bulk job") == true)
        try session.control(bulk, .hold)
        for id in ids { #expect(try session.jobStatus(id) == .userOnHold) }
        try session.control(bulk, .release)
        for id in ids { backend.start(id); backend.finish(id, .exited(status: 0)) }
        for id in ids.dropLast() { _ = try session.wait(id, timeout: .noWait) }
        // One task left unreaped: the bulk id still names it.
        try session.control(bulk, .terminate)
        #expect(expectDRMAAError(.invalidJob) { _ = try session.jobStatus(bulk) }?.message.contains("bulk job") == true)
        _ = try session.wait(ids[2], timeout: .noWait)
        // All reaped: the bulk id is unknown, and an id that only looks like a task is nobody's.
        expectDRMAAError(.invalidJob) { try session.control(bulk, .hold) }
        expectDRMAAError(.invalidJob) { _ = try session.jobStatus("\(bulk).1") }
    }

    @Test("a pending job's record stays 16 bytes with its bulk membership in it")
    func recordSize() {
        #expect(MemoryLayout<JobTable.Record>.size == 16)
    }
}
