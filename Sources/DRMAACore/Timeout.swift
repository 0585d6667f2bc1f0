import Dispatch

/// How long ``Session/wait(_:timeout:)`` and ``Session/synchronize(_:timeout:dispose:)`` may block.
public struct Timeout: Sendable, Equatable, CustomStringConvertible {
    /// Seconds; `nil` waits forever.
    public let seconds: Double?

    /// `DRMAA_TIMEOUT_WAIT_FOREVER`.
    public static let forever = Timeout(seconds: nil)
    /// `DRMAA_TIMEOUT_NO_WAIT`: return at once.
    public static let noWait = Timeout(seconds: 0)
    /// Wait at most this many seconds.
    public static func seconds(_ value: Double) -> Timeout { Timeout(seconds: max(0, value)) }

    private init(seconds: Double?) { self.seconds = seconds }

    /// Decodes the C binding's `signed long timeout`: -1 forever, 0 no wait, positive seconds;
    /// other negative values are `INVALID_ARGUMENT`.
    public init(drmaaValue: Int) throws(DRMAAError) {
        switch drmaaValue {
        case -1: self = .forever
        case 0...: self.seconds = Double(drmaaValue)
        default:
            throw .invalidArgument("timeout \(drmaaValue) is invalid: use -1 (wait forever), 0 (no wait) or a number of seconds")
        }
    }

    /// The monotonic deadline of a wait starting now, `nil` for forever.
    var deadline: DispatchTime? {
        guard let seconds else { return nil }
        let nanoseconds = min(seconds, 1e9) * 1e9
        return DispatchTime.now() + .nanoseconds(Int(nanoseconds))
    }

    public var description: String {
        switch seconds {
        case nil: "forever"
        case 0?: "no wait"
        case let s?: "\(s) s"
        }
    }
}
