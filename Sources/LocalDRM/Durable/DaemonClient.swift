import CLocalDRM
import DRMAACore
import Glibc
import LocalDRMWire

/// A library process's connection to its daemon: requests answered in order of their ids,
/// events handed to the session as they arrive. Made by ``connect(stateDirectory:start:onEvent:onClose:)``.
final class DaemonClient: Sendable {
    /// One request waiting for its reply.
    final class Slot: @unchecked Sendable {
        // @unchecked: `semaphore` is made in `init` and destroyed in `deinit`; sem_post and
        // sem_timedwait are thread-safe. `reply` is behind a Mutex.
        private let semaphore: UnsafeMutablePointer<sem_t> = .allocate(capacity: 1)
        private let reply = Mutex<Result<Reply, DRMAAError>?>(nil)
        /// Runs on the connection's thread before any later message is read (see ``DaemonClient/request(_:timeout:onReader:)``).
        let onReader: (@Sendable (Reply) -> Void)?

        init(onReader: (@Sendable (Reply) -> Void)?) {
            self.onReader = onReader
            sem_init(semaphore, 0, 0)
        }

        deinit {
            sem_destroy(semaphore)
            semaphore.deallocate()
        }

        func fulfil(_ result: Result<Reply, DRMAAError>) {
            let first = reply.withLock { reply -> Bool in
                guard reply == nil else { return false }
                reply = result
                return true
            }
            if first { sem_post(semaphore) }
        }

        /// The reply, or `nil` when `timeout` seconds passed first.
        func wait(timeout: Double) -> Result<Reply, DRMAAError>? {
            var deadline = timespec()
            clock_gettime(CLOCK_REALTIME, &deadline)
            let total = Double(deadline.tv_sec) + Double(deadline.tv_nsec) / 1e9 + timeout
            deadline.tv_sec = Int(total)
            deadline.tv_nsec = Int((total - Double(Int(total))) * 1e9)
            while sem_timedwait(semaphore, &deadline) != 0 {
                if errno == ETIMEDOUT { return reply.withLock { $0 } }
            }
            return reply.withLock { $0 }
        }
    }

    private struct State {
        var nextID: UInt64 = 1
        var pending: [UInt64: Slot] = [:]
        /// Why the connection ended, once it has.
        var closed: String?
    }

    private let state = Mutex(State())
    private let connectionBox = Mutex<Connection?>(nil)
    /// The handshake's slot, fulfilled by the daemon's first message.
    private let welcome = Slot(onReader: nil)
    /// The process that made this connection.
    let ownerProcessID = Syscall.processID()

    /// How long a request may take before the daemon counts as unreachable.
    static let requestTimeout = 120.0

    private init(descriptor: Int32, onEvent: @escaping @Sendable (Event) -> Void,
                 onClose: @escaping @Sendable (String) -> Void) throws(DRMAAError) {
        let connection: Connection
        do throws(Errno) {
            connection = try Connection(descriptor: descriptor)
        } catch {
            throw DRMAAError(.drmCommunicationFailure, "cannot serve the connection to the LocalDRM daemon: \(error)")
        }
        connectionBox.withLock { $0 = connection }
        // The connection's handlers hold the client until the connection ends, then let it go.
        let box = Mutex<DaemonClient?>(self)
        do throws(Errno) {
            try connection.start(onFrame: { frame in
                box.withLock { $0 }?.received(frame, onEvent: onEvent)
            }, onClose: { reason in
                let client = box.withLock { client in
                    defer { client = nil }
                    return client
                }
                client?.closed(reason)
                onClose(reason)
            })
        } catch {
            throw DRMAAError(.drmCommunicationFailure, "cannot serve the connection to the LocalDRM daemon: \(error)")
        }
        let hello: [UInt8]
        do throws(WireError) {
            hello = try ClientMessage.hello(Hello(clientPID: Syscall.processID())).framed()
        } catch {
            throw DRMAAError(.internalError, "cannot encode the hello: \(error)")
        }
        connection.send(hello)
        guard let answer = welcome.wait(timeout: 30) else {
            connection.close()
            throw DRMAAError(.drmCommunicationFailure, "the LocalDRM daemon did not answer the hello within 30 s")
        }
        switch answer {
        case .failure(let error):
            connection.close()
            throw error
        case .success:
            break
        }
    }

