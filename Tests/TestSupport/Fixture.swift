import DRMAACore
import Foundation
import Glibc
import LocalDRM
import Testing

/// A LocalDRM session whose jobs' home is a fresh temporary directory; ends every job it
/// started and removes the directory when done.
public final class Fixture: Sendable {
    /// The jobs' home directory (`$drmaa_hd_ph$`), removed with the fixture.
    public let home: String
    /// The initialised LocalDRM session.
    public let session: Session
    /// The session's wall clock and timer clock, when the test drives time itself.
    public let clock: ManualClock?

    /// A session with `slots` slots; with `clock`, time moves only through `clock.advance(by:)`
    /// (wall time and time zone UTC, from 2026-01-01 00:00:00).
    public init(slots: Int = 4, clock: ManualClock? = nil, contact: String? = nil,
         configure: (inout LocalDRM.Configuration) -> Void = { _ in }) throws {
        home = NSTemporaryDirectory() + "drmaa-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        var configuration = LocalDRM.Configuration(slots: slots, homeDirectory: home)
        if let clock {
            configuration.clock = clock
            configuration.timers = clock
            configuration.timeZone = FixedOffsetTimeZone.utc
        }
        configure(&configuration)
        self.clock = clock
        session = Session(system: LocalDRM(configuration: configuration))
        try session.initialize(contact: contact)
    }

    deinit {
        if session.isActive {
            try? session.control(Session.jobIDsSessionAll, .terminate)
            clock?.advance(by: 3600)  // the end of any terminate grace period
            try? session.synchronize([Session.jobIDsSessionAll], timeout: .seconds(30), dispose: true)
            try? session.exit()
        }
        try? FileManager.default.removeItem(atPath: home)
    }

    /// A template running `command` with `args`, its output in `out` and errors in `err` under home.
    public func template(_ command: String, _ args: [String] = [], output: String? = ":$drmaa_hd_ph$/out") -> JobTemplate {
        var template = JobTemplate()
        template.remoteCommand = command
        template.args = args
        template.outputPath = output
        template.errorPath = ":$drmaa_hd_ph$/err"
        return template
    }

    /// A job that sleeps for 30 s (ended by the test or the fixture), with a native specification.
    public func sleeper(native: String? = nil) -> JobTemplate {
        var template = template("/bin/sleep", ["30"])
        template.nativeSpecification = native
        return template
    }

    /// A shell job: `/bin/sh -c script`.
    public func shell(_ script: String) -> JobTemplate {
        template("/bin/sh", ["-c", script])
    }

    /// The path of `name` in the home directory.
    public func path(_ name: String) -> String { home + "/" + name }

    /// The text of the file `name` in the home directory; "" if it cannot be read.
    public func read(_ name: String) -> String {
        (try? String(contentsOfFile: path(name), encoding: .utf8)) ?? ""
    }

    /// Waits (briefly polling) until a file exists and is not empty; for pids written by jobs.
    public func awaitFile(_ name: String, seconds: Double = 10) -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let text = read(name).trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { return text }
            usleep(5_000)
        }
        return ""
    }
}

/// Polls (briefly) until the job is in `state`; false after a few seconds.
public func awaitState(_ session: Session, _ id: String, _ state: JobState) -> Bool {
    for _ in 0..<1000 {
        if (try? session.jobStatus(id)) == state { return true }
        usleep(5_000)
    }
    return false
}

/// The state letter of a process in /proc (`R`, `S`, `T`, `Z`…), nil if it does not exist.
public func processState(_ pid: Int32) -> Character? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    return stat[stat.index(close, offsetBy: 2)]
}

/// Polls until the process is in `state`, or one of `orStates` (or gone, for nil); false after a few seconds.
public func awaitProcess(_ pid: Int32, state: Character?, orStates: Set<Character> = []) -> Bool {
    for _ in 0..<1000 {
        let current = processState(pid)
        if current == state || current.map(orStates.contains) == true { return true }
        usleep(5_000)
    }
    return false
}
