import Foundation
import GRDB
import RelayCore

/// Plain SQL on the file, for what looks below the seam on purpose: the bench's backlog and raw
/// baselines, and tests that check rows as an admin with `sqlite3` would. The relay never uses it.
extension SQLiteStorage {
    /// Runs one statement in a write transaction of its own. Arguments are `Int`, `Int64`, `Double`,
    /// `Bool`, `String`, `Date` or nil.
    public func execute(_ sql: String, arguments: [(any Sendable)?] = []) async throws {
        let arguments = try Self.statementArguments(arguments)
        try await translatingErrors {
            try await database.pool.write { db in try db.execute(sql: sql, arguments: arguments) }
        }
    }

    /// The integer in the first column of the first row `sql` returns (nil: no row, or NULL).
    public func integer(_ sql: String, arguments: [(any Sendable)?] = []) async throws -> Int? {
        let arguments = try Self.statementArguments(arguments)
        return try await translatingErrors {
            try await database.pool.read { db in try Int.fetchOne(db, sql: sql, arguments: arguments) }
        }
    }

    /// The text in the first column of the first row `sql` returns (nil: no row, or NULL).
    public func text(_ sql: String, arguments: [(any Sendable)?] = []) async throws -> String? {
        let arguments = try Self.statementArguments(arguments)
        return try await translatingErrors {
            try await database.pool.read { db in try String.fetchOne(db, sql: sql, arguments: arguments) }
        }
    }

    private static func statementArguments(_ values: [(any Sendable)?]) throws -> StatementArguments {
        StatementArguments(
            try values.map { value -> (any DatabaseValueConvertible)? in
                guard let value else { return nil }
                guard let convertible = value as? any DatabaseValueConvertible else {
                    throw RelayError.database("a statement argument of type \(type(of: value)) is not a SQL value")
                }
                return convertible
            })
    }
}
