import Foundation
import GRDB
import RelayCore

/// Issuing, listing, revoking and checking relay tokens.
struct SQLiteTokens: TokenStore {
    let db: Database
    /// The transaction to raise signals in (nil: raise none).
    var transaction: SQLiteTransaction? = nil

    /// Creates a token and returns its row and the clear token, which is not stored anywhere.
    public func issue(
        user: String, role: TokenRole, projects: [Int64]?, now: Date
    ) throws -> (record: TokenRecord, token: String) {
        var (record, token) = try StoreRules.newToken(user: user, role: role, projects: projects, now: now)
        try record.insert(db)
        record.id = db.lastInsertedRowID
        tokensChanged()
        return (record, token)
    }

    /// Every token, oldest first (hashes included: they reveal nothing).
    public func list() throws -> [TokenRecord] {
        try TokenRecord.order(Column("id")).fetchAll(db)
    }

    /// Revokes a token given by row id or by its visible prefix.
    public func revoke(idOrPrefix: String, now: Date) throws -> TokenRecord {
        let matches: [TokenRecord]
        if let id = Int64(idOrPrefix) {
            matches = try TokenRecord.filter(Column("id") == id).fetchAll(db)
        } else {
            matches = try TokenRecord.filter(Column("prefix") == idOrPrefix).fetchAll(db)
        }
        guard var record = matches.first else { throw RelayError.notFound("no token \(idOrPrefix)") }
        guard matches.count == 1 else {
            throw RelayError.conflict("\(idOrPrefix) matches \(matches.count) tokens: revoke by id")
        }
        if record.revokedAt == nil {
            record.revokedAt = now
            try record.update(db)
            tokensChanged()
        }
        return record
    }

    /// A token by id (revoked or not), or nil.
    public func find(id: Int64) throws -> TokenRecord? {
        try TokenRecord.fetchOne(db, key: id)
    }

    /// The live relay token matching `token`, or nil. The lookup is by SHA-256 (an index), then the
    /// stored hash is compared in constant time. BIMserver's tokens (gateway mode) are never
    /// accepted here: see ``upstream(_:hash:)``.
    public func authenticate(token: String) throws -> TokenRecord? {
        if let cache = transaction?.tokenCache {
            return try cache.authenticate(db, token: token)
        }
        guard let record = try live(hash: Secrets.hash(token: token)), record.origin == .relay else { return nil }
        return record
    }

    /// The unrevoked row of a BIMserver token (origin `bimserver` or `callback`) by its SHA-256, or
    /// nil. Valid only while BIMserver confirms the token: the caller checks that.
    public func upstream(hash: String) throws -> TokenRecord? {
        guard let record = try live(hash: hash), record.origin != .relay else { return nil }
        return record
    }

    private func live(hash: String) throws -> TokenRecord? {
        guard
            let record = try TokenRecord.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM tokens WHERE token_hash = ?"), arguments: [hash]),
            Secrets.constantTimeEquals(record.tokenHash, hash), record.revokedAt == nil
        else { return nil }
        return record
    }

    /// Records a BIMserver user's token as BIMserver described it: a `client` named
    /// `bimserver:<user>` (a namespace of its own: endpoints are matched by user name, and a relay
    /// token's user must not meet a BIMserver user's), seeing exactly `projects`. A known callback
    /// token keeps its origin, role and project; its user becomes `bimserver-callback:<user>#<hash
    /// prefix>`, one identity per token, so that two services of one BIMserver user share nothing.
    /// A revoked row stays revoked.
    public func recordUpstream(
        hash: String, user: String, projects: [Int64], now: Date
    ) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO tokens (user, role, projects, token_hash, prefix, created_at, last_used_at, origin)
                VALUES (?, 'client', ?, ?, ?, ?, ?, 'bimserver')
                ON CONFLICT (token_hash) DO UPDATE SET
                    last_used_at = excluded.last_used_at,
                    user = CASE tokens.origin WHEN 'bimserver' THEN excluded.user
                           ELSE 'bimserver-callback:' || ? || '#' || substr(tokens.token_hash, 1, 8) END,
                    projects = CASE tokens.origin WHEN 'bimserver' THEN excluded.projects ELSE tokens.projects END
                WHERE tokens.origin != 'relay'
                """
        ).execute(arguments: [
            StoreRules.upstreamUser(user), StoreRules.projectList(projects), hash,
            String(hash.prefix(Secrets.visiblePrefixLength)),
            now.sqlText, now.sqlText, user,
        ])
    }

    /// Remembers a token BIMserver minted for a service (the `token` of a notification about
    /// project `poid`): once BIMserver confirms it, it is a producer for that project only.
    public func rememberCallback(token: String, poid: Int64?, now: Date) throws {
        let hash = Secrets.hash(token: token)
        try db.cachedStatement(
            sql: """
                INSERT INTO tokens (user, role, projects, token_hash, prefix, created_at, origin)
                VALUES ('bimserver-callback:#' || substr(?2, 1, 8), 'producer', ?1, ?2, ?3, ?4, 'callback')
                ON CONFLICT (token_hash) DO NOTHING
                """
        ).execute(arguments: [
            poid.map { String($0) } ?? "", hash, String(hash.prefix(Secrets.visiblePrefixLength)), now.sqlText,
        ])
    }

    /// Notes that a token was used, at most once a minute per token (to keep writes rare).
    public func touch(id: Int64, now: Date) throws {
        if let cache = transaction?.tokenCache { return try cache.touch(db, id: id, now: now) }
        try SQLiteIngest(db: db).touchToken(id: id, now: now)
    }

    /// The writer's cached tokens are stale, and so are other parts' views of tokens.
    private func tokensChanged() {
        transaction?.tokenCache?.clear()
        transaction?.raise(.tokensChanged)
    }

    /// Adds `project` to a BIMserver user's scope (BIMserver said the user may read it).
    public func widenScope(id: Int64, project: Int64) throws {
        try db.execute(
            sql: """
                UPDATE tokens SET projects = CASE WHEN ifnull(projects, '') = '' THEN ? ELSE projects || ',' || ? END
                WHERE id = ? AND origin = 'bimserver' AND projects IS NOT NULL
                """, arguments: [String(project), String(project), id])
    }

}
