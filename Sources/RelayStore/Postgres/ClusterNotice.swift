import Foundation
import RelayCore

/// What one relay's commit tells the other relays on the same database, sent with `pg_notify`
/// inside the transaction (so PostgreSQL delivers it only if, and once, it commits).
///
/// On the wire it is a small JSON object on the channel ``channel``, for example
/// `{"node":"a","due":true,"frames":[[12,7],[13,7]],"takeovers":[[12,3]]}`; PostgreSQL caps a
/// payload below 8,000 bytes, so a large fan-out is split into several notifications
/// (``payloads(from:)``). Every field is optional; a notice with nothing to say is not sent.
struct ClusterNotice: Sendable, Equatable {
    /// The channel every relay listens on.
    static let channel = "bimrelay"
    /// The largest payload sent (PostgreSQL refuses 8,000 bytes and more).
    static let payloadLimit = 7_900

    /// Deliveries became due (an ingest, a service enabled, a requeue, released leases).
    var due = false
    /// Tokens were issued or revoked.
    var tokens = false
    /// Frames stored for endpoints connected to another relay.
    var frames: [FrameMark] = []
    /// Endpoints this relay took over from a socket on another relay.
    var takeovers: [Takeover] = []

    /// An endpoint attached here as connection `generation` while a socket elsewhere held it.
    struct Takeover: Sendable, Equatable {
        var endpointID: Int64
        var generation: Int64
    }

    var isEmpty: Bool { !due && !tokens && frames.isEmpty && takeovers.isEmpty }

    /// The notice as notification payloads from relay `node`, each within ``payloadLimit``: the
    /// first carries the flags and takeovers, the frames are spread over as many as they need.
    func payloads(from node: String) -> [String] {
        guard !isEmpty else { return [] }
        let head = "{\"node\":\(JSONValue.string(node).serialized)"
        func payload(flags: Bool, frames: ArraySlice<FrameMark>) -> String {
            var text = head
            if flags, due { text += ",\"due\":true" }
            if flags, tokens { text += ",\"tokens\":true" }
            if flags, !takeovers.isEmpty {
                text += ",\"takeovers\":" + Self.pairs(takeovers.map { ($0.endpointID, $0.generation) })
            }
            if !frames.isEmpty { text += ",\"frames\":" + Self.pairs(frames.map { ($0.endpointID, $0.seq) }) }
            return text + "}"
        }
        var result: [String] = []
        var start = frames.startIndex
        var flags = true
        repeat {
            // Grow this payload's share of the frames while it fits (a pair is at most 43 bytes).
            let room = Self.payloadLimit - payload(flags: flags, frames: []).utf8.count - 16
            var end = start
            var size = 0
            while end < frames.endIndex {
                let pair = "[\(frames[end].endpointID),\(frames[end].seq)],"
                guard size + pair.utf8.count <= room else { break }
                size += pair.utf8.count
                end += 1
            }
            // Not even one mark fits beside the head (a node id far longer than the relay
            // allows): the rest go unsaid; the other relays' resync still finds the frames.
            guard end > start || flags else { break }
            result.append(payload(flags: flags, frames: frames[start..<end]))
            flags = false
            start = end
        } while start < frames.endIndex
        return result
    }

    private static func pairs(_ pairs: [(Int64, Int64)]) -> String {
        "[" + pairs.map { "[\($0.0),\($0.1)]" }.joined(separator: ",") + "]"
    }

    /// Reads a payload; nil for one this relay does not understand (logged by the caller).
    init?(payload: String) {
        guard let value = try? JSONValue.parse(payload), case .string(let node)? = value["node"] else { return nil }
        self.node = node
        due = value["due"] == .bool(true)
        tokens = value["tokens"] == .bool(true)
        func pairs(_ key: String) -> [(Int64, Int64)]? {
            guard let list = value[key] else { return [] }
            guard case .array(let items) = list else { return nil }
            var pairs: [(Int64, Int64)] = []
            for item in items {
                guard case .array(let pair) = item, pair.count == 2, case .int(let first) = pair[0],
                    case .int(let second) = pair[1]
                else { return nil }
                pairs.append((first, second))
            }
            return pairs
        }
        guard let frames = pairs("frames"), let takeovers = pairs("takeovers") else { return nil }
        self.frames = frames.map { FrameMark(endpointID: $0.0, seq: $0.1) }
        self.takeovers = takeovers.map { Takeover(endpointID: $0.0, generation: $0.1) }
    }

    /// An empty notice, to be filled by a transaction.
    init() {}

    /// The relay that sent a received notice (nil for one being built).
    private(set) var node: String?

    /// What a received notice means to this relay.
    var signals: [StoreSignal] {
        var signals: [StoreSignal] = []
        if due { signals.append(.deliveriesDue) }
        if tokens { signals.append(.tokensChanged) }
        if !frames.isEmpty { signals.append(.framesStoredElsewhere(frames)) }
        for takeover in takeovers {
            signals.append(.endpointTakenOver(endpointID: takeover.endpointID, generation: takeover.generation))
        }
        return signals
    }
}
