import Dispatch
import Foundation
import Synchronization
import Testing
import DRMAACore
import EmbeddedDRM

// MARK: Fixtures

/// 2002-09-03 17:00:00 UTC, the "now" of the digest's partial-timestamp examples.
public let digestNow: Double = 1_031_072_400

/// A fresh, initialised session on its own EmbeddedDRM. Never shared between tests.
public func makeSession(
    home: String = "/home/tester",
    clock: any WallClock = FixedClock(1_000_000_000),
    timeZone: any TimeZoneRule = FixedOffsetTimeZone.utc
) throws -> (Session, EmbeddedDRM) {
    let system = EmbeddedDRM(homeDirectory: home, clock: clock, timeZone: timeZone)
    let session = Session(system: system)
    try session.initialize()
    return (session, system)
}

/// A template that is valid for submission.
public func commandTemplate(_ command: String = "/bin/sleep", _ args: [String] = ["1"]) -> JobTemplate {
    var template = JobTemplate()
    template.remoteCommand = command
    template.args = args
    return template
}

extension EmbeddedDRM {
    /// The backend of the current session; fails the test if there is none.
    public func requireBackend(sourceLocation: SourceLocation = #_sourceLocation) throws -> EmbeddedBackend {
        try #require(backend, sourceLocation: sourceLocation)
    }

    /// The single JobRequest of the last submission.
    public func lastRequests(sourceLocation: SourceLocation = #_sourceLocation) throws -> [JobRequest] {
        try #require(try requireBackend(sourceLocation: sourceLocation).submitted.last, sourceLocation: sourceLocation)
    }
}

// MARK: Error expectations

/// Expects `body` to throw a DRMAAError with `code` and a non-empty message.
@discardableResult
public func expectDRMAAError<R>(
    _ code: ErrorCode, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> R
) -> DRMAAError? {
    let error = #expect(throws: DRMAAError.self, sourceLocation: sourceLocation) { _ = try body() }
    #expect(error?.code == code, "expected \(code), got \(String(describing: error))", sourceLocation: sourceLocation)
    #expect(error?.message.isEmpty == false, sourceLocation: sourceLocation)
    return error
}

/// The async form of ``expectDRMAAError(_:sourceLocation:_:)``.
@discardableResult
public func expectDRMAAErrorAsync<R>(
    _ code: ErrorCode, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> R
) async -> DRMAAError? {
    let error = await #expect(throws: DRMAAError.self, sourceLocation: sourceLocation) { _ = try await body() }
    #expect(error?.code == code, "expected \(code), got \(String(describing: error))", sourceLocation: sourceLocation)
    #expect(error?.message.isEmpty == false, sourceLocation: sourceLocation)
    return error
}

/// The code of a failed result, nil on success.
public func code<T>(_ result: Result<T, DRMAAError>) -> ErrorCode? {
    if case .failure(let error) = result { return error.code }
    return nil
}

// MARK: Threads

/// Runs `body` on a dedicated thread (not the cooperative pool, not GCD), so that blocking
/// DRMAA calls can wait while the test thread drives the backend.
public final class Background<T: Sendable>: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let result = Mutex<T?>(nil)

    /// Starts `body` on its own thread.
    public init(_ body: @escaping @Sendable () -> T) {
        let thread = Thread { [self] in
            let value = body()
            result.withLock { $0 = value }
            done.signal()
        }
        thread.start()
    }

    /// True once the body has returned.
    public var isFinished: Bool { result.withLock { $0 != nil } }

    /// The body's result; records an issue and returns nil if it takes more than 10 s.
    public func join(sourceLocation: SourceLocation = #_sourceLocation) -> T? {
        guard done.wait(timeout: .now() + .seconds(10)) == .success else {
            Issue.record("background thread did not finish within 10 s", sourceLocation: sourceLocation)
            return nil
        }
        done.signal()
        return result.withLock { $0 }
    }
}

/// A blocking DRMAA call on its own thread, as a Result.
public func inBackground<T: Sendable>(_ body: @escaping @Sendable () throws -> T) -> Background<Result<T, DRMAAError>> {
    Background {
        do {
            return .success(try body())
        } catch let error as DRMAAError {
            return .failure(error)
        } catch {
            return .failure(DRMAAError(.internalError, "unexpected non-DRMAA error \(error)"))
        }
    }
}

/// A tiny deterministic PRNG (SplitMix64), so "random" inputs are the same on every run.
public struct SplitMix64: RandomNumberGenerator {
    /// The generator's state; each ``next()`` advances it.
    public var state: UInt64
    /// A generator that always yields the same sequence for the same `seed`.
    public init(seed: UInt64) { state = seed }
    /// The next pseudo-random number.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
