import Foundation
import RelayCore
import RelayStore

/// What a method handler sees besides its parameters: the time, the caller, the settings, and
/// what to count after the transaction commits (the storage signals what it stored).
struct CallContext {
    /// The request's time (one per envelope).
    let now: Date
    /// The token given at the envelope level (top-level `token`, `Authorization: Bearer`, `Token`), if valid.
    var credential: TokenRecord?
    /// The relay's settings.
    let configuration: RelayConfiguration
    /// Gateway mode: what BIMserver said about the envelope's token and the projects its registrations name.
    let upstreamRights: UpstreamRights
    /// The methods of the events recorded, counted in metrics after the commit.
    var ingested: [NotificationMethod] = []

    /// The live relay token matching `token`, or the row of the envelope's BIMserver token when
    /// BIMserver confirmed it for this request (gateway mode).
    func authenticate(_ tx: any StoreTransaction, token: String) throws -> TokenRecord? {
        if let relayToken = try tx.tokens.authenticate(token: token) { return relayToken }
        let hash = Secrets.hash(token: token)
        guard let confirmed = upstreamRights.confirmedToken, Secrets.constantTimeEquals(confirmed, hash) else {
            return nil
        }
        return try tx.tokens.upstream(hash: hash)
    }

    /// Notes that a token was used (at most once a minute).
    func touch(_ tx: any StoreTransaction, token: TokenRecord) throws {
        guard let id = token.id else { return }
        try tx.tokens.touch(id: id, now: now)
    }

    /// The envelope credential, or `InvalidTokenException` when there is none.
    func requireCredential() throws(APIException) -> TokenRecord {
        guard let credential else { throw .invalidToken("No token given") }
        return credential
    }
}

/// One interface's methods; which methods exist, their parameters and whether they write is
/// ``ServiceCatalog``'s to say (the dispatcher checks it before calling the handler).
protocol InterfaceHandler: Sendable {
    /// Runs one call; throws ``APIException`` or ``RelayError`` for the caller's mistakes.
    func handle(_ call: APICall, tx: any StoreTransaction, context: inout CallContext) throws -> JSONValue
}

extension TokenRecord {
    /// Whether this token may see something about project `poid`; server-wide things (nil) are visible to all.
    func mayView(_ poid: Int64?) -> Bool {
        poid == nil || canSee(project: poid)
    }
}
