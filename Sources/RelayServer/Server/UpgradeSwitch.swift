import NIOCore
import NIOWebSocket

/// The first handler of every connection: it passes everything through until a request after the
/// first asks for a WebSocket, then hands the socket to WebSocket framing in place.
///
/// After ``switchToWebSocket(channel:acceptValue:maxFrameSize:)`` the pipeline reads
/// `[switch, HTTP handlers…, junction, frame encoder, frame decoder, error handler, WebSocket async channel]`:
/// bytes from the socket skip the HTTP handlers (the switch fires them from the junction's
/// context), and everything the WebSocket side sends skips them too (the junction writes from the
/// switch's context, straight to the socket). What the idle HTTP side still tries to write or close
/// is dropped: the socket is the WebSocket's until it closes, and then every handler sees it close.
final class UpgradeSwitch: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Thrown out of the responder after a refused upgrade, so the connection closes.
    struct Refused: Error {}

    private var context: ChannelHandlerContext?
    /// Once switched: the junction's context, whose next handlers are the WebSocket side.
    private var webSocket: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        webSocket = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let webSocket { webSocket.fireChannelRead(data) } else { context.fireChannelRead(data) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let webSocket { webSocket.fireChannelReadComplete() } else { context.fireChannelReadComplete() }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard webSocket == nil else { return promise?.fail(ChannelError.ioOnClosedChannel) ?? () }
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        if webSocket == nil { context.flush() }
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // The HTTP side closing an idle connection must not close the WebSocket riding on it.
        guard webSocket == nil else { return promise?.succeed() ?? () }
        context.close(mode: mode, promise: promise)
    }

    /// Answers the upgrade request with `101 Switching Protocols` and puts WebSocket framing on the
    /// connection; returns the WebSocket side as an async channel.
    static func switchToWebSocket(
        channel: any Channel, acceptValue: String, maxFrameSize: Int
    ) -> EventLoopFuture<NIOAsyncChannel<WebSocketFrame, WebSocketFrame>> {
        channel.eventLoop.submit {
            let operations = channel.pipeline.syncOperations
            let upgradeSwitch = try operations.handler(type: UpgradeSwitch.self)
            guard let socket = upgradeSwitch.context, upgradeSwitch.webSocket == nil else {
                throw ChannelError.inappropriateOperationForState
            }
            let junction = Junction(socket: socket)
            try operations.addHandler(junction)
            try operations.addHandler(WebSocketFrameEncoder())
            try operations.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxFrameSize)))
            try operations.addHandler(WebSocketProtocolErrorHandler())
            upgradeSwitch.webSocket = try operations.context(handler: junction)
            let webSocket = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
            // The 101 goes out once the WebSocket side stands, ahead of any frame. A client must wait
            // for it before sending frames (RFC 6455 §4.1); bytes sent earlier would stay in the
            // HTTP decoder, which stops parsing after an upgrade request.
            let response = ByteBuffer(
                string: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Accept: \(acceptValue)\r\n\r\n")
            socket.writeAndFlush(NIOAny(response), promise: nil)
            return webSocket
        }
    }
}

/// Where the WebSocket side of a switched connection begins: its outbound operations go straight to
/// the socket, past the HTTP handlers in front of it.
private final class Junction: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer

    /// The switch's context: what it writes reaches the socket directly.
    private let socket: ChannelHandlerContext

    init(socket: ChannelHandlerContext) {
        self.socket = socket
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        socket.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        socket.flush()
    }

    func read(context: ChannelHandlerContext) {
        socket.read()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        socket.close(mode: mode, promise: promise)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        socket.triggerUserOutboundEvent(event, promise: promise)
    }
}
