import Foundation
import RelayCore

/// `/stream` endpoints, subscriptions and stored frames.
public protocol StreamStore {
    /// A new endpoint for `token`, connected now.
    func createEndpoint(token: TokenRecord, now: Date) throws -> EndpointRecord

    /// An endpoint by id.
    func endpoint(id: Int64) throws -> EndpointRecord?

    /// The most recently dropped endpoint of this token still within retention (token-only reconnect).
    func lastDropped(tokenID: Int64, since cutoff: Date) throws -> EndpointRecord?

    /// Moves an endpoint to another token of its user (a resume with another token that sees at
    /// least as much): what it is sent from now on is filtered by that token's scope.
    func rebind(endpointID: Int64, tokenID: Int64) throws

    /// Marks an endpoint connected on a new socket; returns that connection's generation.
    func attach(endpointID: Int64, now: Date) throws -> Int64

    /// Marks an endpoint dropped, remembering the last frame written to its socket, unless another
    /// connection (a later `generation`) has taken the endpoint over since.
    func detach(endpointID: Int64, generation: Int64, sentSeq: Int64, now: Date) throws

    /// Marks every endpoint dropped (at start-up no socket is open).
    func detachAll(now: Date) throws

    /// Marks dropped the endpoints (of `tokenID`, or all) still connected to relays that are gone,
    /// so that a token-only reconnect finds them; returns how many. One relay owns an SQLite file:
    /// there, none.
    @discardableResult
    func detachGone(tokenID: Int64?, now: Date) throws -> Int

    /// Stored frames of an endpoint after `seq`, in order.
    func frames(endpointID: Int64, after seq: Int64, limit: Int) throws
        -> [StreamFrame]

    /// The oldest stored seq of an endpoint (nil when none is stored).
    func oldestSeq(endpointID: Int64) throws -> Int64?

    /// Adds a subscription (a no-op when it exists).
    /// - Returns: whether the subscription is new (false: it existed already).
    @discardableResult
    func subscribe(
        endpointID: Int64, kind: String, topicID: Int64?, poid: Int64?, roid: Int64?,
        now: Date
    ) throws -> Bool

    /// How many subscriptions the endpoints of `endpointID`'s token hold together.
    func subscriptionsOfToken(endpointID: Int64) throws -> Int

    /// Makes room for one more endpoint of token `tokenID` within `limit`: deletes its oldest dropped
    /// endpoints (with their subscriptions and frames) as needed.
    /// - Returns: false when its connected endpoints alone fill the limit.
    func makeRoomForEndpoint(tokenID: Int64, limit: Int) throws -> Bool

    /// Removes a subscription.
    func unsubscribe(
        endpointID: Int64, kind: String, topicID: Int64?, poid: Int64?, roid: Int64?) throws

    /// Endpoints subscribed to `kind` (for the given topic/project/revision), with their token's project scope.
    func subscribers(
        kind: String, topicID: Int64?, poid: Int64?, roid: Int64?
    ) throws -> [(endpointID: Int64, projects: String?)]

    /// Stores one frame for each endpoint: every endpoint's `last_seq` goes up by one (one UPDATE …
    /// RETURNING for all of them) and one row per endpoint goes into `stream_messages`, all in the
    /// caller's transaction, so 10,000 subscribers cost one commit, not 10,000.
    func publish(to endpointIDs: [Int64], method: String, payload: String, now: Date)
        throws
        -> [StreamFrame]

    /// Deletes endpoints dropped before `cutoff` (their subscriptions and frames go with them).
    @discardableResult
    func pruneEndpoints(droppedBefore cutoff: Date, limit: Int) throws -> Int

    /// Deletes topics closed before `closedBefore`, and open ones with no update since `idleBefore`
    /// (producers often never close them); their subscriptions go with them.
    @discardableResult
    func pruneTopics(closedBefore: Date, idleBefore: Date, limit: Int) throws -> Int

    /// Keeps at most `keep` frames per endpoint (the newest).
    @discardableResult
    func pruneFrames(keep: Int, limit: Int) throws -> Int
}

extension StreamStore {
    /// Every stored frame of an endpoint after `seq`, in order.
    public func frames(endpointID: Int64, after seq: Int64) throws -> [StreamFrame] {
        try frames(endpointID: endpointID, after: seq, limit: 100_000)
    }

    /// Adds a subscription to `kind` with no topic, project or revision.
    @discardableResult
    public func subscribe(endpointID: Int64, kind: String, now: Date) throws -> Bool {
        try subscribe(endpointID: endpointID, kind: kind, topicID: nil, poid: nil, roid: nil, now: now)
    }

    /// Endpoints subscribed to `kind` about project `poid` (nil: server-wide).
    public func subscribers(kind: String, poid: Int64? = nil) throws -> [(endpointID: Int64, projects: String?)] {
        try subscribers(kind: kind, topicID: nil, poid: poid, roid: nil)
    }
}
