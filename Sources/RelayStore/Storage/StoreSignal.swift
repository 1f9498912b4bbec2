import Foundation

/// What a committed write means for the relay's other parts. A storage raises them after the
/// transaction that caused them commits (never for one that rolled back), in commit order for one
/// writer; a consumer that misses some (it started later, or another process wrote) still finds
/// the state in the store: signals only save it a look.
public enum StoreSignal: Sendable, Equatable {
    /// Deliveries became due now (an ingest, a service enabled, a requeue, released leases).
    case deliveriesDue
    /// Frames were stored for `/stream` endpoints; push them to open sockets.
    case framesPublished([StreamFrame])
    /// Tokens were issued or revoked: forget what was cached about them.
    case tokensChanged
    /// Another relay on the same database stored frames for endpoints whose sockets may be open
    /// here: read them from the store up to these marks and push them.
    case framesStoredElsewhere([FrameMark])
    /// Another relay attached endpoint `endpointID` to a socket of its own as connection
    /// `generation`: close any older socket of it here.
    case endpointTakenOver(endpointID: Int64, generation: Int64)
    /// Signals from other relays may have been missed (the connection that hears them was lost):
    /// look at the store for what they would have said.
    case resync
}
