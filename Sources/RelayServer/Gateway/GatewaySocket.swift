import Foundation
import Logging
import RelayCore
import RelayStore
import Synchronization

/// Gateway mode: what one `/stream` socket holds besides its endpoint — its channel to BIMserver's
/// `/stream` (opened when the client first needs it: a download, or BIMserver's own progress), and
/// the watch on its BIMserver token, which asks BIMserver again every cache time and closes the
/// socket once the token is refused (or revoked with `bimrelay token revoke`), so a logged-out
/// user stops hearing anything. While it has an endpoint, it is listed in the gateway's
/// ``GatewaySockets`` under that endpoint.
final class GatewaySocket: Sendable {
    private struct State {
        var channel: UpstreamChannel?
        var watch: Task<Void, Never>?
        /// The BIMserver token the client shook hands with; nil for a relay token.
        var token: String?
        /// The relay endpoint attached to the socket.
        var endpointID: Int64?
    }

    private let state = Mutex(State())
    private let gateway: Gateway
    private let connection: StreamConnection
    private let storage: any RelayStorage
    private let configuration: RelayConfiguration
    private let logger: Logger

    init(
        gateway: Gateway, connection: StreamConnection, storage: any RelayStorage, configuration: RelayConfiguration,
        logger: Logger
    ) {
        self.gateway = gateway
        self.connection = connection
        self.storage = storage
        self.configuration = configuration
        self.logger = logger
    }

    /// The BIMserver token of the socket's handshake, nil for a relay token.
    var token: String? { state.withLock { $0.token } }

    /// The open channel to BIMserver, or a new one (shaking hands with the socket's BIMserver token).
    func channel() -> UpstreamChannel {
        state.withLock { state in
            if let current = state.channel, !current.isClosed { return current }
            let channel = UpstreamChannel(
                url: gateway.upstream.streamURL, token: state.token, connection: connection,
                bufferBytes: configuration.streamBufferBytes, logger: logger)
            state.channel = channel
            return channel
        }
    }

    /// After a handshake that attached `endpointID`: the socket is listed under it (no longer under
    /// an earlier one), and watches `token` when BIMserver vouches for it (`bimserver` true), every
    /// `--upstream-auth-cache`, for as long as the socket stays open; a relay token stops any earlier
    /// watch. A channel opened with another token is closed.
    func shookHands(_ token: String, bimserver: Bool, endpointID: Int64) {
        let watch: Task<Void, Never>? = bimserver ? self.watch(token) : nil
        let previous = state.withLock { state in
            defer { state.endpointID = endpointID }
            return state.endpointID
        }
        if let previous { gateway.sockets.detach(self, endpointID: previous) }
        gateway.sockets.attach(self, endpointID: endpointID)
        state.withLock { state in
            state.watch?.cancel()
            state.watch = watch
            let newToken = bimserver ? token : nil
            if state.token != newToken {
                state.channel?.close()
                state.channel = nil
            }
            state.token = newToken
        }
    }

    private func watch(_ token: String) -> Task<Void, Never> {
        let (gateway, connection, storage, logger) = (gateway, connection, storage, logger)
        let period = configuration.upstreamAuthCache
        return Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: period)
                guard !Task.isCancelled else { return }
                // BIMserver unreachable is not a refusal: the socket stays until BIMserver says no.
                guard let confirmed = try? await gateway.identities.prepare(token) else { continue }
                let row = try? await storage.read { tx in
                    try tx.tokens.upstream(hash: Secrets.hash(token: token))
                }
                if !confirmed || row == nil {
                    logger.info("stream closed: BIMserver no longer accepts its token")
                    connection.offer([.text(#"{"error":"Invalid token"}"#), .close(.policyViolation, "Invalid token")])
                    return
                }
            }
        }
    }

    /// Ends the channel and the watch, and leaves the list (the socket closed).
    func close() {
        let endpointID = state.withLock { state in
            state.channel?.close()
            state.watch?.cancel()
            return state.endpointID
        }
        if let endpointID { gateway.sockets.detach(self, endpointID: endpointID) }
    }
}

/// Gateway mode: the open `/stream` sockets by the relay endpoint attached to them, so that a
/// `registerProgressHandler` for one of BIMserver's own topics can be passed on with the endpoint
/// BIMserver gave that socket's channel.
final class GatewaySockets: Sendable {
    private let sockets = Mutex<[Int64: GatewaySocket]>([:])

    func attach(_ socket: GatewaySocket, endpointID: Int64) {
        sockets.withLock { $0[endpointID] = socket }
    }

    func detach(_ socket: GatewaySocket, endpointID: Int64) {
        sockets.withLock { sockets in
            if sockets[endpointID] === socket { sockets[endpointID] = nil }
        }
    }

    func socket(endpointID: Int64) -> GatewaySocket? {
        sockets.withLock { $0[endpointID] }
    }
}
