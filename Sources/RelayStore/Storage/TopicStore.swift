import Foundation
import RelayCore

/// Progress topics.
public protocol TopicStore {
    /// Every topic, newest first.
    func list(limit: Int) throws -> [TopicSummary]

    /// One topic, or ``RelayError/notFound(_:)``.
    func show(id: Int64) throws -> TopicSummary

    /// Creates a progress topic; its id is the topicId.
    /// - Parameter idFloor: the smallest id to give (gateway mode: the relay's topic ids stay clear
    ///   of BIMserver's, which count up from 1 while it runs); nil: the next id.
    func create(
        type: String, scope: String, poid: Int64?, roid: Int64?, description: String,
        owner: Int64?, now: Date, idFloor: Int64?
    ) throws -> Int64

    /// A topic, or nil.
    func find(id: Int64) throws -> TopicRecord?

    /// Stores the latest state of a topic.
    func updateState(id: Int64, state: String, now: Date) throws

    /// Marks a topic closed (it stays readable).
    func close(id: Int64, now: Date) throws

    /// Topic ids of a scope: every topic (nil poid), a project's, or a revision's; open ones first by id.
    func ids(poid: Int64?, roid: Int64?) throws -> [TopicRecord]
}

extension TopicStore {
    /// Creates a progress topic with the next id.
    public func create(
        type: String, scope: String, poid: Int64?, roid: Int64?, description: String, owner: Int64?, now: Date
    ) throws -> Int64 {
        try create(
            type: type, scope: scope, poid: poid, roid: roid, description: description, owner: owner, now: now,
            idFloor: nil)
    }
}
