import Foundation
import RelayCore

/// Deleting rows past their retention, a bounded batch at a time.
public protocol RetentionStore {
    /// Deletes delivered deliveries delivered before `cutoff`; their attempts go with them.
    @discardableResult
    func pruneDelivered(before cutoff: Date, limit: Int?) throws -> Int

    /// Deletes events received before `cutoff` that no delivery refers to any more.
    @discardableResult
    func pruneEvents(before cutoff: Date, limit: Int?) throws -> Int

    /// Forgets `Idempotency-Key`s first used before `cutoff`.
    @discardableResult
    func pruneIdempotencyKeys(before cutoff: Date, limit: Int?) throws -> Int

    /// Forgets BIMserver tokens (origin `bimserver` or `callback`, gateway mode) not confirmed since
    /// `cutoff`, unless an endpoint or an open topic still refers to them. Relay tokens are never
    /// deleted, nor revoked rows (a revocation must outlive BIMserver's session).
    @discardableResult
    func pruneUpstreamTokens(unusedSince cutoff: Date, limit: Int?) throws -> Int
}
