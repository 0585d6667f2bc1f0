/// The state of a job as `drmaa_job_ps` reports it. Raw values are the `DRMAA_PS_*` constants.
public enum JobState: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case undetermined = 0x00
    case queuedActive = 0x10
    case systemOnHold = 0x11
    case userOnHold = 0x12
    case userSystemOnHold = 0x13
    case running = 0x20
    case systemSuspended = 0x21
    case userSuspended = 0x22
    case userSystemSuspended = 0x23
    case done = 0x30
    case failed = 0x40

    /// The drmaa-python name of the state, such as `queued_active`.
    public var name: String {
        switch self {
        case .undetermined: "undetermined"
        case .queuedActive: "queued_active"
        case .systemOnHold: "system_on_hold"
        case .userOnHold: "user_on_hold"
        case .userSystemOnHold: "user_system_on_hold"
        case .running: "running"
        case .systemSuspended: "system_suspended"
        case .userSuspended: "user_suspended"
        case .userSystemSuspended: "user_system_suspended"
        case .done: "done"
        case .failed: "failed"
        }
    }

    public var description: String { name }

    /// True for DONE and FAILED.
    public var isFinished: Bool { self == .done || self == .failed }
    /// True for the pending states (0x1x): queued or on hold.
    public var isPending: Bool { rawValue & 0xF0 == 0x10 }
    /// True for the started states (0x2x): running or suspended.
    public var isStarted: Bool { rawValue & 0xF0 == 0x20 }
}

/// An action for ``Session/control(_:_:)``. Raw values are the `DRMAA_CONTROL_*` constants.
public enum JobControlAction: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case suspend = 0
    case resume = 1
    case hold = 2
    case release = 3
    case terminate = 4

    public var description: String {
        switch self {
        case .suspend: "suspend"
        case .resume: "resume"
        case .hold: "hold"
        case .release: "release"
        case .terminate: "terminate"
        }
    }

    /// Decodes a C action value; anything but 0...4 is `INVALID_ARGUMENT`.
    public init(code: Int32) throws(DRMAAError) {
        guard let action = JobControlAction(rawValue: code) else {
            throw .invalidArgument("control action \(code) is not one of SUSPEND(0), RESUME(1), HOLD(2), RELEASE(3), TERMINATE(4)")
        }
        self = action
    }
}

/// What ``Session/control(_:_:)`` does with a job in a given state (digest §4.4).
public enum ControlDecision: Equatable, Sendable {
    /// Ask the backend to carry the action out.
    case perform
    /// Legal, but nothing to do.
    case nothing
}

extension JobState {
    /// The legality matrix of DRMAA 1.0 control actions (digest §4.4) for a job in this state;
    /// throws the matching inconsistent-state error.
    public func decide(_ action: JobControlAction, jobID: String) throws(DRMAAError) -> ControlDecision {
        switch action {
        case .suspend:
            guard self == .running else {
                throw DRMAAError(.suspendInconsistentState, "cannot suspend job \(jobID): it is \(name), not running")
            }
            return .perform
        case .resume:
            guard self == .userSuspended else {
                throw DRMAAError(.resumeInconsistentState, "cannot resume job \(jobID): it is \(name), not suspended")
            }
            return .perform
        case .hold:
            if self == .userOnHold { return .nothing }
            guard self == .queuedActive else {
                throw DRMAAError(.holdInconsistentState, "cannot hold job \(jobID): it is \(name); only queued jobs can be held")
            }
            return .perform
        case .release:
            return self == .userOnHold ? .perform : .nothing
        case .terminate:
            return isFinished ? .nothing : .perform
        }
    }
}
