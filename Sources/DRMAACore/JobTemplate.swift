/// A DRMAA job template: the description of a job to submit.
///
/// A value type: a submission copies it, so changing or deleting a template after
/// ``Session/runJob(_:)`` never affects the submitted job. Every attribute can be set through
/// a typed property (named as in drmaa-python) or by its DRMAA name as a string
/// (``setAttribute(_:_:)``), which is what the C binding uses. Values are stored exactly as
/// given, so they round-trip byte for byte.
///
/// Validation follows Grid Engine: the submission state, `join_files`, `block_email`,
/// `transfer_files` and the time limits are checked when set; everything else when the job is
/// submitted (then `DENIED_BY_DRM`).
public struct JobTemplate: Sendable, Equatable {
    private var scalars: [AttributeName: String] = [:]
    private var vectors: [AttributeName: [String]] = [:]

    /// An empty template.
    public init() {}

    // MARK: By name (the C binding's view)

    /// Sets a scalar attribute by its DRMAA name (`drmaa_set_attribute`).
    public mutating func setAttribute(_ name: String, _ value: String) throws(DRMAAError) {
        let attribute = try AttributeName.lookUp(name, vector: false)
        try Self.validate(attribute, value)
        scalars[attribute] = value
    }

    /// The value of a scalar attribute (`drmaa_get_attribute`); `INVALID_ATTRIBUTE_VALUE` if never set.
    public func attribute(_ name: String) throws(DRMAAError) -> String {
        let attribute = try AttributeName.lookUp(name, vector: false)
        guard let value = scalars[attribute] else {
            throw DRMAAError(.invalidAttributeValue, "attribute '\(name)' is not set in this job template")
        }
        return value
    }

    /// Sets a vector attribute by its DRMAA name (`drmaa_set_vector_attribute`); empty is allowed.
    public mutating func setVectorAttribute(_ name: String, _ values: [String]) throws(DRMAAError) {
        let attribute = try AttributeName.lookUp(name, vector: true)
        vectors[attribute] = values
    }

    /// The values of a vector attribute (`drmaa_get_vector_attribute`); `INVALID_ATTRIBUTE_VALUE` if never set.
    public func vectorAttribute(_ name: String) throws(DRMAAError) -> [String] {
        let attribute = try AttributeName.lookUp(name, vector: true)
        guard let values = vectors[attribute] else {
            throw DRMAAError(.invalidAttributeValue, "attribute '\(name)' is not set in this job template")
        }
        return values
    }

    /// The raw stored value of a scalar attribute, `nil` if unset.
    public subscript(scalar attribute: AttributeName) -> String? {
        get { scalars[attribute] }
    }

    /// The raw stored values of a vector attribute, `nil` if unset.
    public subscript(vector attribute: AttributeName) -> [String]? {
        get { vectors[attribute] }
    }

    /// The checks Grid Engine makes when an attribute is set.
    static func validate(_ attribute: AttributeName, _ value: String) throws(DRMAAError) {
        switch attribute {
        case .jobSubmissionState:
            guard SubmissionState(rawValue: value) != nil else {
                throw DRMAAError(.invalidAttributeValue, "drmaa_js_state must be 'drmaa_active' or 'drmaa_hold', not '\(value)'")
            }
        case .joinFiles:
            guard value == "y" || value == "n" else {
                throw DRMAAError(.invalidAttributeValue, "drmaa_join_files must be 'y' or 'n', not '\(value)'")
            }
        case .blockEmail:
            guard value == "0" || value == "1" else {
                throw DRMAAError(.invalidAttributeValue, "drmaa_block_email must be '0' or '1', not '\(value)'")
            }
        case .transferFiles:
            guard value.allSatisfy({ $0 == "i" || $0 == "o" || $0 == "e" }) else {
                throw DRMAAError(.invalidAttributeValue, "drmaa_transfer_files takes only the letters i, o and e, not '\(value)'")
            }
        case .hardWallclockTimeLimit, .softWallclockTimeLimit, .hardRunDurationLimit, .softRunDurationLimit:
            _ = try TimeAmount.parse(value, attribute: attribute.rawValue)
        default:
            break
        }
    }

