import Foundation
import RelayCore

/// Tokens: issued by admins, confirmed by BIMserver (gateway mode), remembered from callbacks.
public protocol TokenStore {
    /// Creates a token and returns its row and the clear token, which is not stored anywhere.
    func issue(
        user: String, role: TokenRole, projects: [Int64]?, now: Date
    ) throws -> (record: TokenRecord, token: String)

    /// Every token, oldest first (hashes included: they reveal nothing).
    func list() throws -> [TokenRecord]

    /// Revokes a token given by row id or by its visible prefix.
    func revoke(idOrPrefix: String, now: Date) throws -> TokenRecord

    /// A token by id (revoked or not), or nil.
    func find(id: Int64) throws -> TokenRecord?

    /// The live relay token matching `token`, or nil. The lookup is by SHA-256 (an index), then the
    /// stored hash is compared in constant time. BIMserver's tokens (gateway mode) are never
    /// accepted here: see ``upstream(_:hash:)``.
    func authenticate(token: String) throws -> TokenRecord?

    /// The unrevoked row of a BIMserver token (origin `bimserver` or `callback`) by its SHA-256, or
    /// nil. Valid only while BIMserver confirms the token: the caller checks that.
    func upstream(hash: String) throws -> TokenRecord?

    /// Records a BIMserver user's token as BIMserver described it: a `client` named
    /// `bimserver:<user>` (a namespace of its own: endpoints are matched by user name, and a relay
    /// token's user must not meet a BIMserver user's), seeing exactly `projects`. A known callback
    /// token keeps its origin, role and project; its user becomes `bimserver-callback:<user>#<hash
    /// prefix>`, one identity per token, so that two services of one BIMserver user share nothing.
    /// A revoked row stays revoked.
    func recordUpstream(
        hash: String, user: String, projects: [Int64], now: Date
    ) throws

    /// Remembers a token BIMserver minted for a service (the `token` of a notification about
    /// project `poid`): once BIMserver confirms it, it is a producer for that project only.
    func rememberCallback(token: String, poid: Int64?, now: Date) throws

    /// Adds `project` to a BIMserver user's scope (BIMserver said the user may read it).
    func widenScope(id: Int64, project: Int64) throws

    /// Notes that a token was used, at most once a minute per token (to keep writes rare).
    func touch(id: Int64, now: Date) throws
}
