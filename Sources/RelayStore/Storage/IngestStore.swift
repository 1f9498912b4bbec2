import Foundation
import RelayCore

/// Writing accepted notifications into the outbox, idempotency keys, token use.
public protocol IngestStore {
    /// Inserts the event and one delivery per target (paused for a disabled service). Run it in a
    /// write transaction: the caller acknowledges only after that commits.
    func record(
        _ event: IncomingEvent, producerTokenID: Int64?, fanOutTrigger: Trigger?, now: Date
    ) throws -> RecordedEvent

    /// The answer first given for token `tokenID`'s `Idempotency-Key`, with the hash of the body it
    /// came with; nil for a new key.
    func idempotentResponse(tokenID: Int64, key: String) throws
        -> (response: String, bodyHash: String)?

    /// Remembers the answer given for token `tokenID`'s `Idempotency-Key`.
    func storeIdempotentResponse(
        tokenID: Int64, key: String, bodyHash: String, response: String, now: Date
    ) throws
}
