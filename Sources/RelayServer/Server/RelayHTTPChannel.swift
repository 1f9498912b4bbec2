import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
@_spi(WSInternal) import WSCore

/// The relay's HTTP/1.1 connection: every request goes to the router, and a WebSocket upgrade to
/// `/stream` is served on **any** request of a kept-alive connection.
///
/// HummingbirdWebSocket upgrades only a connection's first request and answers a later one with
/// `307` + `Connection: close`, which Node's built-in WebSocket (it reuses the connection its
/// `fetch` calls kept alive) and reverse proxies that reuse upstream connections cannot follow.
/// The first request still goes through NIO's upgrader; a later upgrade request is switched in
/// place by ``UpgradeSwitch``: the HTTP handlers stop seeing the connection and WebSocket framing
/// takes over the same socket.
struct RelayHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    /// The connection's state after its first request.
    enum UpgradeResult: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, Logger)
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case failedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, Logger)
    }

    /// A set-up connection.
    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    /// What a `/stream` handler sees besides its socket.
    struct StreamContext: WebSocketContext {
        let logger: Logger
    }

    /// The path that upgrades.
    static let streamPath = "/stream"

    let responder: HTTPChannelHandler.Responder
    let http1: HTTP1Channel.Configuration
    let webSocket: WebSocketServerConfiguration
    /// Runs one `/stream` session (the same for both upgrade paths).
    let session: @Sendable (NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, Logger) async -> Void

    /// A channel answering HTTP with `routerResponder` and WebSocket sessions with `onStream`.
    init(
        responder routerResponder: @escaping HTTPChannelHandler.Responder, http1: HTTP1Channel.Configuration,
        webSocket: WebSocketServerConfiguration, onStream: @escaping WebSocketDataHandler<StreamContext>
    ) {
        self.http1 = http1
        self.webSocket = webSocket
        let maxFrameSize = webSocket.maxFrameSize
        let session = Self.session(configuration: webSocket, handler: onStream)
        self.session = session
        responder = { request, writer, channel in
            guard request.headers[.upgrade]?.lowercased() == "websocket" else {
                return try await routerResponder(request, writer, channel)
            }
            // An upgrade on a kept-alive connection (the first request's went through NIO's upgrader).
            guard let accept = Self.acceptValue(request), request.uri.path == Self.streamPath else {
                try await writer.writeResponse(
                    HTTPResponse(status: .badRequest, headerFields: [.connection: "close", .contentLength: "0"]))
                throw UpgradeSwitch.Refused()
            }
            let logger = Logger(label: "bimrelay.stream")
            logger.debug("WebSocket upgrade on a kept-alive connection")
            let webSocketChannel = try await UpgradeSwitch.switchToWebSocket(
                channel: channel, acceptValue: accept, maxFrameSize: maxFrameSize
            ).get()
            await session(webSocketChannel, logger)
            // The socket is closed now; the HTTP loop around this call ends on the closed input.
        }
    }

    /// Runs one WebSocket session with the relay's settings (pings, frame limit, close timeout).
    private static func session(
        configuration: WebSocketServerConfiguration, handler: @escaping WebSocketDataHandler<StreamContext>
    ) -> @Sendable (NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, Logger) async -> Void {
        { channel, logger in
            do {
                _ = try await WebSocketHandler.handle(
                    type: .server,
                    configuration: .init(
                        extensions: [], autoPing: configuration.autoPing, closeTimeout: configuration.closeTimeout,
                        validateUTF8: configuration.validateUTF8, maxFrameSize: configuration.maxFrameSize),
                    asyncChannel: channel, context: StreamContext(logger: logger), handler: handler)
            } catch {
                logger.debug("WebSocket session ended with an error", metadata: ["error": "\(error)"])
            }
        }
    }

    /// `Sec-WebSocket-Accept` for a valid RFC 6455 upgrade request (GET, version 13, a key), else nil.
    static func acceptValue(_ request: Request) -> String? {
        guard request.method == .get, request.headers[.secWebSocketVersion] == "13",
            let key = request.headers[.secWebSocketKey]?.trimmingCharacters(in: .whitespaces), !key.isEmpty
        else { return nil }
        let digest = Insecure.SHA1.hash(data: Data((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8))
        return Data(digest).base64EncodedString()
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let upgradeAttempted = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            let path = Self.streamPath
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: webSocket.maxFrameSize,
                shouldUpgrade: { channel, head in
                    upgradeAttempted.value = true
                    // Only `/stream` upgrades; anything else is answered 400 and closed.
                    let allowed = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) == path
                    return channel.eventLoop.makeSucceededFuture(allowed ? HTTPHeaders() : nil)
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        let asyncChannel = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true))
                        return UpgradeResult.websocket(asyncChannel, logger)
                    }
                })
            let http1 = self.http1
            let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let operations = channel.pipeline.syncOperations
                        try operations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try operations.addHandlers(http1.additionalChannelHandlers())
                        try operations.addHandler(
                            HTTPConnectionStateHandler(idleTimeout: http1.idleTimeout.map { .init($0) }, logger: logger)
                        )
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true))
                        return upgradeAttempted.value
                            ? UpgradeResult.failedUpgrade(asyncChannel, logger)
                            : UpgradeResult.notUpgraded(asyncChannel)
                    }
                })
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(
                upgradeConfiguration: upgradeConfiguration)
            configuration.enablePipelining = false  // NIOAsyncChannel serialises requests
            configuration.enableErrorHandling = false  // Hummingbird answers parse errors
            configuration.enableResponseHeaderValidation = false  // HTTPTypes validated them
            configuration.decoderConfiguration.maxHeaderFieldSize = http1.httpDecoder.maxHeaderFieldSize
            configuration.decoderConfiguration.maxHeaderListSize = http1.httpDecoder.maxHeaderListSize
            configuration.decoderConfiguration.maxHeaderFieldCount = http1.httpDecoder.maxHeaderFieldCount
            // First in the pipeline, so a later upgrade can take the raw bytes from the HTTP decoder.
            try channel.pipeline.syncOperations.addHandler(UpgradeSwitch(), position: .first)
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                configuration: configuration)
            return Value(upgradeResult: result, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .notUpgraded(let http1):
                await handleHTTP(asyncChannel: http1, logger: logger)
            case .failedUpgrade(let http1, let logger):
                logger.debug("WebSocket upgrade refused")
                try await http1.executeThenClose { _, outbound in
                    try await outbound.write(
                        contentsOf: [
                            .head(
                                HTTPResponse(
                                    status: .badRequest, headerFields: [.connection: "close", .contentLength: "0"])),
                            .end(nil),
                        ])
                }
            case .websocket(let channel, let logger):
                logger.debug("WebSocket upgrade on a connection's first request")
                await session(channel, logger)
            }
        } catch let error as ChannelError where error == .inputClosed {
            logger.trace("connection closed before its first request")
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 whose `/stream` upgrades work on any request of a kept-alive connection.
    static func relay(
        http1: HTTP1Channel.Configuration, webSocket: WebSocketServerConfiguration,
        onStream: @escaping WebSocketDataHandler<RelayHTTPChannel.StreamContext>
    ) -> HTTPServerBuilder {
        .init { responder in
            RelayHTTPChannel(responder: responder, http1: http1, webSocket: webSocket, onStream: onStream)
        }
    }
}
