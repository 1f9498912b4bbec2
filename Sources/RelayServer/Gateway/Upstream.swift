import AsyncHTTPClient
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import RelayCore
import ServiceLifecycle

/// BIMserver behind the relay in gateway mode (`--upstream`): one HTTP client whose connections are
/// reused by every forwarded call and every question the relay asks BIMserver.
///
/// Nothing of a request or reply body is logged: passwords and tokens pass through here.
public final class Upstream: Service, Sendable {
    /// BIMserver's base URL, without `/json`.
    public let baseURL: String
    private let client: HTTPClient
    private let timeout: TimeAmount
    private let logger: Logger

    /// Request headers passed on: content type and credentials. `Origin` stays behind (the relay
    /// answers CORS itself; BIMserver would refuse a browser origin it does not know), and so do
    /// hop-by-hop and encoding headers.
    static let passedRequestHeaders: [HTTPField.Name] = [
        .contentType, .authorization, .cookie, .accept, .acceptLanguage, .userAgent, HTTPField.Name("Token")!,
    ]
    /// Reply headers passed back with a forwarded reply.
    static let passedResponseHeaders: [String] = ["Content-Type", "Set-Cookie", "Cache-Control"]

    /// What went wrong talking to BIMserver (never its reply's content).
    public struct Failure: Error, CustomStringConvertible {
        /// Why, for the caller and the log.
        public let reason: String
        /// The call did not finish in time (504) rather than failing (502).
        public let timedOut: Bool

        public var description: String { reason }

        /// The BIMserver-style exception a client gets.
        public var exception: APIException {
            .server("BIMserver did not answer the relay: \(reason)")
        }

        /// The HTTP status of a reply carrying ``exception``.
        public var status: Int { timedOut ? 504 : 502 }
    }

    /// A client for `baseURL` (checked with ``RelayConfiguration/upstreamURL(_:)``).
    public init(baseURL: String, timeout: Duration, connectTimeout: Duration, logger: Logger) {
        self.baseURL = baseURL
        self.logger = logger
        self.timeout = .milliseconds(Int64(DurationText.milliseconds(timeout)))
        var configuration = HTTPClient.Configuration()
        // `read` bounds a silence anywhere in a reply, its body included: the deadline of `execute`
        // ends at the reply's head, and a forwarded body is streamed after it.
        configuration.timeout = .init(
            connect: .milliseconds(Int64(DurationText.milliseconds(connectTimeout))), read: self.timeout)
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 32)
        // A refused connection is an answer (BIMserver is down): say so at once instead of retrying
        // until the connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.decompression = .disabled
        configuration.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Waits for shutdown, then closes the client's connections.
    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }

    /// `ws(s)://…/stream` of BIMserver.
    var streamURL: String {
        (baseURL.hasPrefix("https") ? "wss" : "ws") + baseURL.drop { $0 != ":" } + "/stream"
    }

    /// POSTs `body` to BIMserver's `/json` with the caller's credentials; the reply is BIMserver's,
    /// its body not yet read (stream it back).
    public func forward(body: ByteBuffer, headers: HTTPFields) async throws(Failure) -> HTTPClientResponse {
        var request = HTTPClientRequest(url: baseURL + "/json")
        request.method = .POST
        for name in Self.passedRequestHeaders {
            for value in headers[values: name] { request.headers.add(name: name.rawName, value: value) }
        }
        if !request.headers.contains(name: "Content-Type") {
            request.headers.add(name: "Content-Type", value: "application/json; charset=UTF-8")
        }
        request.body = .bytes(body)
        do {
            return try await client.execute(request, timeout: timeout)
        } catch {
            throw failure(error)
        }
    }

    /// Sends an envelope and reads BIMserver's reply (at most ``RelayConfiguration/upstreamMaxReplyBytes``).
    public func send(_ envelope: JSONValue, headers: HTTPFields = [:]) async throws(Failure) -> JSONValue {
        let response = try await forward(body: ByteBuffer(string: envelope.serialized), headers: headers)
        guard response.status == .ok else {
            throw Failure(reason: "HTTP \(response.status.code)", timedOut: false)
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: RelayConfiguration.upstreamMaxReplyBytes)
        } catch is NIOTooManyBytesError {
            throw Failure(
                reason: "its reply is larger than \(RelayConfiguration.upstreamMaxReplyBytes) bytes", timedOut: false)
        } catch {
            throw failure(error)
        }
        guard let reply = try? JSONValue.parse(Array(body.readableBytesView)), reply.objectPairs != nil else {
            throw Failure(reason: "its reply is not a JSON API envelope", timedOut: false)
        }
        return reply
    }

    /// Calls one method with `token` and returns its result, or the exception BIMserver threw.
    public func call(
        _ interface: String, _ method: String, _ parameters: [(String, JSONValue)], token: String
    ) async throws(Failure) -> Result<JSONValue, APIException> {
        let call = APICall(interface: interface, method: method, parameters: .object(parameters))
        let reply = try await send(.object([("token", .string(token)), ("request", call.json)]))
        guard let element = reply["response"] else {
            throw Failure(reason: "its reply has no \"response\"", timedOut: false)
        }
        return Self.outcome(element)
    }

    /// One `{"result": X}` or `{"exception": {…}}` as a result.
    static func outcome(_ element: JSONValue) -> Result<JSONValue, APIException> {
        if let exception = element["exception"] {
            return .failure(
                APIException(
                    type: exception["__type"]?.stringValue ?? "UserException",
                    message: exception["message"]?.stringValue ?? "BIMserver refused the call"))
        }
        return .success(element["result"] ?? .null)
    }

    private func failure(_ error: any Error) -> Failure {
        let timedOut: Bool
        switch error as? HTTPClientError {
        case .deadlineExceeded?, .readTimeout?, .connectTimeout?, .writeTimeout?: timedOut = true
        default: timedOut = false
        }
        let reason =
            timedOut
            ? "no answer within the timeout (--upstream-timeout)" : "\(type(of: error)): \(Self.describe(error))"
        logger.warning("BIMserver call failed", metadata: ["upstream": "\(baseURL)", "reason": "\(reason)"])
        return Failure(reason: reason, timedOut: timedOut)
    }

    /// An error's text without anything a request carried (the client's errors name only the connection).
    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
        return "\(error)".split(separator: "\n").first.map(String.init) ?? "unknown error"
    }
}