    // MARK: Typed properties (drmaa-python's names)

    private mutating func setScalar(_ attribute: AttributeName, _ value: String?) {
        guard let value else { scalars[attribute] = nil; return }
        scalars[attribute] = value
    }

    /// `drmaa_remote_command`: the program to run (absolute, relative to the working directory, or a name found on `PATH`).
    public var remoteCommand: String? {
        get { scalars[.remoteCommand] }
        set { setScalar(.remoteCommand, newValue) }
    }
    /// `drmaa_v_argv`: the arguments, passed exactly (no shell, no placeholders).
    public var args: [String] {
        get { vectors[.args] ?? [] }
        set { vectors[.args] = newValue }
    }
    /// `drmaa_js_state`: submit active (default) or on hold.
    public var jobSubmissionState: SubmissionState {
        get { scalars[.jobSubmissionState].flatMap(SubmissionState.init(rawValue:)) ?? .active }
        set { scalars[.jobSubmissionState] = newValue.rawValue }
    }
    /// `drmaa_v_env`: variables added to (and overriding) the job's environment.
    public var jobEnvironment: [String: String] {
        get {
            var result: [String: String] = [:]
            for entry in vectors[.jobEnvironment] ?? [] {
                let (name, value) = Self.splitEnvironmentEntry(entry)
                result[name] = value
            }
            return result
        }
        set { vectors[.jobEnvironment] = newValue.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } }
    }
    /// `drmaa_wd`: the working directory (placeholders allowed); default the home directory.
    public var workingDirectory: String? {
        get { scalars[.workingDirectory] }
        set { setScalar(.workingDirectory, newValue) }
    }
    /// `drmaa_job_category`: an opaque category, mapped to native options by the backend.
    public var jobCategory: String? {
        get { scalars[.jobCategory] }
        set { setScalar(.jobCategory, newValue) }
    }
    /// `drmaa_native_specification`: backend-specific options.
    public var nativeSpecification: String? {
        get { scalars[.nativeSpecification] }
        set { setScalar(.nativeSpecification, newValue) }
    }
    /// `drmaa_v_email`: addresses to notify (stored; the local backend sends no mail).
    public var email: [String] {
        get { vectors[.email] ?? [] }
        set { vectors[.email] = newValue }
    }
    /// `drmaa_block_email`: suppress mail.
    public var blockEmail: Bool {
        get { scalars[.blockEmail] == "1" }
        set { scalars[.blockEmail] = newValue ? "1" : "0" }
    }
    /// `drmaa_start_time`: a partial timestamp (`[[[[CC]YY/]MM/]DD] hh:mm[:ss] [{-|+}UU:uu]`).
    public var startTime: String? {
        get { scalars[.startTime] }
        set { setScalar(.startTime, newValue) }
    }
    /// `drmaa_job_name`: the job's name (default: the command's base name).
    public var jobName: String? {
        get { scalars[.jobName] }
        set { setScalar(.jobName, newValue) }
    }
    /// `drmaa_input_path`: `[host]:path` of the job's standard input.
    public var inputPath: String? {
        get { scalars[.inputPath] }
        set { setScalar(.inputPath, newValue) }
    }
    /// `drmaa_output_path`: `[host]:path` of the job's standard output.
    public var outputPath: String? {
        get { scalars[.outputPath] }
        set { setScalar(.outputPath, newValue) }
    }
    /// `drmaa_error_path`: `[host]:path` of the job's standard error.
    public var errorPath: String? {
        get { scalars[.errorPath] }
        set { setScalar(.errorPath, newValue) }
    }
    /// `drmaa_join_files`: send standard error to the output path.
    public var joinFiles: Bool {
        get { scalars[.joinFiles] == "y" }
        set { scalars[.joinFiles] = newValue ? "y" : "n" }
    }
    /// `drmaa_transfer_files`: which of `i`, `o`, `e` to stage (a no-op locally). Other letters
    /// are dropped when set through this property; ``setAttribute(_:_:)`` refuses them with 14.
    public var transferFiles: String? {
        get { scalars[.transferFiles] }
        set { scalars[.transferFiles] = newValue.map { String($0.filter { "ioe".contains($0) }) } }
    }
    /// `drmaa_deadline_time`: a partial timestamp after which the job is terminated.
    public var deadlineTime: String? {
        get { scalars[.deadlineTime] }
        set { setScalar(.deadlineTime, newValue) }
    }
    /// `drmaa_wct_hlimit` in seconds: the hard wall-clock limit.
    public var hardWallclockTimeLimit: Int? {
        get { seconds(.hardWallclockTimeLimit) }
        set { setSeconds(.hardWallclockTimeLimit, newValue) }
    }
    /// `drmaa_wct_slimit` in seconds: the soft wall-clock limit.
    public var softWallclockTimeLimit: Int? {
        get { seconds(.softWallclockTimeLimit) }
        set { setSeconds(.softWallclockTimeLimit, newValue) }
    }
    /// `drmaa_duration_hlimit` in seconds: the hard limit on running time.
    public var hardRunDurationLimit: Int? {
        get { seconds(.hardRunDurationLimit) }
        set { setSeconds(.hardRunDurationLimit, newValue) }
    }
    /// `drmaa_duration_slimit` in seconds: the soft limit on running time.
    public var softRunDurationLimit: Int? {
        get { seconds(.softRunDurationLimit) }
        set { setSeconds(.softRunDurationLimit, newValue) }
    }

    private func seconds(_ attribute: AttributeName) -> Int? {
        scalars[attribute].flatMap { try? TimeAmount.parse($0, attribute: attribute.rawValue) }
    }
    private mutating func setSeconds(_ attribute: AttributeName, _ value: Int?) {
        scalars[attribute] = value.map { String(max(0, $0)) }
    }

    /// Splits `name=value` at the first `=`; an entry without `=` is a name with an empty value.
    static func splitEnvironmentEntry(_ entry: String) -> (String, String) {
        guard let equals = entry.firstIndex(of: "=") else { return (entry, "") }
        return (String(entry[..<equals]), String(entry[entry.index(after: equals)...]))
    }

    /// The names of the attributes that are set, scalar and vector, in catalogue order.
    public var setAttributeNames: [String] {
        AttributeName.allCases.filter { scalars[$0] != nil || vectors[$0] != nil }.map(\.rawValue)
    }
}

