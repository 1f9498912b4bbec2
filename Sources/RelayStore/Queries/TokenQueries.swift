import Foundation
import GRDB
import RelayCore

/// Issuing, listing, revoking and checking relay tokens.
public enum TokenQueries {
    /// Creates a token and returns its row and the clear token, which is not stored anywhere.
    public static func issue(
        _ db: Database, user: String, role: TokenRole, projects: [Int64]?, now: Date
    ) throws -> (record: TokenRecord, token: String) {
        let user = user.trimmingCharacters(in: .whitespaces)
        guard !user.isEmpty else { throw RelayError.invalidArgument("--user must not be empty") }
        let token = Secrets.newToken()
        var record = TokenRecord(
            id: nil, user: user, role: role,
            projects: projects.map { $0.map(String.init).joined(separator: ",") },
            tokenHash: Secrets.hash(token: token),
            prefix: String(token.prefix(Secrets.visiblePrefixLength)),
            createdAt: now)
        try record.insert(db)
        record.id = db.lastInsertedRowID
        return (record, token)
    }

    /// Every token, oldest first (hashes included: they reveal nothing).
    public static func list(_ db: Database) throws -> [TokenRecord] {
        try TokenRecord.order(Column("id")).fetchAll(db)
    }

    /// Revokes a token given by row id or by its visible prefix.
    public static func revoke(_ db: Database, idOrPrefix: String, now: Date) throws -> TokenRecord {
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
        }
        return record
    }

    /// A token by id (revoked or not), or nil.
    public static func find(_ db: Database, id: Int64) throws -> TokenRecord? {
        try TokenRecord.fetchOne(db, key: id)
    }

    /// The live token matching `token`, or nil. The lookup is by SHA-256 (an index), then the
    /// stored hash is compared in constant time.
    public static func authenticate(_ db: Database, token: String) throws -> TokenRecord? {
        let hash = Secrets.hash(token: token)
        guard
            let record = try TokenRecord.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM tokens WHERE token_hash = ?"), arguments: [hash]),
            Secrets.constantTimeEquals(record.tokenHash, hash), record.revokedAt == nil
        else { return nil }
        return record
    }
}
