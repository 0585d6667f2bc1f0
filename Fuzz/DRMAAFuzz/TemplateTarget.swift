import DRMAACore
import EmbeddedDRM

/// The template attribute setters by name, then submission through the request builder
/// (`runJob`, `runBulkJobs` on EmbeddedDRM, which runs nothing): placeholders `$drmaa_hd_ph$`,
/// `$drmaa_wd_ph$`, `$drmaa_incr_ph$`, `[host]:path`, partial timestamps, time limits.
///
/// Input: lines `name=value` (`drmaa_set_attribute`; for a `drmaa_v_*` name the value is appended
/// to that vector and `drmaa_set_vector_attribute` called), `name` alone (the vector set empty),
/// and settings `@home=<path>`, `@now=<seconds>`, `@tz=<seconds east>`, `@bulk=<begin>:<end>:<step>`
/// (at most 6 tasks; default 1:3:1).
/// Invariants: a set attribute reads back byte for byte, a refused one keeps its old value and
/// the refusal is INVALID_ARGUMENT, INVALID_ATTRIBUTE_VALUE or INVALID_ATTRIBUTE_FORMAT; requests
/// have absolute paths, no `$drmaa_incr_ph$` left, and the template's command, arguments, state,
/// limits and times; a job the single path accepts is accepted as a bulk job too; task `i` of a
/// bulk job equals a single job whose template has `i` written in place of `$drmaa_incr_ph$`.
enum TemplateTarget {
    static func run(_ data: [UInt8]) -> Int32 {
        var template = JobTemplate()
        var vectors: [String: [String]] = [:]
        var home = "/home/fuzz", now = 1_700_000_000.5, zone = 0
        var bulk = (begin: 1, end: 3, step: 1)
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true) {
            guard let equals = line.firstIndex(of: "=") else {
                let name = String(line)
                let known = AttributeName.vectorNames.contains(name)
                do {
                    try template.setVectorAttribute(name, [])
                    check(known, "set_vector_attribute(\(quoted(name))) accepted")
                    vectors[name] = []
                } catch {
                    check(!known && error.code == .invalidArgument, "set_vector_attribute(\(quoted(name)), []): \(error)")
                }
                continue
            }
            let name = String(line[..<equals]), value = String(line[line.index(after: equals)...])
            switch name {
            case "@home": home = "/" + value.filter { $0 != "$" }
            case "@now": if let v = Double(value), v.isFinite { now = min(max(v, 0), 137_438_953_472) }
            case "@tz": if let v = Int(value) { zone = min(max(v, -64_800), 64_800) }
            case "@bulk":
                let f = value.split(separator: ":").compactMap { Int($0) }
                if f.count == 3 { bulk = (f[0], f[1], f[2]) }
            default:
                if AttributeName.vectorNames.contains(name) {
                    let values = (vectors[name] ?? []) + [value]
                    do {
                        try template.setVectorAttribute(name, values)
                    } catch {
                        fail("set_vector_attribute(\(quoted(name))) refused: \(error)")
                    }
                    vectors[name] = values
                    check((try? template.vectorAttribute(name)) == values, "vector \(quoted(name)) does not read back")
                } else {
                    setScalar(&template, name, value)
                }
            }
        }
        for (name, values) in vectors {
            check((try? template.vectorAttribute(name)) == values, "vector \(quoted(name)) does not read back at the end")
        }
        submit(template, home: home, now: now, zone: zone, bulk: bulk)
        return 0
    }

    static func setScalar(_ template: inout JobTemplate, _ name: String, _ value: String) {
        let before = try? template.attribute(name)
        do {
            try template.setAttribute(name, value)
        } catch {
            check([.invalidArgument, .invalidAttributeValue, .invalidAttributeFormat].contains(error.code),
                  "set_attribute(\(quoted(name)), \(quoted(value))): error \(error.code)")
            check((try? template.attribute(name)) == before, "a refused set_attribute(\(quoted(name))) changed the value")
            return
        }
        check((try? template.attribute(name)) == value, "\(quoted(name)) = \(quoted(value)) reads back as \(String(describing: try? template.attribute(name)))")
        check(template.setAttributeNames.contains(name), "\(quoted(name)) is set but not listed")
    }

    static func submit(_ template: JobTemplate, home: String, now: Double, zone: Int, bulk: (begin: Int, end: Int, step: Int)) {
        let system = EmbeddedDRM(homeDirectory: home, clock: FixedClock(now), timeZone: FixedOffsetTimeZone(secondsEastOfUTC: zone))
        let context = Context(template: template, home: home, now: now, zone: zone)
        let session = Session(system: system)
        do { try session.initialize() } catch { fail("EmbeddedDRM does not start: \(error)") }
        var single: JobRequest?
        do {
            _ = try session.runJob(template)
            single = system.backend?.submitted.last?.first
            check(single != nil, "run_job accepted the job but the backend got nothing")
        } catch {
            check(error.code == .deniedByDRM, "run_job: error \(error.code) \(error.message)")
        }
        if let single { context.verify(single, taskIndex: nil) }

        var (begin, end, step) = bulk
        let valid = begin >= 1 && end >= begin && step >= 1 && end <= Int(Int32.max)
        if valid, (end - begin) / step >= 6 {
            let (clamped, overflow) = begin.addingReportingOverflow(5 &* min(step, 1 << 32))
            guard !overflow, clamped <= Int(Int32.max) else { return }
            end = clamped
        }
        let tasks: [JobRequest]
        do {
            _ = try session.runBulkJobs(template, beginIndex: begin, endIndex: end, step: step)
            tasks = system.backend?.submitted.last ?? []
            check(valid, "run_bulk_jobs accepted the indexes \(begin)...\(end) step \(step)")
        } catch {
            check(error.code == (valid ? .deniedByDRM : .invalidArgument), "run_bulk_jobs \(begin)...\(end) step \(step): error \(error.code) \(error.message)")
            check(single == nil || !valid, "run_job accepts the template but run_bulk_jobs refuses it: \(error.message)")
            return
        }
        check(tasks.map(\.taskIndex) == Array(stride(from: begin, through: end, by: step)).map(Optional.some), "bulk task indexes \(tasks.map(\.taskIndex))")
        for task in tasks {
            context.verify(task, taskIndex: task.taskIndex)
            check(!([task.workingDirectory] + [task.inputPath, task.outputPath, task.errorPath].compactMap { $0 }).contains { $0.contains(Placeholder.taskIndex) },
                  "task \(task.jobID) keeps $drmaa_incr_ph$: \(task)")
            // Task i is the single job of the template with i in place of the placeholder.
            var substituted = template
            for attribute in [AttributeName.workingDirectory, .inputPath, .outputPath, .errorPath] {
                guard let raw = template[scalar: attribute] else { continue }
                do {
                    try substituted.setAttribute(attribute.rawValue, raw.replacing(Placeholder.taskIndex, with: String(task.taskIndex!)))
                } catch {
                    fail("\(attribute.rawValue) with the index substituted is refused: \(error)")
                }
            }
            do {
                _ = try session.runJob(substituted)
            } catch {
                fail("task \(task.jobID) was accepted, the same job alone is refused: \(error.message)")
            }
            guard let alone = system.backend?.submitted.last?.first else { fail("no request") }
            check(alone.workingDirectory == task.workingDirectory && alone.inputPath == task.inputPath
                  && alone.outputPath == task.outputPath && alone.errorPath == task.errorPath,
                  "task \(task.jobID): wd \(quoted(task.workingDirectory)) paths \(String(describing: [task.inputPath, task.outputPath, task.errorPath])); alone: wd \(quoted(alone.workingDirectory)) paths \(String(describing: [alone.inputPath, alone.outputPath, alone.errorPath]))")
            let indexed = [AttributeName.workingDirectory, .inputPath, .outputPath, .errorPath]
                .contains { template[scalar: $0]?.contains(Placeholder.taskIndex) == true }
            if let single, !indexed {
                check(single.workingDirectory == task.workingDirectory && single.inputPath == task.inputPath
                      && single.outputPath == task.outputPath && single.errorPath == task.errorPath,
                      "a template without $drmaa_incr_ph$ gives the bulk task \(task.jobID) other paths than the single job")
            }
        }
    }

    struct Context {
        let template: JobTemplate
        let home: String
        let now: Double
        let zone: Int

        func verify(_ r: JobRequest, taskIndex: Int?) {
            let id = r.jobID
            check(r.taskIndex == taskIndex, "\(id): task index \(String(describing: r.taskIndex))")
            check(r.workingDirectory.hasPrefix("/"), "\(id): working directory \(quoted(r.workingDirectory)) is not absolute")
            for path in [r.inputPath, r.outputPath, r.errorPath] {
                if let path { check(path.hasPrefix("/"), "\(id): path \(quoted(path)) is not absolute") }
            }
            check((r.inputPath == nil) == (template[scalar: .inputPath] == nil) && (r.outputPath == nil) == (template[scalar: .outputPath] == nil)
                  && (r.errorPath == nil) == (template[scalar: .errorPath] == nil), "\(id): a path is missing or added")
            check(r.remoteCommand == template.remoteCommand && !r.remoteCommand.isEmpty, "\(id): command \(quoted(r.remoteCommand))")
            check(r.arguments == template.args, "\(id): arguments \(r.arguments)")
            check(r.environment.count == (template[vector: .jobEnvironment] ?? []).count, "\(id): environment \(r.environment)")
            check(r.hold == (template[scalar: .jobSubmissionState] == "drmaa_hold"), "\(id): hold \(r.hold)")
            check(r.joinFiles == (template[scalar: .joinFiles] == "y"), "\(id): join \(r.joinFiles)")
            // An empty drmaa_job_name counts as none: the name is never empty.
            check(!r.jobName.isEmpty && (template.jobName.map { $0.isEmpty || r.jobName == $0 } ?? true), "\(id): job name \(quoted(r.jobName))")
            check(r.hardWallclockLimit == template.hardWallclockTimeLimit && r.softWallclockLimit == template.softWallclockTimeLimit
                  && r.hardRunDurationLimit == template.hardRunDurationLimit && r.softRunDurationLimit == template.softRunDurationLimit,
                  "\(id): limits")
            check(r.submissionTime == now, "\(id): submission time \(r.submissionTime)")
            let rule = FixedOffsetTimeZone(secondsEastOfUTC: zone)
            check(r.startTime == template.startTime.flatMap { try? PartialTimestamp(parsing: $0).resolve(now: now, timeZone: rule) },
                  "\(id): start time \(String(describing: r.startTime))")
            check(r.deadlineTime == template.deadlineTime.flatMap { try? PartialTimestamp(parsing: $0).resolve(now: now, timeZone: rule) },
                  "\(id): deadline \(String(describing: r.deadlineTime))")
            check(r.nativeSpecification == template.nativeSpecification && r.jobCategory == template.jobCategory, "\(id): native/category")
        }
    }
}
