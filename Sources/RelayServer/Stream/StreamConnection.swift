import Foundation
import HummingbirdWebSocket
import NIOCore
import NIOWebSocket
import RelayCore
import RelayStore
import Synchronization

/// The outbound side of one `/stream` socket: a bounded queue the hub and the reader put items
/// in, drained in order by the socket's single writer task.
final class StreamConnection: Sendable {
    /// What the writer does next.
    enum Item: Sendable {
        /// A JSON text (welcome, endpoint reply, request answer, error).
        case text(String)
        /// Start pushing frames of this endpoint after this seq: replay what is stored, then live.
        case begin(endpointID: Int64, after: Int64)
        /// A live frame.
        case frame(StreamFrame)
        /// Frames of this endpoint up to this seq were stored by another relay: push them from the
        /// database (those not yet written).
        case catchUp(endpointID: Int64, upTo: Int64)
        /// A binary message from BIMserver's download channel (gateway mode).
        case binary(ByteBuffer)
        /// Close the socket.
        case close(WebSocketErrorCode, String)
    }

    private struct State {
        var items: [Item] = []
        var queuedFrames = 0
        /// Bytes of `.text` and `.binary` items waiting (answers to request frames, replies, errors, downloads).
        var queuedTextBytes = 0
        var overflowed = false
    }

    /// Live frames queued beyond this mark the connection a slow consumer; they stay stored for replay.
    let capacity: Int
    private let state = Mutex(State())
    let wakeup = Wakeup()
    /// Signalled once when the queue overflows: the socket is then closed even if a write is stuck.
    let overflow = Wakeup()
    /// The last seq written to the socket.
    let sentSeq = Atomic<Int64>(0)
    /// Signalled whenever the writer has taken the queue (room for the reader's next answer).
    let drained = Wakeup()
    /// The endpoint attached to the socket; 0 before the handshake.
    let endpoint = Atomic<Int64>(0)
    /// Set once a token frame arrived (the handshake timeout then no longer applies, even while
    /// the endpoint's write waits for the database).
    let handshakeReceived = Atomic<Bool>(false)
    /// Which connection of that endpoint this socket is (a resume elsewhere makes it stale).
    let generation = Atomic<Int64>(0)

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Queues items; never blocks. Frames past ``capacity`` are dropped and the connection is closed
    /// by its writer (the client resumes and gets them from the database).
    func offer(_ items: [Item]) {
        var overflowNow = false
        state.withLock { state in
            for item in items {
                if case .frame = item {
                    guard state.queuedFrames < capacity else {
                        if !state.overflowed { overflowNow = true }
                        state.overflowed = true
                        continue
                    }
                    state.queuedFrames += 1
                }
                if case .text(let text) = item { state.queuedTextBytes += text.utf8.count }
                if case .binary(let buffer) = item { state.queuedTextBytes += buffer.readableBytes }
                state.items.append(item)
            }
        }
        wakeup.signal()
        if overflowNow { overflow.signal() }
    }

    /// Takes everything queued, and whether the queue overflowed.
    func take() -> ([Item], Bool) {
        let taken = state.withLock { state in
            defer {
                state.items.removeAll(keepingCapacity: true)
                state.queuedFrames = 0
                state.queuedTextBytes = 0
            }
            return (state.items, state.overflowed)
        }
        drained.signal()
        return taken
    }

    /// Waits while more than `limit` bytes of texts wait for the writer: the reader calls it before
    /// answering the next request frame, so a client that sends requests but does not read the
    /// answers stops being read instead of growing the queue.
    func waitForRoom(limit: Int) async {
        while !Task.isCancelled, state.withLock({ $0.queuedTextBytes > limit }) {
            await drained.wait()
        }
    }
}
