import Foundation
import GRDB
import RelayCore
import Synchronization

/// Tokens already authenticated on the writer connection, so that an ingest does not look its
/// token up (and note its use) in every transaction.
///
/// An entry is valid while no other connection has committed: `PRAGMA data_version` on the
/// writer connection changes exactly then. Tokens are issued and revoked by the CLI, another
/// process, so a revocation empties the cache before the next request is checked. The relay
/// itself only writes a token's `last_used_at`. Entries are keyed by the token's SHA-256, never
/// by the token; unknown tokens are not remembered.
final class TokenCache: Sendable {
    /// How often a token's `last_used_at` is written at most.
    static let touchInterval: TimeInterval = 60
    /// Entries kept before the cache starts over.
    static let capacity = 10_000

    private struct State {
        var dataVersion: Int64?
        var tokens: [String: TokenRecord] = [:]
        var touched: [Int64: Date] = [:]
    }

    private let state = Mutex(State())

    /// An empty cache.
    init() {}

    /// The live token matching `token`, as ``TokenQueries/authenticate(_:token:)``. Use it only
    /// with the writer connection (`data_version` is per connection).
    func authenticate(_ db: Database, token: String) throws -> TokenRecord? {
        let version = try Int64.fetchOne(db.cachedStatement(sql: "PRAGMA data_version"))
        let hash = Secrets.hash(token: token)
        let cached = state.withLock { state -> TokenRecord? in
            if state.dataVersion != version || state.tokens.count >= Self.capacity {
                state = State(dataVersion: version)
            }
            return state.tokens[hash]
        }
        if let cached, Secrets.constantTimeEquals(cached.tokenHash, hash) { return cached }
        guard let record = try SQLiteTokens(db: db).authenticate(token: token) else { return nil }
        state.withLock { state in
            if state.dataVersion == version { state.tokens[hash] = record }
        }
        return record
    }

    /// Forgets every cached token (one was issued or revoked on this connection).
    func clear() {
        state.withLock { $0 = State() }
    }

    /// Writes the token's `last_used_at`, at most once per ``touchInterval`` per token.
    func touch(_ db: Database, id: Int64, now: Date) throws {
        let due = state.withLock { state -> Bool in
            if let last = state.touched[id], now.timeIntervalSince(last) < Self.touchInterval { return false }
            state.touched[id] = now
            return true
        }
        if due { try SQLiteIngest(db: db).touchToken(id: id, now: now) }
    }
}
