/// The job template attributes of the DRMAA 1.0 C binding that this implementation supports.
///
/// Raw values are the exact C names. Every mandatory attribute is here, and every optional one
/// (`drmaa_transfer_files`, `drmaa_deadline_time`, the four time limits), so all of them are listed
/// by `drmaa_get_attribute_names` / `drmaa_get_vector_attribute_names`.
public enum AttributeName: String, Sendable, CaseIterable {
    case remoteCommand = "drmaa_remote_command"
    case jobSubmissionState = "drmaa_js_state"
    case workingDirectory = "drmaa_wd"
    case jobCategory = "drmaa_job_category"
    case nativeSpecification = "drmaa_native_specification"
    case blockEmail = "drmaa_block_email"
    case startTime = "drmaa_start_time"
    case jobName = "drmaa_job_name"
    case inputPath = "drmaa_input_path"
    case outputPath = "drmaa_output_path"
    case errorPath = "drmaa_error_path"
    case joinFiles = "drmaa_join_files"
    case transferFiles = "drmaa_transfer_files"
    case deadlineTime = "drmaa_deadline_time"
    case hardWallclockTimeLimit = "drmaa_wct_hlimit"
    case softWallclockTimeLimit = "drmaa_wct_slimit"
    case hardRunDurationLimit = "drmaa_duration_hlimit"
    case softRunDurationLimit = "drmaa_duration_slimit"
    case args = "drmaa_v_argv"
    case jobEnvironment = "drmaa_v_env"
    case email = "drmaa_v_email"

    /// True for the three vector attributes (`drmaa_v_*`).
    public var isVector: Bool { self == .args || self == .jobEnvironment || self == .email }
    /// True for the attributes every DRMAA implementation must support.
    public var isMandatory: Bool {
        switch self {
        case .transferFiles, .deadlineTime, .hardWallclockTimeLimit, .softWallclockTimeLimit,
             .hardRunDurationLimit, .softRunDurationLimit: false
        default: true
        }
    }

    /// The scalar attribute names, in catalogue order (`drmaa_get_attribute_names`).
    public static let scalarNames: [String] = allCases.filter { !$0.isVector }.map(\.rawValue)
    /// The vector attribute names (`drmaa_get_vector_attribute_names`).
    public static let vectorNames: [String] = allCases.filter(\.isVector).map(\.rawValue)

    /// Looks a name up; unknown names are `INVALID_ARGUMENT`, as on Grid Engine.
    static func lookUp(_ name: String, vector: Bool) throws(DRMAAError) -> AttributeName {
        guard let attribute = AttributeName(rawValue: name) else {
            throw .invalidArgument("'\(name)' is not a supported job template attribute")
        }
        guard attribute.isVector == vector else {
            throw .invalidArgument(vector
                ? "'\(name)' is a scalar attribute: use drmaa_set_attribute / drmaa_get_attribute"
                : "'\(name)' is a vector attribute: use drmaa_set_vector_attribute / drmaa_get_vector_attribute")
        }
        return attribute
    }
}

/// The values of `drmaa_js_state`.
public enum SubmissionState: String, Sendable {
    /// `drmaa_active`: the job is queued and runs when it can.
    case active = "drmaa_active"
    /// `drmaa_hold`: the job is queued on user hold until released.
    case hold = "drmaa_hold"
}

/// The three placeholders of DRMAA 1.0 paths.
public enum Placeholder {
    /// `$drmaa_incr_ph$`: the bulk task index.
    public static let taskIndex = "$drmaa_incr_ph$"
    /// `$drmaa_hd_ph$`: the user's home directory.
    public static let homeDirectory = "$drmaa_hd_ph$"
    /// `$drmaa_wd_ph$`: the job's working directory.
    public static let workingDirectory = "$drmaa_wd_ph$"
}
