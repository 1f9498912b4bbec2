import Foundation
import PostgresNIO
import RelayCore

/// Issuing, listing, revoking and checking relay tokens.
///
/// No token cache here (the SQLite writer's ``TokenCache`` lives on its one connection): every
/// lookup reads the table. `user` is a reserved word in PostgreSQL: the column is quoted.
struct PostgresTokens: TokenStore {
    let tx: PostgresTransaction

    /// Creates a token and returns its row and the clear token, which is not stored anywhere.
    public func issue(
        user: String, role: TokenRole, projects: [Int64]?, now: Date
    ) throws -> (record: TokenRecord, token: String) {
        var (record, token) = try StoreRules.newToken(user: user, role: role, projects: projects, now: now)
        guard
            let row = try tx.row(
                """
                INSERT INTO tokens ("user", role, projects, token_hash, prefix, created_at, last_used_at, revoked_at,
                                    origin)
                VALUES (\(record.user), \(record.role.rawValue), \(record.projects), \(record.tokenHash),
                        \(record.prefix), \(record.createdAt.pgTime), \(record.lastUsedAt?.pgTime),
                        \(record.revokedAt?.pgTime), \(record.origin.rawValue))
                RETURNING id
                """)
        else { throw RelayError.database("inserting a token returned no id") }
        record.id = try row["id"].decode(Int64.self)
        tx.raise(.tokensChanged)
        return (record, token)
    }

    /// Every token, oldest first (hashes included: they reveal nothing).
    public func list() throws -> [TokenRecord] {
        try tx.rows("SELECT * FROM tokens ORDER BY id").map(TokenRecord.init(postgres:))
    }

    /// Revokes a token given by row id or by its visible prefix.
    public func revoke(idOrPrefix: String, now: Date) throws -> TokenRecord {
        let matches: [TokenRecord]
        if let id = Int64(idOrPrefix) {
            matches = try tx.rows("SELECT * FROM tokens WHERE id = \(id)").map(TokenRecord.init(postgres:))
        } else {
            matches = try tx.rows("SELECT * FROM tokens WHERE prefix = \(idOrPrefix)").map(TokenRecord.init(postgres:))
        }
        guard var record = matches.first else { throw RelayError.notFound("no token \(idOrPrefix)") }
        guard matches.count == 1 else {
            throw RelayError.conflict("\(idOrPrefix) matches \(matches.count) tokens: revoke by id")
        }
        if record.revokedAt == nil {
            record.revokedAt = now
            try tx.execute("UPDATE tokens SET revoked_at = \(now.pgTime) WHERE id = \(record.id)")
            tx.raise(.tokensChanged)
        }
        return record
    }

    /// A token by id (revoked or not), or nil.
    public func find(id: Int64) throws -> TokenRecord? {
        try tx.row("SELECT * FROM tokens WHERE id = \(id)").map(TokenRecord.init(postgres:))
    }

    /// The live relay token matching `token`, or nil. The lookup is by SHA-256 (an index), then the
    /// stored hash is compared in constant time. BIMserver's tokens (gateway mode) are never
    /// accepted here: see ``upstream(_:hash:)``.
    public func authenticate(token: String) throws -> TokenRecord? {
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
        guard let row = try tx.row("SELECT * FROM tokens WHERE token_hash = \(hash)") else { return nil }
        let record = try TokenRecord(postgres: row)
        guard Secrets.constantTimeEquals(record.tokenHash, hash), record.revokedAt == nil else { return nil }
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
        let prefix = String(hash.prefix(Secrets.visiblePrefixLength))
        try tx.execute(
            """
            INSERT INTO tokens ("user", role, projects, token_hash, prefix, created_at, last_used_at, origin)
            VALUES (\(StoreRules.upstreamUser(user)), 'client', \(StoreRules.projectList(projects)), \(hash), \(prefix),
                    \(now.pgTime), \(now.pgTime), 'bimserver')
            ON CONFLICT (token_hash) DO UPDATE SET
                last_used_at = excluded.last_used_at,
                "user" = CASE tokens.origin WHEN 'bimserver' THEN excluded."user"
                         ELSE 'bimserver-callback:' || \(user) || '#' || substr(tokens.token_hash, 1, 8) END,
                projects = CASE tokens.origin WHEN 'bimserver' THEN excluded.projects ELSE tokens.projects END
            WHERE tokens.origin <> 'relay'
            """)
    }

    /// Remembers a token BIMserver minted for a service (the `token` of a notification about
    /// project `poid`): once BIMserver confirms it, it is a producer for that project only.
    public func rememberCallback(token: String, poid: Int64?, now: Date) throws {
        let hash = Secrets.hash(token: token)
        let scope = poid.map { String($0) } ?? ""
        let prefix = String(hash.prefix(Secrets.visiblePrefixLength))
        try tx.execute(
            """
            INSERT INTO tokens ("user", role, projects, token_hash, prefix, created_at, origin)
            VALUES ('bimserver-callback:#' || substr(\(hash), 1, 8), 'producer', \(scope), \(hash), \(prefix),
                    \(now.pgTime), 'callback')
            ON CONFLICT (token_hash) DO NOTHING
            """)
    }

    /// Adds `project` to a BIMserver user's scope (BIMserver said the user may read it).
    public func widenScope(id: Int64, project: Int64) throws {
        let scope = String(project)
        try tx.execute(
            """
            UPDATE tokens
            SET projects = CASE WHEN coalesce(projects, '') = '' THEN \(scope) ELSE projects || ',' || \(scope) END
            WHERE id = \(id) AND origin = 'bimserver' AND projects IS NOT NULL
            """)
    }

    /// Notes that a token was used, at most once a minute per token (to keep writes rare).
    public func touch(id: Int64, now: Date) throws {
        try tx.execute(
            """
            UPDATE tokens SET last_used_at = \(now.pgTime)
            WHERE id = \(id) AND (last_used_at IS NULL OR last_used_at < \(now.addingTimeInterval(-60).pgTime))
            """)
    }

}
