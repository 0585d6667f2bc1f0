import DRMAACore

/// The indexes of a bulk job's tasks, as the scheduler variables describe them.
struct TaskRange: Sendable, Equatable {
    var first: Int
    var last: Int
    var step: Int
    var count: Int

    /// The range of a bulk job's tasks, `nil` for a single job. The step of a one-task bulk job is 1.
    init?(_ indexes: StrideThrough<Int>?) {
        guard let indexes, let first = indexes.first(where: { _ in true }) else { return nil }
        count = indexes.underestimatedCount
        step = count > 1 ? indexes.dropFirst().first(where: { _ in true })! - first : 1
        self.first = first
        last = first + (count - 1) * step
    }
}

/// What the variables LocalDRM sets in one job are made of, known once its files are open.
struct JobFacts {
    var request: JobRequest
    var slots: Int
    var files: JobFiles
    /// The job's private `TMPDIR`, `nil` if `drmaa_v_env` sets `TMPDIR`.
    var temporaryDirectory: String?
    var tasks: TaskRange?
    /// The submitting process's current directory when it submitted (`SLURM_SUBMIT_DIR`).
    var submitDirectory: String?
    /// A bulk task's own number (`SLURM_JOB_ID` of an array task), drawn when it starts.
    var taskNumber: String?
}

/// The variables of the scheduler profiles (Docs/Semantics.md, Scheduler profiles) and the
/// default names of output files.
enum JobVariables {
    /// Variables LocalDRM sets in every job: `DRMAA_JOB_ID`, in bulk tasks `DRMAA_TASK_ID`, and `TMPDIR`.
    static let common = [Spawner.jobIDVariable, Spawner.taskIDVariable, temporaryDirectoryVariable]
    static let temporaryDirectoryVariable = "TMPDIR"

    /// Grid Engine's job variables.
    static let gridEngine = ["JOB_ID", "JOB_NAME", "SGE_TASK_ID", "SGE_TASK_FIRST", "SGE_TASK_LAST",
                             "SGE_TASK_STEPSIZE", "NSLOTS", "SGE_STDOUT_PATH", "SGE_STDERR_PATH", "SGE_STDIN_PATH"]
    /// Slurm's job variables (the `SLURM_ARRAY_*` ones only in array tasks).
    static let slurm = ["SLURM_JOB_ID", "SLURM_JOBID", "SLURM_JOB_NAME", "SLURM_CPUS_PER_TASK", "SLURM_SUBMIT_DIR",
                        "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT",
                        "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_STEP"]

    /// Every variable LocalDRM may set in a job with `emulation`: none of them is passed on from
    /// the submitter's environment (a job that submits jobs has its own), `drmaa_v_env` still may.
    static func managedNames(_ emulation: Emulation?) -> [String] {
        switch emulation {
        case nil: common
        case .sge: common + gridEngine
        case .slurm: common + slurm
        }
    }

    /// The variables of one job: the common ones and its profile's.
    static func of(_ facts: JobFacts, emulation: Emulation?) -> [(name: String, value: String)] {
        let request = facts.request
        var variables: [(name: String, value: String)] = [(Spawner.jobIDVariable, request.jobID)]
        if let index = request.taskIndex { variables.append((Spawner.taskIDVariable, String(index))) }
        if let directory = facts.temporaryDirectory { variables.append((temporaryDirectoryVariable, directory)) }
        switch emulation {
        case nil:
            break
        case .sge:
            let undefined = "undefined"  // Grid Engine's value outside array jobs
            let tasks = facts.tasks
            variables += [
                ("JOB_ID", request.bulkJobID ?? request.jobID),
                ("JOB_NAME", request.jobName),
                ("SGE_TASK_ID", request.taskIndex.map(String.init) ?? undefined),
                ("SGE_TASK_FIRST", tasks.map { String($0.first) } ?? undefined),
                ("SGE_TASK_LAST", tasks.map { String($0.last) } ?? undefined),
                ("SGE_TASK_STEPSIZE", tasks.map { String($0.step) } ?? undefined),
                ("NSLOTS", String(facts.slots)),
                ("SGE_STDOUT_PATH", facts.files.outputPath),
                ("SGE_STDERR_PATH", facts.files.errorPath),
                ("SGE_STDIN_PATH", facts.files.inputPath),
            ]
        case .slurm:
            let number = facts.taskNumber ?? request.jobID
            variables += [
                ("SLURM_JOB_ID", number),
                ("SLURM_JOBID", number),
                ("SLURM_JOB_NAME", request.jobName),
                ("SLURM_CPUS_PER_TASK", String(facts.slots)),
            ]
            if let directory = facts.submitDirectory { variables.append(("SLURM_SUBMIT_DIR", directory)) }
            if let bulk = request.bulkJobID, let index = request.taskIndex, let tasks = facts.tasks {
                variables += [
                    ("SLURM_ARRAY_JOB_ID", bulk),
                    ("SLURM_ARRAY_TASK_ID", String(index)),
                    ("SLURM_ARRAY_TASK_COUNT", String(tasks.count)),
                    ("SLURM_ARRAY_TASK_MIN", String(tasks.first)),
                    ("SLURM_ARRAY_TASK_MAX", String(tasks.last)),
                    ("SLURM_ARRAY_TASK_STEP", String(tasks.step)),
                ]
            }
        }
        return variables
    }

    /// The longest file name, in bytes (`NAME_MAX` of Linux file systems).
    static let maximumNameBytes = 255

    /// The default name of a job's output (`letter` "o") or error ("e") file: Grid Engine's
    /// `<job name>.o<job id>` (a bulk task's id is `<job id>.<task index>`), the job name shortened
    /// to fit `NAME_MAX` between characters and `/` replaced by `_`; with Slurm's profile
    /// `slurm-<job id>.out` or `slurm-<bulk job id>_<task index>.out` for both.
    static func defaultFileName(_ request: JobRequest, _ letter: Character, emulation: Emulation?) -> String {
        if emulation == .slurm {
            if let bulk = request.bulkJobID, let index = request.taskIndex { return "slurm-\(bulk)_\(index).out" }
            return "slurm-\(request.jobID).out"
        }
        let suffix = ".\(letter)\(request.jobID)"
        let name = request.jobName.replacing("/", with: "_")
        return name.prefix(exactByteCount: maximumNameBytes - suffix.utf8.count) + suffix
    }
}
