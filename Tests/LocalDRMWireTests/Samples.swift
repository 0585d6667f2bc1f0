import DRMAACore
import LocalDRMWire

/// Values for the round-trip tests: the edges of every field (invalid UTF-8, NULs, escape-range
/// bytes, the extremes of each integer type, NaN, infinities, -0, empty and long lists).
enum Samples {
    /// Strings made from bytes no UTF-8 decoder accepts, NULs, and the bytes the exact-bytes
    /// escape uses itself.
    static let strings: [String] = [
        "", "a", "/home/tester/job-$drmaa_incr_ph$.out", "naïve ✓ 𝄞",
        String(exactBytes: [0x00]), String(exactBytes: [0x61, 0x00, 0x62]),
        String(exactBytes: [0xFF, 0xFE, 0x80]), String(exactBytes: [0xC3]), String(exactBytes: [0xED, 0xA0, 0x80]),
        String(exactBytes: [0xF4, 0x8F, 0xBE, 0x80]), String(exactBytes: [0xF4, 0x8F, 0xBF, 0xBF, 0x00, 0xC0, 0xAF]),
        String(repeating: "x", count: 300),
    ]

    static let doubles: [Double] = [
        0, -0.0, 1_700_000_000.123456, -1, .infinity, -.infinity, .nan, -.nan,
        Double(bitPattern: 0x7FF0_0000_0000_0001), Double(bitPattern: 0x7FF8_DEAD_BEEF_0001),
        .leastNonzeroMagnitude, .greatestFiniteMagnitude,
    ]

    static let int64s: [Int64] = [0, 1, -1, 63, -64, 64, 127, 128, Int64(Int32.max), Int64(Int32.min), .max, .min]
    static let int32s: [Int32] = [0, 1, -1, 255, 256, .max, .min]

    static let terminations: [Termination] = [
        .exited(status: 0), .exited(status: 255), .exited(status: .min), .exited(status: .max),
        .signaled(signal: 9, coreDumped: false), .signaled(signal: 11, coreDumped: true), .signaled(signal: .min, coreDumped: true),
    ] + strings.map { .aborted(reason: $0) }

    static var usages: [ResourceUsage] {
        var plain = ResourceUsage()
        plain.submissionTime = 1_700_000_000
        plain.startTime = 1_700_000_001.5
        plain.endTime = 1_700_000_010.25
        plain.userTime = 3.5
        plain.systemTime = 0.25
        plain.maxRSS = 10240
        var extreme = ResourceUsage()
        extreme.submissionTime = .nan
        extreme.startTime = -.infinity
        extreme.endTime = .infinity
        extreme.userTime = -0.0
        extreme.systemTime = Double(bitPattern: 0x7FF8_DEAD_BEEF_0001)
        extreme.maxRSS = .max
        extreme.minorFaults = .min
        extreme.majorFaults = -1
        extreme.blockInputs = 1
        extreme.blockOutputs = Int64(Int32.max) + 1
        extreme.voluntarySwitches = 128
        extreme.involuntarySwitches = -129
        extreme.signalsReceived = .max - 1
        extreme.exitStatus = .min
        extreme.signal = .max
        extreme.extraEntries = strings.map { ResourceUsage.Entry(name: $0, value: $0 + "=") }
        var reasons = ResourceUsage()
        reasons.extraEntries = [ResourceUsage.Entry(name: "kill_reason", value: "killed with SIGKILL"), ResourceUsage.Entry(name: "", value: "")]
        return [ResourceUsage(), plain, extreme, reasons]
    }

    static var outcomes: [JobOutcome] {
        var outcomes: [JobOutcome] = []
        for (index, termination) in terminations.enumerated() {
            let usages = Self.usages
            outcomes.append(JobOutcome(termination: termination, usage: index % 3 == 0 ? nil : usages[index % usages.count],
                                       killReason: index % 2 == 0 ? nil : strings[index % strings.count],
                                       countsAsFailed: index % 4 == 1))
        }
        return outcomes
    }

    static let errors: [DRMAAError] = ErrorCode.allCases.map { DRMAAError($0) }
        + [DRMAAError(.invalidJob, String(exactBytes: [0x6A, 0x00, 0xFF])), DRMAAError(.deniedByDRM, String(repeating: "é", count: 100))]

    /// Every attribute set, each to a value that needs its bytes kept exactly where the attribute allows it.
    static var fullTemplate: JobTemplate {
        var template = JobTemplate()
        let odd = String(exactBytes: [0x2F, 0x74, 0xFF, 0x00, 0x6D, 0x70])
        template.remoteCommand = odd
        template.args = strings
        template.jobSubmissionState = .hold
        template.jobEnvironment = ["A": "1", "EMPTY": "", "ODD": odd]
        template.workingDirectory = "$drmaa_hd_ph$/w-$drmaa_incr_ph$"
        template.jobCategory = odd
        template.nativeSpecification = "-l h_rt=10 -N " + odd
        template.email = []
        template.blockEmail = true
        template.startTime = "12:00"
        template.jobName = odd
        template.inputPath = ":/dev/null"
        template.outputPath = "host:$drmaa_wd_ph$/o.$drmaa_incr_ph$"
        template.errorPath = odd
        template.joinFiles = false
        template.transferFiles = "ioe"
        template.deadlineTime = "2030/01/01 00:00"
        template.hardWallclockTimeLimit = .max
        template.softWallclockTimeLimit = 0
        try! template.setAttribute("drmaa_duration_hlimit", "1:00:00")
        try! template.setAttribute("drmaa_duration_slimit", "90")
        return template
    }

