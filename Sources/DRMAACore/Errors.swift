/// A DRMAA 1.0 error code: the `int` every C binding function returns.
///
/// The raw values are the `DRMAA_ERRNO_*` constants of `drmaa.h`.
public enum ErrorCode: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case success = 0
    case internalError = 1
    case drmCommunicationFailure = 2
    case authFailure = 3
    case invalidArgument = 4
    case noActiveSession = 5
    case noMemory = 6
    case invalidContactString = 7
    case defaultContactStringError = 8
    case noDefaultContactStringSelected = 9
    case drmsInitFailed = 10
    case alreadyActiveSession = 11
    case drmsExitError = 12
    case invalidAttributeFormat = 13
    case invalidAttributeValue = 14
    case conflictingAttributeValues = 15
    case tryLater = 16
    case deniedByDRM = 17
    case invalidJob = 18
    case resumeInconsistentState = 19
    case suspendInconsistentState = 20
    case holdInconsistentState = 21
    case releaseInconsistentState = 22
    case exitTimeout = 23
    case noRusage = 24
    case noMoreElements = 25

    /// The generic text of the code, as `drmaa_strerror` returns it.
    public var standardMessage: String { Self.table[Int(rawValue)].message }

    /// The C constant's name, such as `DRMAA_ERRNO_INVALID_JOB`.
    public var constantName: String { Self.table[Int(rawValue)].constant }

    /// Every code's C constant name and generic text, one row per code in raw-value order (the
    /// codes run from 0 to 25 without a gap, so a code's raw value is its row).
    static let table: [(code: ErrorCode, constant: String, message: String)] = [
        (.success,                        "DRMAA_ERRNO_SUCCESS",                            "success"),
        (.internalError,                  "DRMAA_ERRNO_INTERNAL_ERROR",                     "internal error in the DRMAA library"),
        (.drmCommunicationFailure,        "DRMAA_ERRNO_DRM_COMMUNICATION_FAILURE",          "cannot communicate with the DRM system"),
        (.authFailure,                    "DRMAA_ERRNO_AUTH_FAILURE",                       "not authorized for this request"),
        (.invalidArgument,                "DRMAA_ERRNO_INVALID_ARGUMENT",                   "an argument is invalid"),
        (.noActiveSession,                "DRMAA_ERRNO_NO_ACTIVE_SESSION",                  "no active DRMAA session"),
        (.noMemory,                       "DRMAA_ERRNO_NO_MEMORY",                          "out of memory"),
        (.invalidContactString,           "DRMAA_ERRNO_INVALID_CONTACT_STRING",             "invalid contact string"),
        (.defaultContactStringError,      "DRMAA_ERRNO_DEFAULT_CONTACT_STRING_ERROR",       "the default contact string could not be used"),
        (.noDefaultContactStringSelected, "DRMAA_ERRNO_NO_DEFAULT_CONTACT_STRING_SELECTED", "no default contact string was selected"),
        (.drmsInitFailed,                 "DRMAA_ERRNO_DRMS_INIT_FAILED",                   "DRM system initialisation failed"),
        (.alreadyActiveSession,           "DRMAA_ERRNO_ALREADY_ACTIVE_SESSION",             "a DRMAA session is already active"),
        (.drmsExitError,                  "DRMAA_ERRNO_DRMS_EXIT_ERROR",                    "DRM system disengagement failed"),
        (.invalidAttributeFormat,         "DRMAA_ERRNO_INVALID_ATTRIBUTE_FORMAT",           "attribute value has an invalid format"),
        (.invalidAttributeValue,          "DRMAA_ERRNO_INVALID_ATTRIBUTE_VALUE",            "attribute value is invalid, or attribute is not set"),
        (.conflictingAttributeValues,     "DRMAA_ERRNO_CONFLICTING_ATTRIBUTE_VALUES",       "attribute conflicts with another attribute"),
        (.tryLater,                       "DRMAA_ERRNO_TRY_LATER",                          "DRM system is busy; retry later"),
        (.deniedByDRM,                    "DRMAA_ERRNO_DENIED_BY_DRM",                      "job rejected by the DRM system"),
        (.invalidJob,                     "DRMAA_ERRNO_INVALID_JOB",                        "no such job (unknown or already reaped)"),
        (.resumeInconsistentState,        "DRMAA_ERRNO_RESUME_INCONSISTENT_STATE",          "job is not suspended; cannot resume"),
        (.suspendInconsistentState,       "DRMAA_ERRNO_SUSPEND_INCONSISTENT_STATE",         "job is not running; cannot suspend"),
        (.holdInconsistentState,          "DRMAA_ERRNO_HOLD_INCONSISTENT_STATE",            "job cannot be held in its current state"),
        (.releaseInconsistentState,       "DRMAA_ERRNO_RELEASE_INCONSISTENT_STATE",         "job is not on hold; cannot release"),
        (.exitTimeout,                    "DRMAA_ERRNO_EXIT_TIMEOUT",                       "timeout expired before the condition was met"),
        (.noRusage,                       "DRMAA_ERRNO_NO_RUSAGE",                          "job ended but no usage/status data is available"),
        (.noMoreElements,                 "DRMAA_ERRNO_NO_MORE_ELEMENTS",                   "no more elements in the string vector"),
    ]

    /// The C constant's name (``constantName``).
    public var description: String { constantName }
}

/// The one error every DRMAA operation throws: a DRMAA code and a specific diagnosis.
///
/// The C binding returns ``code`` and copies ``message`` into the caller's
/// `error_diagnosis` buffer, so the message names the offending value.
public struct DRMAAError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The DRMAA error code; never ``ErrorCode/success``.
    public let code: ErrorCode
    /// What went wrong, specific to this failure; never empty.
    public let message: String

    /// Creates an error; an empty message falls back to the code's standard text.
    public init(_ code: ErrorCode, _ message: String = "") {
        self.code = code
        self.message = message.isEmpty ? code.standardMessage : message
    }

    public var description: String { "code \(code.rawValue): \(message)" }
}

extension DRMAAError {
    /// `INVALID_ARGUMENT` (4) with a message.
    public static func invalidArgument(_ message: String) -> DRMAAError { DRMAAError(.invalidArgument, message) }
    /// `INVALID_JOB` (18) for a job id this session does not know (or no longer knows).
    public static func invalidJob(_ id: String) -> DRMAAError {
        DRMAAError(.invalidJob, "job '\(id)' is not a job of this session, or it has already been reaped")
    }
    /// `DENIED_BY_DRM` (17): the resource manager refuses a submission, for the reason given.
    public static func denied(_ message: String) -> DRMAAError { DRMAAError(.deniedByDRM, message) }
}