/// The `[[h:]m:]s` time amounts of the DRMAA time-limit attributes.
public enum TimeAmount {
    /// Parses `90`, `1:30` or `1:00:00` into seconds. Fields after the first may exceed 59.
    /// Any number of seconds that fits an `Int` is accepted, so every value the typed properties
    /// store (``JobTemplate/hardWallclockTimeLimit`` …) reads back. Anything else is
    /// `INVALID_ATTRIBUTE_FORMAT`.
    public static func parse(_ text: String, attribute: String = "time amount") throws(DRMAAError) -> Int {
        let fields = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...3).contains(fields.count),
              fields.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } })
        else {
            throw DRMAAError(.invalidAttributeFormat, "\(attribute) must be a time amount [[h:]m:]s such as 90, 1:30 or 1:00:00, not '\(text)'")
        }
        var total = 0
        for field in fields {
            // Only digits, so Int(field) is nil only when the field alone is too large.
            let (scaled, o1) = total.multipliedReportingOverflow(by: 60)
            guard let value = Int(field), !o1 else { throw DRMAAError(.invalidAttributeFormat, "\(attribute) '\(text)' is too large") }
            let (sum, o2) = scaled.addingReportingOverflow(value)
            guard !o2 else { throw DRMAAError(.invalidAttributeFormat, "\(attribute) '\(text)' is too large") }
            total = sum
        }
        return total
    }
}
