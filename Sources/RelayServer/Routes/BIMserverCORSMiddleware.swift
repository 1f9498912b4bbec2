import HTTPTypes
import Hummingbird

/// CORS as BIMserver does it: every `OPTIONS` answered 200 with the CORS headers; the request's
/// `Origin` echoed when allowed (`*` when there is none); a disallowed `Origin` refused with 403.
struct BIMserverCORSMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Allowed origins; `*` allows any.
    let allowedOrigins: [String]

    static var allowHeaders: String { "Content-Type, Input-Type, Token, Authorization, Idempotency-Key" }
    static var exposeHeaders: String { "Content-Length, Data-Title, Output-Type" }

    /// The admin console is not an API for other sites: it sends no CORS headers, and its forms
    /// (which carry the relay's own origin) are not held to `--allowed-origins`; its cookie is
    /// SameSite=Strict and its forms carry CSRF tokens.
    static var consolePath: String { "/admin" }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let path = request.uri.path
        if path == Self.consolePath || path.hasPrefix(Self.consolePath + "/") {
            return try await next(request, context)
        }
        let origin = request.headers[.origin]
        if let origin, !allowedOrigins.contains("*"), !allowedOrigins.contains(origin) {
            context.logger.info("refused request from an origin that is not allowed", metadata: ["origin": "\(origin)"])
            return Response(status: .forbidden)
        }
        var response: Response
        if request.method == .options {
            response = Response(status: .ok)
        } else {
            response = try await next(request, context)
        }
        response.headers[.accessControlAllowOrigin] = origin ?? "*"
        response.headers[.accessControlAllowHeaders] = Self.allowHeaders
        response.headers[.accessControlAllowMethods] = "GET, POST, OPTIONS"
        response.headers[.accessControlExposeHeaders] = Self.exposeHeaders
        if origin != nil { response.headers[.vary] = "Origin" }
        return response
    }
}
