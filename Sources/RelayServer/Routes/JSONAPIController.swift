import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RelayCore

/// `POST /json`: BIMserver's JSON API.
struct JSONAPIController: Sendable {
    let dispatcher: APIDispatcher
    let maxBodyBytes: Int

    static let tokenHeader = HTTPField.Name("Token")!
    static let idempotencyKeyHeader = HTTPField.Name("Idempotency-Key")!

    func addRoutes(to router: Router<some RequestContext>) {
        router.post("/json") { request, context in try await self.handle(request, context: context) }
    }

    func handle(_ request: Request, context: some RequestContext) async throws -> Response {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            context.logger.info("rejected request: body too large", metadata: ["limit": "\(maxBodyBytes)"])
            let exception = APIException.user("Request body larger than \(maxBodyBytes) bytes")
            return Self.response(status: 413, body: APIResponse.failure(exception).serialized)
        }
        let answer = await dispatcher.answer(
            body: Array(body.readableBytesView),
            headerToken: Self.headerToken(request.headers),
            idempotencyKey: request.headers[Self.idempotencyKeyHeader].flatMap { $0.isEmpty ? nil : $0 },
            headers: request.headers)
        if let upstream = answer.upstream { return Self.streamed(upstream) }
        return Self.response(status: answer.status, body: answer.body)
    }

    /// BIMserver's reply, passed back as it comes (gateway mode): its status, content type and
    /// cookies, and its body streamed without being read whole.
    static func streamed(_ reply: HTTPClientResponse) -> Response {
        var headers = HTTPFields()
        for name in Upstream.passedResponseHeaders {
            guard let field = HTTPField.Name(name) else { continue }
            for value in reply.headers[name] { headers.append(HTTPField(name: field, value: value)) }
        }
        let length = reply.headers.first(name: "Content-Length").flatMap { Int($0) }
        let body = reply.body
        return Response(
            status: HTTPResponse.Status(code: Int(reply.status.code)), headers: headers,
            body: ResponseBody(contentLength: length) { writer in
                for try await buffer in body { try await writer.write(buffer) }
                try await writer.finish(nil)
            })
    }

    /// `Authorization: Bearer T`, else a `Token: T` header.
    static func headerToken(_ headers: HTTPFields) -> String? {
        if let authorization = headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                return String(parts[1]).trimmingCharacters(in: .whitespaces)
            }
        }
        if let token = headers[tokenHeader], !token.isEmpty { return token }
        return nil
    }

    static func response(status: Int, body: String) -> Response {
        Response(
            status: HTTPResponse.Status(code: status),
            headers: [.contentType: "application/json; charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
