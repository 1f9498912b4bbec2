import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import RelayCore
import RelayStore

/// Who is signed in to the admin console, and the secrets of their session.
struct ConsoleVisitor: Sendable {
    /// The session id the cookie carries (never stored: the table keeps its SHA-256).
    let sessionID: String
    let idHash: String
    /// The user of the admin token the browser signed in with.
    let user: String
    /// The form field every POST must carry: an HMAC of the session id, so it is the same on every
    /// relay and worthless to another session.
    var csrf: String { ConsoleAuth.csrf(for: sessionID) }
}

/// The console's cookies and CSRF tokens.
enum ConsoleAuth {
    /// The session cookie.
    static let sessionCookie = "bimrelay_console"
    /// The sign-in form's cookie (its CSRF token, double-submitted: a page of another site cannot
    /// sign a browser in to an account of the attacker's choosing).
    static let signInCookie = "bimrelay_console_signin"
    /// Every console cookie is sent to `/admin` only.
    static let path = "/admin"
    /// The largest cookie value read (a session id is 64 hex digits).
    static let maxValueLength = 128

    /// A new random value for a cookie: 64 hex digits (256 bits).
    static func newValue() -> String {
        String(Secrets.newToken().dropFirst(Secrets.tokenPrefix.count))
    }

    /// The CSRF token of a session: HMAC-SHA256 of a fixed text under the session id.
    static func csrf(for sessionID: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(
            for: Array("bimrelay console csrf".utf8), using: SymmetricKey(data: Array(sessionID.utf8)))
        return Secrets.hex(Array(code))
    }

    /// A cookie's value from the request, if present and of a sane length.
    static func cookie(_ name: String, in request: Request) -> String? {
        guard let value = request.cookies[name]?.value, !value.isEmpty, value.count <= maxValueLength else {
            return nil
        }
        return value
    }

    /// `Set-Cookie` for a console cookie: HttpOnly, SameSite=Strict, path /admin, Secure behind TLS.
    /// - Parameter maxAge: seconds; 0 deletes the cookie.
    static func setCookie(_ name: String, _ value: String, maxAge: Int, secure: Bool) -> HTTPField {
        var text = "\(name)=\(value); Path=\(path); Max-Age=\(maxAge); HttpOnly; SameSite=Strict"
        if secure { text += "; Secure" }
        return HTTPField(name: .setCookie, value: text)
    }

    /// Whether the browser reached the relay over TLS: the public URL is https, or the proxy in front
    /// says so (`X-Forwarded-Proto: https`, as the nginx example sets it).
    static func overTLS(_ request: Request, publicURL: String) -> Bool {
        publicURL.lowercased().hasPrefix("https://")
            || request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
    }

    /// Whether a form's CSRF field matches `expected` (compared in constant time).
    static func matches(_ field: String?, _ expected: String) -> Bool {
        guard let field else { return false }
        return Secrets.constantTimeEquals(field, expected)
    }

    /// Whether the request comes from another site (the browser says so): refused before reading a
    /// form, whatever it carries.
    static func crossSite(_ request: Request) -> Bool {
        request.headers[HTTPField.Name("Sec-Fetch-Site")!]?.lowercased() == "cross-site"
    }
}

/// An `application/x-www-form-urlencoded` body (or a query string) as name → value; the last
/// value of a repeated name wins.
struct FormFields: Sendable {
    private(set) var values: [String: String] = [:]

    init(_ encoded: String) {
        for pair in encoded.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decode(parts[0])
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            values[name] = value
        }
    }

    subscript(_ name: String) -> String? {
        guard let value = values[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    private static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