    static var templates: [JobTemplate] {
        var simple = JobTemplate()
        simple.remoteCommand = "/bin/true"
        var vectorsOnly = JobTemplate()
        vectorsOnly.email = [""]
        try! vectorsOnly.setVectorAttribute("drmaa_v_env", [String(exactBytes: [0x3D, 0xFF]), "noequals", ""])
        return [JobTemplate(), simple, vectorsOnly, fullTemplate]
    }

    /// The environment of a typical submitter: 50 variables.
    static let environment: [NamedValue] = (0..<50).map { NamedValue(name: "VARIABLE_\($0)", value: "/usr/local/lib/value/\($0):/usr/lib") }

    static var inputs: [SubmissionInputs] {
        let templates = Self.templates
        return [
            SubmissionInputs(template: JobTemplate(), homeDirectory: "", submissionTime: 0, environment: [], currentDirectory: "", taskRange: nil),
            SubmissionInputs(template: templates[1], homeDirectory: "/home/tester", submissionTime: 1_700_000_000.5,
                             environment: environment, currentDirectory: "/home/tester/work", taskRange: TaskRange(begin: 1, end: 100_000, step: 1)),
            SubmissionInputs(template: fullTemplate, homeDirectory: String(exactBytes: [0x2F, 0xFF]), submissionTime: .nan,
                             environment: [NamedValue(name: "", value: ""), NamedValue(name: String(exactBytes: [0x00]), value: String(exactBytes: [0xC0]))],
                             currentDirectory: "/", taskRange: TaskRange(begin: .min, end: .max, step: -1)),
        ]
    }

    static var records: [JobRecord] {
        let outcomes = Self.outcomes
        return JobState.allCases.enumerated().map { index, state in
            JobRecord(jobID: strings[index % strings.count], bulkJobID: index % 2 == 0 ? nil : "7",
                      state: state, outcome: index % 3 == 0 ? outcomes[index % outcomes.count] : nil)
        }
    }

    static var failures: [JobFailure] {
        errors.enumerated().map { JobFailure(jobID: strings[$0.offset % strings.count], error: $0.element) }
    }

    static var requests: [Request] {
        var requests: [Request] = [
            .openSession(options: [], key: ""),
            .openSession(options: [NamedValue(name: "slots", value: "4"), NamedValue(name: "categories", value: String(exactBytes: [0xFF]))], key: "k-1"),
            .reattach(key: String(exactBytes: [0x00, 0xFF])),
            .status(jobIDs: []), .status(jobIDs: strings), .reap(jobIDs: ["1", "2.3"]), .exitSession, .reserveJobID,
            .reserveJobIDs(count: 1), .reserveJobIDs(count: 1024),
        ]
        requests += inputs.map { .submit(jobID: "17", $0) }
        requests += JobControlAction.allCases.map { .control(jobIDs: ["1", "7.2"], action: $0) }
        return requests
    }

    static var replies: [Reply] {
        [.ok, .reattached([]), .reattached(records), .submitted(jobID: "42"), .submitted(jobID: String(exactBytes: [0x80])),
         .controlled(failures: []), .controlled(failures: failures), .statuses([], failures: []), .statuses(records, failures: failures),
         .reservedJobIDs(first: 1, count: 32), .reservedJobIDs(first: Int64(Int.max) - 1024, count: 1024)]
            + errors.map { .failed($0) }
    }

    static var events: [Event] {
        JobState.allCases.map { .stateChanged(jobID: "3", state: $0) } + outcomes.map { .finished(jobID: "3.1", outcome: $0) }
            + [.terminating(jobID: "4"), .note(jobID: "5.2", text: "it waits"), .note(jobID: "5.2", text: nil)]
    }

    static var clientMessages: [ClientMessage] {
        [.hello(Hello(clientPID: 1234)), .hello(Hello(version: .max, clientPID: .min)), .hello(Hello(version: 0, clientPID: -1))]
            + requests.enumerated().map { .request(id: [0, 1, 127, 128, UInt64.max][$0.offset % 5], $0.element) }
    }

    static var daemonMessages: [DaemonMessage] {
        var messages: [DaemonMessage] = [.welcome(Welcome(daemonPID: 99)), .welcome(Welcome(version: .max, daemonPID: .max))]
        messages += errors.map { .refused($0) }
        messages += replies.enumerated().map { .reply(id: UInt64($0.offset) << 60, $0.element) }
        messages += events.map { .event($0) }
        return messages
    }
}
