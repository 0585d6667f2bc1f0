import DRMAACore

/// The `sbatch` call of one submission: its options and the batch script it reads on stdin.
struct BatchSubmission: Equatable {
    var options: [String]
    var script: [UInt8]

    /// Marks where `$drmaa_incr_ph$` stood, until it becomes Slurm's `%a` (after `%` escaping).
    static let taskMarker = "\u{F8FF}drmaa-task\u{F8FF}"

    /// The options and script of `submission` for session `sessionTag`; `nativeWords` come last,
    /// so that what a user asks for in the native specification overrides the defaults. A bulk
    /// job runs at most `taskLimit` tasks at once (`--array=…%n`).
    init(_ submission: Submission, sessionTag: String, nativeWords: [String], taskLimit: Int? = nil,
         localTime: (Int64) -> String) {
        let request = submission.sharedRequest(taskIndexText: Self.taskMarker)
        let bulk = submission.isBulk
        // Slurm takes no pattern in --chdir: a task's own directory (`$drmaa_incr_ph$` in it) is
        // entered by the script; --chdir is the part before it.
        var options = ["--parsable", "--job-name=\(request.jobName)", "--chdir=\(Self.fixedDirectory(request.workingDirectory))"]
        // Default names as LocalDRM's (<name>.o<id>, <name>.o<bulk id>.<index>), in the working
        // directory (Slurm reads a relative name against --chdir).
        let id = bulk ? "%A.%a" : "%j"
        func pattern(_ path: String?, stream: String) -> String {
            guard let path else { return "%x.\(stream)\(id)" }
            return Self.escape(path).replacing(Self.taskMarker, with: "%a")
        }
        options.append("--output=\(pattern(request.outputPath, stream: "o"))")
        if !request.joinFiles {
            options.append("--error=\(pattern(request.errorPath, stream: "e"))")
        }
        if let input = request.inputPath { options.append("--input=\(pattern(input, stream: "i"))") }
        if request.hold { options.append("--hold") }
        if let start = request.startTime { options.append("--begin=\(localTime(start))") }
        if let deadline = request.deadlineTime { options.append("--deadline=\(localTime(deadline))") }
        if let limit = request.hardWallclockLimit { options.append("--time=\(Self.duration(limit))") }
        let template = submission.template
        if !template.email.isEmpty {
            options.append("--mail-user=\(template.email.joined(separator: ","))")
            options.append(template.blockEmail ? "--mail-type=NONE" : "--mail-type=END,FAIL")
        }
        options.append("--comment=\(sessionTag)")
        if let indexes = submission.taskIndexes {
            let (first, last, step) = arrayBounds(indexes)
            let throttle = taskLimit.map { "%\($0)" } ?? ""
            options.append(step == 1 ? "--array=\(first)-\(last)\(throttle)" : "--array=\(first)-\(last):\(step)\(throttle)")
        }
        self.options = options + nativeWords
        script = Self.script(request)
    }

    /// The directory part of `path` before a task marker: `path` itself without one.
    static func fixedDirectory(_ path: String) -> String {
        guard let marker = path.firstRange(of: taskMarker) else { return path }
        let before = path[..<marker.lowerBound]
        guard let slash = before.lastIndex(of: "/") else { return "/" }
        return slash == before.startIndex ? "/" : String(before[..<slash])
    }

    /// `%` is Slurm's pattern character in file names: a literal one is `%%`.
    static func escape(_ path: String) -> String { path.replacing("%", with: "%%") }

    /// Seconds as Slurm's `days-hours:minutes:seconds`.
    static func duration(_ seconds: Int) -> String {
        let s = max(0, seconds)
        let days = s / 86_400, hours = s / 3_600 % 24, minutes = s / 60 % 60, rest = s % 60
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days)-\(two(hours)):\(two(minutes)):\(two(rest))"
    }

    /// A POSIX sh script that sets the job's environment and `exec`s the command with its exact
    /// argv: every word in single quotes, so no byte is expanded, split or globbed.
    static func script(_ request: JobRequest) -> [UInt8] {
        var script = Array("#!/bin/sh\n# Written by swift-drmaa: the DRMAA job's environment and command, exactly.\n".utf8)
        // The job's DRMAA id, as LocalDRM sets it: <job> or <job>_<index>, and the task's index.
        if request.bulkJobID != nil {
            script += Array("export DRMAA_JOB_ID=\"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\" DRMAA_TASK_ID=\"$SLURM_ARRAY_TASK_ID\"\n".utf8)
        } else {
            script += Array("export DRMAA_JOB_ID=\"$SLURM_JOB_ID\"\n".utf8)
        }
        for (name, value) in request.environment {
            script += Array("export ".utf8) + name.exactBytes + Array("=".utf8) + quote(value) + [0x0A]
        }
        // Slurm runs a job whose directory is missing in /tmp instead; DRMAA's job must not run
        // elsewhere: it ends with status 1 and says why on its stderr.
        let directory = request.workingDirectory.split(separator: taskMarker, omittingEmptySubsequences: false)
            .map { quote(String($0)) }.joined(separator: Array("\"$SLURM_ARRAY_TASK_ID\"".utf8))
        script += Array("cd -- ".utf8) + directory
            + Array(" || { echo \"swift-drmaa: the job did not start: cannot enter its working directory (drmaa_wd)\" >&2; exit 1; }\n".utf8)
        script += Array("exec ".utf8) + quote(request.remoteCommand)
        for argument in request.arguments { script += [0x20] + quote(argument) }
        script += [0x0A]
        return script
    }

    /// `'…'` with every `'` written as `'\''`: the shell reads back exactly these bytes.
    static func quote(_ word: String) -> [UInt8] {
        var quoted: [UInt8] = [0x27]
        for byte in word.exactBytes {
            if byte == 0x27 { quoted += [0x27, 0x5C, 0x27, 0x27] } else { quoted.append(byte) }
        }
        quoted.append(0x27)
        return quoted
    }
}