    /// Connects to the daemon of `stateDirectory`, starting one if none runs (`start`), and shakes hands.
    static func connect(stateDirectory: String, start: Bool = true, onEvent: @escaping @Sendable (Event) -> Void,
                        onClose: @escaping @Sendable (String) -> Void) throws(DRMAAError) -> DaemonClient {
        let descriptor = try DaemonStarter.connect(stateDirectory: stateDirectory, start: start)
        return try DaemonClient(descriptor: descriptor, onEvent: onEvent, onClose: onClose)
    }

    /// Sends `request` and waits for its reply; a `failed` reply is thrown. `onReader` runs on the
    /// connection's thread with the reply before any later message is read: what must happen before
    /// the events that follow the reply (a re-attach's records) goes there.
    func request(_ request: Request, timeout: Double = DaemonClient.requestTimeout,
                 onReader: (@Sendable (Reply) -> Void)? = nil) throws(DRMAAError) -> Reply {
        let slot = Slot(onReader: onReader)
        let registered = state.withLock { state -> Result<UInt64, DRMAAError> in
            if let reason = state.closed { return .failure(Self.lost(reason)) }
            let id = state.nextID
            state.nextID += 1
            state.pending[id] = slot
            return .success(id)
        }
        let id: UInt64
        switch registered {
        case .failure(let error): throw error
        case .success(let value): id = value
        }
        let frame: [UInt8]
        do throws(WireError) {
            frame = try ClientMessage.request(id: id, request).framed()
        } catch {
            _ = state.withLock { $0.pending.removeValue(forKey: id) }
            throw DRMAAError(.invalidArgument, "the request is too large for the LocalDRM daemon: \(error)")
        }
        guard connectionBox.withLock({ $0 })?.send(frame) == true else {
            _ = state.withLock { $0.pending.removeValue(forKey: id) }
            throw Self.lost(state.withLock { $0.closed } ?? "the connection is closed")
        }
        guard let result = slot.wait(timeout: timeout) else {
            _ = state.withLock { $0.pending.removeValue(forKey: id) }
            throw DRMAAError(.drmCommunicationFailure, "the LocalDRM daemon (pid \(daemonPIDText)) did not answer within \(Int(timeout)) s")
        }
        switch result {
        case .failure(let error): throw error
        case .success(.failed(let error)): throw error
        case .success(let reply): return reply
        }
    }

    private var daemonPIDText: String { String(welcomePID.withLock { $0 }) }
    private let welcomePID = Mutex<Int32>(0)

    /// True once the connection has ended.
    var isClosed: Bool { state.withLock { $0.closed != nil } }

    /// Ends the connection; pending requests fail.
    func close() {
        connectionBox.withLock { $0 }?.close()
    }

    private static func lost(_ reason: String) -> DRMAAError {
        DRMAAError(.drmCommunicationFailure, "the connection to the LocalDRM daemon was lost: \(reason)")
    }

    private func received(_ frame: [UInt8], onEvent: @Sendable (Event) -> Void) {
        let message: DaemonMessage
        do throws(WireError) {
            message = try DaemonMessage(wireBytes: frame)
        } catch {
            closed("the daemon sent an invalid message: \(error)")
            close()
            return
        }
        switch message {
        case .welcome(let welcome):
            do throws(DRMAAError) {
                let accepted = try WireProtocol.accept(.welcome(welcome))
                welcomePID.withLock { $0 = accepted.daemonPID }
                self.welcome.fulfil(.success(.ok))
            } catch {
                self.welcome.fulfil(.failure(error))
            }
        case .refused(let error):
            welcome.fulfil(.failure(error))
        case .reply(let id, let reply):
            guard let slot = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
            slot.onReader?(reply)
            slot.fulfil(.success(reply))
        case .event(let event):
            onEvent(event)
        }
    }

    private func closed(_ reason: String) {
        let pending = state.withLock { state -> [Slot] in
            if state.closed == nil { state.closed = reason }
            defer { state.pending = [:] }
            return Array(state.pending.values)
        }
        welcome.fulfil(.failure(Self.lost(reason)))
        for slot in pending { slot.fulfil(.failure(Self.lost(reason))) }
    }
}
