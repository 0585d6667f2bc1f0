import DRMAACore
import LocalDRM

/// A template for `command` whose streams go to /dev/null (otherwise each job writes
/// `<name>.o<id>` files into `$HOME`).
func quietTemplate(_ command: String = "/bin/true", _ arguments: [String] = [], hold: Bool = false) -> JobTemplate {
    var template = JobTemplate()
    template.remoteCommand = command
    template.args = arguments
    template.outputPath = ":/dev/null"
    template.errorPath = ":/dev/null"
    if hold { template.jobSubmissionState = .hold }
    return template
}

/// Where a benchmark session's jobs run: LocalDRM's two modes.
enum BenchMode: String, CaseIterable, Sendable {
    /// Jobs are children of the benchmark process.
    case embedded
    /// Jobs run under the user's daemon (`drmaad`), each with a `drmaa-shepherd`.
    case durable

    var localDRMMode: LocalDRM.Mode {
        switch self {
        case .embedded: .embedded
        case .durable: .durable
        }
    }
}

/// How a scenario opens its sessions in one mode.
struct ModeSetup: Sendable {
    var mode: BenchMode
    /// The durable mode's private state directory (its own daemon, socket and spool) under the
    /// benchmark's temporary directory; unused in the embedded mode.
    var stateDirectory: String

    /// The daemon of this setup's state directory, which must be running (a session is open).
    func daemon() throws(BenchFailure) -> RunningDaemon {
        guard let daemon = RunningDaemon.find(stateDirectory: stateDirectory) else {
            throw BenchFailure("no drmaad serves '\(stateDirectory)' while a durable session is open")
        }
        return daemon
    }
}

/// Runs `body` with a fresh LocalDRM session of `slots` slots in `setup`'s mode. On every path
/// out, every job of the session is terminated and reaped before the session exits, so no
/// process outlives the scenario (a durable session's daemon leaves by itself once idle:
/// `DRMAA_LOCAL_IDLE_EXIT`, set by main).
func withSession<R>(_ setup: ModeSetup, slots: Int, _ body: (Session) throws -> R) throws -> R {
    var configuration = LocalDRM.Configuration(slots: slots)
    configuration.mode = setup.mode.localDRMMode
    if setup.mode == .durable { configuration.stateDirectory = setup.stateDirectory }
    let session = Session(system: LocalDRM(configuration: configuration))
    try session.initialize()
    defer {
        try? session.control(Session.jobIDsSessionAll, .terminate)
        try? session.synchronize([Session.jobIDsSessionAll], timeout: .seconds(120), dispose: true)
        try? session.exit()
    }
    return try body(session)
}

/// Checks that a finished job ran and exited with status 0.
func expectSuccess(_ info: JobInfo, _ what: String) throws(BenchFailure) {
    guard info.hasExited, info.exitStatus == 0 else {
        let why = info.abortReason ?? (info.hasSignal ? "signal \(info.terminatedSignal)" : "exit status \(info.exitStatus)")
        throw BenchFailure("\(what): job \(info.jobID) did not succeed (\(why))")
    }
}

/// One `/bin/true` through `runJob` and `wait`: proves jobs really start before a run whose
/// jobs are disposed of unseen is timed (a spawn failure would otherwise look fast).
func preflight(_ session: Session, _ template: JobTemplate = quietTemplate()) throws {
    let id = try session.runJob(template)
    try expectSuccess(try session.wait(id, timeout: .seconds(30)), "preflight")
}

/// Converts a DRMAA timeout into a benchmark failure that names the step.
func synchronizeAll(_ session: Session, timeout: Double, dispose: Bool, _ what: String) throws {
    do {
        try session.synchronize([Session.jobIDsSessionAll], timeout: .seconds(timeout), dispose: dispose)
    } catch {
        // (A `catch where` clause here crashes Swift 6.3.1's MandatoryAllocBoxToStack pass.)
        guard error.code == .exitTimeout else { throw error }
        throw BenchFailure("\(what): jobs did not finish within \(Int(timeout)) s")
    }
}
