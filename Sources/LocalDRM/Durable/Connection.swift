import CLocalDRM
import DRMAACore
import Glibc
import LocalDRMWire

/// One stream connection of the durable mode (a library process and its daemon), framed as
/// LocalDRMWire says: a thread of its own reads frames and hands each over in order, and sending
/// never blocks the caller for long: what the socket does not take at once waits in an outbox that
/// the connection's thread writes out when the peer reads.
///
/// The thread owns the descriptor: it is closed only by that thread, when the connection ends (the
/// peer closed it, an error, an oversized outbox, or ``close()``), so its number is never reused
/// while another thread could still use it.
final class Connection: Sendable {
    /// Why a connection ended, for the messages of the calls it fails.
    typealias CloseHandler = @Sendable (_ reason: String) -> Void

    private struct State {
        var outbox: [UInt8] = []
        var closing = false
        var closed = false
        var closeReason: String?
    }

    let descriptor: Int32
    /// Wakes the thread when the outbox gains bytes or the connection is to close.
    private let wakeup: Int32
    private let state = Mutex(State())
    /// The most a peer may leave unread before the connection is dropped.
    static let maximumOutbox = 256 << 20

    /// Takes over `descriptor` (a connected stream socket); ``start(onFrame:onClose:)`` starts reading.
    init(descriptor: Int32) throws(Errno) {
        self.descriptor = descriptor
        do {
            wakeup = try Syscall.eventFD()
        } catch {
            Syscall.close(descriptor)
            throw error
        }
    }

    /// Starts the connection's thread, which calls `onFrame` with every frame's payload, then
    /// `onClose` once. If the thread cannot start, the connection is closed and `onClose` is not called.
    func start(onFrame: @escaping @Sendable ([UInt8]) -> Void, onClose: @escaping CloseHandler) throws(Errno) {
        do {
            try Syscall.startThread { [self] ready in
                ready()
                run(onFrame: onFrame, onClose: onClose)
            }
        } catch {
            state.withLock { state in
                state.closing = true
                state.closed = true
            }
            Syscall.close(wakeup)
            Syscall.close(descriptor)
            throw error
        }
    }

    /// Queues a frame; false if the connection has ended (or ends now because the peer left too
    /// much unread).
    @discardableResult
    func send(_ frame: [UInt8]) -> Bool {
        let wake = state.withLock { state -> Bool? in
            guard !state.closing else { return nil }
            if state.outbox.isEmpty {
                // Straight to the socket when nothing waits before it: the usual case.
                let sent: Int
                do throws(Errno) {
                    sent = try Syscall.sendSome(descriptor, frame[...])
                } catch {
                    state.closing = true
                    state.closeReason = "sending failed: \(error)"
                    return true
                }
                if sent == frame.count { return false }
                state.outbox.append(contentsOf: frame[sent...])
                return true
            }
            guard state.outbox.count + frame.count <= Self.maximumOutbox else {
                state.closing = true
                state.closeReason = "the peer left more than \(Self.maximumOutbox >> 20) MiB unread"
                return true
            }
            state.outbox.append(contentsOf: frame)
            return false  // the thread already waits to write
        }
        guard let wake else { return false }
        if wake { Syscall.notify(wakeup) }
        return true
    }

    /// Ends the connection: queued frames are still written if the peer takes them at once, then
    /// the thread closes the socket and calls its close handler.
    func close() {
        state.withLock { state in
            guard !state.closing else { return }
            state.closing = true
            state.closeReason = "closed by this side"
        }
        Syscall.notify(wakeup)
    }

    private func run(onFrame: @Sendable ([UInt8]) -> Void, onClose: CloseHandler) {
        var reader = FrameReader()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var reason = "the peer closed the connection"
        loop: while true {
            let (wantsWrite, closing) = state.withLock { ($0.outbox.isEmpty == false, $0.closing) }
            if closing {
                flushOnce()
                reason = state.withLock { $0.closeReason } ?? reason
                break
            }
            let events: [Int16]
            do throws(Errno) {
                events = try Syscall.poll([(descriptor, Int16(POLLIN) | (wantsWrite ? Int16(POLLOUT) : 0)), (wakeup, Int16(POLLIN))],
                                          timeoutMilliseconds: -1)
            } catch {
                reason = "poll failed: \(error)"
                break
            }
            if events[1] != 0 { Syscall.drain(wakeup) }
            if events[0] & Int16(POLLOUT) != 0, let failure = flushOnce() {
                reason = failure
                break
            }
            if events[0] & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let count: Int
                do throws(Errno) {
                    count = try Syscall.receive(descriptor, into: &buffer, nonBlocking: true)
                } catch where error == .wouldBlock {
                    continue
                } catch {
                    reason = "receiving failed: \(error)"
                    break
                }
                if count == 0 { break }
                reader.append(buffer[..<count])
                do throws(WireError) {
                    while let frame = try reader.next() {
                        onFrame(frame)
                        if state.withLock({ $0.closing }) { continue loop }
                    }
                } catch {
                    reason = "the peer sent an invalid frame: \(error)"
                    break
                }
            }
        }
        state.withLock { state in
            state.closing = true
            state.closed = true
            state.outbox = []
        }
        Syscall.close(descriptor)
        Syscall.close(wakeup)
        onClose(reason)
    }

    /// Writes what the socket takes of the outbox now; the failure, if writing failed.
    @discardableResult
    private func flushOnce() -> String? {
        state.withLock { state -> String? in
            guard !state.outbox.isEmpty else { return nil }
            do throws(Errno) {
                let sent = try Syscall.sendSome(descriptor, state.outbox[...])
                state.outbox.removeFirst(sent)
                return nil
            } catch {
                return "sending failed: \(error)"
            }
        }
    }
}
