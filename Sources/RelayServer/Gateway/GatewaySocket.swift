import Foundation
import Logging
import RelayCore
import RelayStore
import Synchronization

/// Gateway mode: what one `/stream` socket holds besides its endpoint — its download channel to
/// BIMserver, opened at the first `action` frame, and the watch on its BIMserver token, which
/// asks BIMserver again every cache time and closes the socket once the token is refused (or
/// revoked with `bimrelay token revoke`), so a logged-out user stops hearing anything.
final class GatewaySocket: Sendable {
    private struct State {
        var downloads: UpstreamDownloads?
        var watch: Task<Void, Never>?
    }

    private let state = Mutex(State())

    /// The open download channel, or a new one from `open` when there is none (or it ended).
    func downloads(_ open: () -> UpstreamDownloads) -> UpstreamDownloads {
        state.withLock { state in
            if let current = state.downloads, !current.isClosed { return current }
            let channel = open()
            state.downloads = channel
            return channel
        }
    }

    /// Watches `token` (confirmed by BIMserver) for as long as the socket stays open.
    func watch(
        _ token: String, gateway: Gateway, every period: Duration, database: RelayDatabase,
        connection: StreamConnection, logger: Logger
    ) {
        let task = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: period)
                guard !Task.isCancelled else { return }
                // BIMserver unreachable is not a refusal: the socket stays until BIMserver says no.
                guard let confirmed = try? await gateway.identities.prepare(token) else { continue }
                let row = try? await database.pool.read { db in
                    try TokenQueries.upstream(db, hash: Secrets.hash(token: token))
                }
                if !confirmed || row == nil {
                    logger.info("stream closed: BIMserver no longer accepts its token")
                    connection.offer([.text(#"{"error":"Invalid token"}"#), .close(.policyViolation, "Invalid token")])
                    return
                }
            }
        }
        state.withLock { state in
            state.watch?.cancel()
            state.watch = task
        }
    }

    /// Ends the download channel and the watch (the socket closed).
    func close() {
        state.withLock { state in
            state.downloads?.close()
            state.watch?.cancel()
        }
    }
}
