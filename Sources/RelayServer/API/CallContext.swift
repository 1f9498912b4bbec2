import Foundation
import GRDB
import RelayCore
import RelayStore

/// What a method handler sees besides its parameters: the time, the caller, the settings, and
/// the effects to run after the transaction commits.
struct CallContext {
    /// The request's time (one per envelope).
    let now: Date
    /// The token given at the envelope level (top-level `token`, `Authorization: Bearer`, `Token`), if valid.
    var credential: TokenRecord?
    /// The relay's settings.
    let configuration: RelayConfiguration
    /// Tokens known to the writer connection; nil on a read connection.
    let tokens: TokenCache?
    /// Gateway mode: what BIMserver said about the envelope's token and the projects its registrations name.
    let upstreamRights: UpstreamRights
    /// Set when a call created due deliveries: the worker is woken after the commit.
    var wakeDelivery = false
    /// Frames stored by the calls, pushed to connected endpoints after the commit.
    var frames: [StreamFrame] = []
    /// The methods of the events recorded, counted in metrics after the commit.
    var ingested: [NotificationMethod] = []

    /// The live token matching `token` (from the writer's cache when there is one), or the row of the
    /// envelope's BIMserver token when BIMserver confirmed it for this request (gateway mode).
    func authenticate(_ db: Database, token: String) throws -> TokenRecord? {
        let relayToken =
            if let tokens { try tokens.authenticate(db, token: token) } else {
                try TokenQueries.authenticate(db, token: token)
            }
        if let relayToken { return relayToken }
        let hash = Secrets.hash(token: token)
        guard let confirmed = upstreamRights.confirmedToken, Secrets.constantTimeEquals(confirmed, hash) else {
            return nil
        }
        return try TokenQueries.upstream(db, hash: hash)
    }

    /// Notes that a token was used (at most once a minute).
    func touch(_ db: Database, token: TokenRecord) throws {
        guard let id = token.id else { return }
        if let tokens { return try tokens.touch(db, id: id, now: now) }
        try IngestQueries.touchToken(db, id: id, now: now)
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
    func handle(_ call: APICall, db: Database, context: inout CallContext) throws -> JSONValue
}

extension TokenRecord {
    /// Whether this token may see something about project `poid`; server-wide things (nil) are visible to all.
    func mayView(_ poid: Int64?) -> Bool {
        poid == nil || canSee(project: poid)
    }
}
