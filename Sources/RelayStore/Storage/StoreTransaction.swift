import Foundation

/// One transaction of a ``RelayStorage``: the named queries, grouped by what they are about.
///
/// A transaction handed to ``RelayStorage/read(_:)`` only reads (a write in it fails); one handed
/// to ``RelayStorage/write(ingest:_:)`` commits when the closure returns and rolls back when it
/// throws. It is valid only inside that closure, on the thread that runs it.
public protocol StoreTransaction: AnyObject {
    /// The delivery worker's queries.
    var deliveries: any DeliveryStore { get }
    /// Accepting notifications into the outbox.
    var ingest: any IngestStore { get }
    /// The admin's view of the outbox.
    var queue: any QueueStore { get }
    /// Deleting what is past its retention.
    var retention: any RetentionStore { get }
    /// Services and profiles.
    var services: any ServiceStore { get }
    /// `/stream` endpoints, subscriptions and frames.
    var stream: any StreamStore { get }
    /// Tokens.
    var tokens: any TokenStore { get }
    /// Progress topics.
    var topics: any TopicStore { get }
    /// The admin console's sessions and views.
    var console: any ConsoleStore { get }

    /// Runs `body` so that, if it throws, what it wrote is undone and the rest of the transaction
    /// stays (a savepoint); the signals it raised are dropped with its changes.
    func nested<T>(_ body: () throws -> T) throws -> T
}
