import Foundation
import GRDB
import RelayCore

/// A row of `tokens`: a relay credential, stored as its SHA-256.
public struct TokenRecord: SnakeCaseRecord, Sendable, Equatable {
    public static let databaseTableName = "tokens"

    /// Row id.
    public var id: Int64?
    /// Who the token belongs to (free text; endpoints are matched on it).
    public var user: String
    /// What it may do.
    public var role: TokenRole
    /// Comma-separated project oids it is limited to; nil for every project.
    public var projects: String?
    /// Lowercase hex SHA-256 of the token.
    public var tokenHash: String
    /// The first characters of the token, to tell tokens apart.
    public var prefix: String
    /// Issued at.
    public var createdAt: Date
    /// Last accepted at.
    public var lastUsedAt: Date?
    /// Revoked at; a revoked token is refused.
    public var revokedAt: Date?
    /// Who vouches for it: the relay, or BIMserver (gateway mode).
    public var origin: TokenOrigin = .relay

    /// The project scope as numbers; nil for every project.
    public var projectIDs: [Int64]? {
        projects.map { $0.split(separator: ",").compactMap { Int64($0) } }
    }

    /// Whether this token may see everything `other` may see (its scope covers the other's).
    public func covers(_ other: TokenRecord) -> Bool {
        guard let scope = projectIDs else { return true }
        guard let otherScope = other.projectIDs else { return false }
        return Set(otherScope).isSubset(of: scope)
    }

    /// Whether this token may see project `poid`.
    public func canSee(project poid: Int64?) -> Bool {
        guard let scope = projectIDs else { return true }
        guard let poid else { return false }
        return scope.contains(poid)
    }
}

extension TokenRecord {
    /// Decodes a row by column name (faster than the Codable path: tokens are read on every request).
    public init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        user = try row.decode(forColumn: "user")
        let roleName: String = try row.decode(forColumn: "role")
        guard let role = TokenRole(rawValue: roleName) else {
            throw RelayError.database("tokens.role holds an unknown role '\(roleName)'")
        }
        self.role = role
        projects = try row.decode(forColumn: "projects")
        tokenHash = try row.decode(forColumn: "token_hash")
        prefix = try row.decode(forColumn: "prefix")
        createdAt = try row.decode(forColumn: "created_at")
        lastUsedAt = try row.decode(forColumn: "last_used_at")
        revokedAt = try row.decode(forColumn: "revoked_at")
        let originName: String = try row.decode(forColumn: "origin")
        guard let origin = TokenOrigin(rawValue: originName) else {
            throw RelayError.database("tokens.origin holds an unknown origin '\(originName)'")
        }
        self.origin = origin
    }
}
