import DRMAACore

/// What Slurm's commands say of jobs, parsed (formats stable across Slurm releases: `squeue -o`
/// with `|`, `sacct -P`, `scontrol show job -o`).
enum SlurmRecords {
    /// One job (or array task) as `squeue -h -t all -o '%i|%T|%r|%L'` lists it.
    struct Queued: Equatable {
        var state: String
        var reason: String
        /// Seconds until its time limit (`%L`); `nil` without one.
        var timeLeft: Double? = nil
    }

    /// The fields ``queue(_:)`` reads, for `squeue -o`.
    static let queueFields = "%i|%T|%r|%L"

    /// The jobs of `squeue -h -t all -o '%i|%T|%r|%L'` (the last field optional), array records
    /// expanded to their tasks (`7_[1-3,5%2]` is 7_1, 7_2, 7_3, 7_5).
    static func queue(_ text: String) -> [String: Queued] {
        var jobs: [String: Queued] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 3 else { continue }
            let record = Queued(state: fields[1], reason: fields[2], timeLeft: fields.count > 3 ? duration(fields[3]) : nil)
            for id in expand(fields[0]) { jobs[id] = record }
        }
        return jobs
    }

    /// `7_[1-5:2,9%3]` → 7_1, 7_3, 7_5, 7_9; any other id → itself.
    static func expand(_ id: String) -> [String] {
        guard let open = id.firstIndex(of: "["), id.hasSuffix("]"), id[..<open].hasSuffix("_") else { return [id] }
        let prefix = id[..<open]
        var inside = id[id.index(after: open)..<id.index(before: id.endIndex)]
        if let percent = inside.firstIndex(of: "%") { inside = inside[..<percent] }
        var ids: [String] = []
        for part in inside.split(separator: ",") {
            let stepParts = part.split(separator: ":")
            let step = stepParts.count > 1 ? Int(stepParts[1]) ?? 1 : 1
            let bounds = stepParts.first?.split(separator: "-") ?? []
            guard let first = bounds.first, let low = Int(first) else { continue }
            let high = bounds.count > 1 ? Int(bounds[1]) ?? low : low
            guard high >= low, step >= 1, (high - low) / step < 10_000_000 else { continue }
            for index in stride(from: low, through: high, by: step) { ids.append("\(prefix)\(index)") }
        }
        return ids
    }

    /// DRMAA's state of a job Slurm still lists (`nil` for an end state: its outcome decides).
    static func state(_ job: Queued, suspendedByUs: Bool) -> JobState? {
        switch job.state {
        case "PENDING", "REQUEUED", "REQUEUE_FED", "CONFIGURING", "RESIZING":
            switch job.reason {
            case "JobHeldUser": return .userOnHold
            case "JobHeldAdmin": return .systemOnHold
            default: return .queuedActive
            }
        case "REQUEUE_HOLD", "RESV_DEL_HOLD", "SPECIAL_EXIT": return .systemOnHold
        case "RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT": return .running
        case "SUSPENDED", "STOPPED": return suspendedByUs ? .userSuspended : .systemSuspended
        default: return nil
        }
    }

    /// One job as accounting (`sacct`) or the controller (`scontrol show job`) knows it at its end.
    struct Ended: Equatable {
        var state: String
        /// `ExitCode=code:signal`.
        var exitCode: Int32
        var signal: Int32
        var submit: Double?
        var start: Double?
        var end: Double?
        var cpuSeconds: Double?
        var maxRSSKiB: Int64?
        var reason: String?
        /// False for a job that never got a node (cancelled while pending): it has no usage.
        var ran = true
    }

    /// Whether Slurm's state is an end state.
    static func isEnded(_ state: String) -> Bool {
        ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
         "DEADLINE", "REVOKED"].contains(baseState(state))
    }

    /// `CANCELLED by 0` → `CANCELLED`.
    static func baseState(_ state: String) -> String {
        String(state.split(separator: " ").first ?? Substring(state)).trimmingSuffix("+")
    }

    /// The outcome DRMAA reports: COMPLETED and FAILED (the job ran and ended) keep the exact exit
    /// status or signal; every other end state is an abort whose reason names it.
    static func outcome(_ ended: Ended) -> JobOutcome {
        var usage = ResourceUsage()
        usage.submissionTime = ended.submit ?? 0
        usage.startTime = ended.start ?? 0
        usage.endTime = ended.end ?? 0
        usage.userTime = ended.cpuSeconds ?? 0
        usage.maxRSS = ended.maxRSSKiB ?? 0
        usage.exitStatus = ended.signal != 0 ? 128 + ended.signal : ended.exitCode
        usage.signal = ended.signal
        let base = baseState(ended.state)
        let termination: Termination
        switch base {
        case "COMPLETED", "FAILED":
            termination = ended.signal != 0 ? .signaled(signal: ended.signal, coreDumped: false) : .exited(status: ended.exitCode)
        default:
            let why: String = switch base {
            case "TIMEOUT": "it reached its time limit"
            case "OUT_OF_MEMORY": "it ran out of memory"
            case "NODE_FAIL": "its node failed"
            case "PREEMPTED": "it was preempted"
            case "BOOT_FAIL": "its node failed to boot"
            case "DEADLINE": "it could not end before its deadline"
            case "CANCELLED": "it was cancelled"
            default: "it ended as \(base)"
            }
            termination = .aborted(reason: "Slurm ended the job as \(ended.state): \(why)" + (ended.reason.map { " (\($0))" } ?? ""))
        }
        return JobOutcome(termination: termination, usage: ended.ran ? usage : nil)
    }

    /// The fields ``accounting(_:timeZone:)`` reads, for `sacct -o`.
    static let accountingFields = "JobID,State,ExitCode,Submit,Start,End,TotalCPU,MaxRSS,NodeList"

    /// `sacct -n -P -o JobID,State,ExitCode,Submit,Start,End,TotalCPU,MaxRSS,NodeList`: the allocation
    /// lines (steps' MaxRSS folded in), by job id; the record of an array's tasks that never ran
    /// (`7_[2-4%1]`) stands for each of them.
    static func accounting(_ text: String, timeZone: any TimeZoneRule) -> [String: Ended] {
        var jobs: [String: Ended] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 8 else { continue }
            let rss = memoryKiB(f[7])
            if let dot = f[0].firstIndex(of: ".") {  // a step: its peak memory counts for the job
                let id = String(f[0][..<dot])
                if let rss, jobs[id] != nil { jobs[id]!.maxRSSKiB = max(jobs[id]!.maxRSSKiB ?? 0, rss) }
                continue
            }
            let (code, signal) = exitCode(f[2])
            let ran = f.count > 8 ? !["None assigned", ""].contains(f[8]) : time(f[4], timeZone) != nil
            let record = Ended(state: f[1], exitCode: code, signal: signal, submit: time(f[3], timeZone),
                               start: time(f[4], timeZone), end: time(f[5], timeZone), cpuSeconds: duration(f[6]), maxRSSKiB: rss, ran: ran)
            for id in expand(f[0]) { jobs[id] = record }
        }
        return jobs
    }

    /// `scontrol show job -o`: one line per job of `Key=Value` pairs, by job id (`7` or `7_3`).
    static func controller(_ text: String, timeZone: any TimeZoneRule) -> [String: Ended] {
        var jobs: [String: Ended] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let pairs = keyValues(String(line))
            guard let jobID = pairs["JobId"], let state = pairs["JobState"] else { continue }
            // A task (`ArrayTaskId=3`) or the record of tasks that have not run (`ArrayTaskId=2-4%1`).
            var ids = [jobID]
            if let array = pairs["ArrayJobId"], let task = pairs["ArrayTaskId"] {
                ids = Int(task) != nil ? ["\(array)_\(task)"] : expand("\(array)_[\(task)]")
            }
            let (code, signal) = exitCode(pairs["ExitCode"] ?? "0:0")
            let record = Ended(state: state, exitCode: code, signal: signal, submit: pairs["SubmitTime"].flatMap { time($0, timeZone) },
                             start: pairs["StartTime"].flatMap { time($0, timeZone) }, end: pairs["EndTime"].flatMap { time($0, timeZone) },
                             cpuSeconds: nil, maxRSSKiB: nil, reason: pairs["Reason"].flatMap { $0 == "None" ? nil : $0 },
                             ran: pairs["NodeList"].map { $0 != "(null)" && !$0.isEmpty } ?? true)
            for id in ids { jobs[id] = record }
        }
        return jobs
    }

    /// `Key=Value Key2=Value with spaces Key3=…`: a key is a word of letters, digits, `_`, `:`
    /// or `/` directly before `=`; a value runs to the next key.
    static func keyValues(_ line: String) -> [String: String] {
        var result: [String: String] = [:]
        let words = line.split(separator: " ", omittingEmptySubsequences: false)
        var key: String?
        var value = ""
        for word in words {
            if let equals = word.firstIndex(of: "="), equals != word.startIndex,
               word[..<equals].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" || $0 == "/" }),
               word[..<equals].first?.isUppercase == true {
                if let key { result[key] = value }
                key = String(word[..<equals])
                value = String(word[word.index(after: equals)...])
            } else if key != nil {
                value += " " + word
            }
        }
        if let key { result[key] = value }
        return result
    }

    /// `3:0` → (3, 0); `0:9` → (0, 9).
    static func exitCode(_ text: String) -> (Int32, Int32) {
        let parts = text.split(separator: ":")
        return (parts.first.flatMap { Int32($0) } ?? 0, parts.count > 1 ? Int32(parts[1]) ?? 0 : 0)
    }

    /// `[DD-[hh:]]mm:ss[.sss]` → seconds.
    static func duration(_ text: String) -> Double? {
        guard !text.isEmpty else { return nil }
        var days = 0.0
        var rest = Substring(text)
        if let dash = rest.firstIndex(of: "-") {
            days = Double(rest[..<dash]) ?? 0
            rest = rest[rest.index(after: dash)...]
        }
        var seconds = 0.0
        for part in rest.split(separator: ":") {
            guard let value = Double(part) else { return nil }
            seconds = seconds * 60 + value
        }
        return days * 86_400 + seconds
    }

    /// `1234K`, `12M`, `1.5G` → KiB.
    static func memoryKiB(_ text: String) -> Int64? {
        guard let unit = text.last else { return nil }
        let factor: Double
        var number = Substring(text)
        switch unit {
        case "K": factor = 1; number = number.dropLast()
        case "M": factor = 1024; number = number.dropLast()
        case "G": factor = 1024 * 1024; number = number.dropLast()
        case "T": factor = 1024 * 1024 * 1024; number = number.dropLast()
        default: factor = 1.0 / 1024
        }
        // Never trap on what a command printed (`inf`, `nan`, an absurd number).
        guard let value = Double(number).map({ $0 * factor }), value.isFinite, value >= 0, value < 9e18 else { return nil }
        return Int64(value)
    }

    /// `2026-12-02T21:37:01` (the controller's local time) → seconds since the epoch; `nil` for
    /// `Unknown`, `None` and the like.
    static func time(_ text: String, _ timeZone: any TimeZoneRule) -> Double? {
        guard let stamp = try? PartialTimestamp(parsing: text.replacing("T", with: " ").replacing("-", with: "/"),
                                                attribute: "a Slurm time") else { return nil }
        return (try? stamp.resolve(now: 0, timeZone: timeZone)).map(Double.init)
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
