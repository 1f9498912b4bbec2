import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// A browser-like HTTP client of the admin console, for the tests and `bimrelay bench`: keeps its
/// cookies, never follows a redirect (the caller sees each 303), and reads a page's CSRF field.
public final class ConsoleClient: Sendable {
    /// One answer.
    public struct Page: Sendable {
        public let status: Int
        public let headers: [(String, String)]
        public let body: String

        /// The first value of a header.
        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        /// Every `Set-Cookie` header.
        public var setCookies: [String] { headers.filter { $0.0.lowercased() == "set-cookie" }.map(\.1) }

        /// The value of the page's first `name="csrf"` field.
        public var csrf: String? {
            guard let range = body.range(of: #"name="csrf" value=""#) else { return nil }
            return String(body[range.upperBound...].prefix { $0 != "\"" })
        }
    }

    /// Where the relay listens: `http://127.0.0.1:<port>`.
    public let baseURL: String
    private let client: HTTPClient
    private let jar = CookieJar()

    public init(baseURL: String) {
        self.baseURL = baseURL
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Shuts the client down.
    public func close() async throws {
        try await client.shutdown()
    }

    /// The cookie `name` as the client holds it.
    public func cookie(_ name: String) -> String? { jar.value(name) }

    /// Sets or replaces a cookie by hand (a test forging a browser's state).
    public func setCookie(_ name: String, _ value: String?) { jar.set(name, value) }

    /// GETs a path (`/admin/overview`).
    public func get(_ path: String, headers: [(String, String)] = []) async throws -> Page {
        try await send(path, method: .GET, headers: headers, body: nil)
    }

    /// POSTs a form to a path.
    public func post(_ path: String, form: [(String, String)], headers: [(String, String)] = []) async throws -> Page {
        let body = form.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        return try await send(
            path, method: .POST, headers: [("Content-Type", "application/x-www-form-urlencoded")] + headers, body: body)
    }

    /// Signs in with `token` as a browser does: the form's page first (for its cookie and CSRF field).
    /// - Returns: the answer to the sign-in POST.
    @discardableResult
    public func signIn(token: String, headers: [(String, String)] = []) async throws -> Page {
        let form = try await get("/admin", headers: headers)
        return try await post("/admin/signin", form: [("csrf", form.csrf ?? ""), ("token", token)], headers: headers)
    }

    private func send(
        _ path: String, method: HTTPMethod, headers: [(String, String)], body: String?
    ) async throws -> Page {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let cookies = jar.header { request.headers.add(name: "Cookie", value: cookies) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        let page = Page(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: String(buffer: bytes))
        for line in page.setCookies { jar.take(line) }
        return page
    }

    private static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
            ?? ""
    }
}

/// Cookies by name, as `Set-Cookie` leaves them (a `Max-Age=0` removes one).
private final class CookieJar: Sendable {
    private let cookies = Mutex<[String: String]>([:])

    func take(_ line: String) {
        let parts = line.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = parts.first, let equals = first.firstIndex(of: "=") else { return }
        let name = String(first[..<equals])
        let value = String(first[first.index(after: equals)...])
        set(name, parts.contains("Max-Age=0") || value.isEmpty ? nil : value)
    }

    func set(_ name: String, _ value: String?) {
        cookies.withLock { $0[name] = value }
    }

    func value(_ name: String) -> String? { cookies.withLock { $0[name] } }

    var header: String? {
        cookies.withLock { cookies in
            cookies.isEmpty
                ? nil : cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
        }
    }
}
