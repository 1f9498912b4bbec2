import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Mustache
import RelayCore
import RelayStore
import Synchronization

/// `/admin`: the admin console (`serve --admin-console`). Server-rendered pages, usable without
/// JavaScript; every asset is served from here. Sign-in takes an admin token in a form (never in a
/// URL); the browser then holds an HttpOnly, SameSite=Strict session cookie, and every form carries
/// the session's CSRF token. Every action is the store operation its CLI command runs.
struct ConsoleController: Sendable {
    let storage: any RelayStorage
    let health: HealthController
    let publicURL: PublicURL
    /// How long an unused session lasts.
    let idle: Duration
    let logger: Logger
    let time: RelayTime

    /// Deliveries per service and state: counting them reads a whole index (about 70 ms for a
    /// million rows on SQLite), so the overview and the services page share one count for a few
    /// seconds however many tabs refresh; an action here counts afresh.
    let counts = CountsCache()

    /// The delivery counts, shared for ``CountsCache/lifetime``, and when they were taken.
    func deliveryCounts(now: Date) async throws -> (at: Date, counts: [DeliveryCount]) {
        try await counts.get(now: now) { try await storage.read { tx in try tx.console.deliveryCounts() } }
    }

    /// The largest form accepted.
    static let maxFormBytes = 16 << 10
    /// Rows per page of the delivery and endpoint lists.
    static let pageSize = 50

    func addRoutes(to router: Router<some RequestContext>) {
        router.get("/admin") { request, _ in
            try await self.guarded(request) {
                if try await self.visitor(request) != nil { return Self.redirect("/admin/overview") }
                return self.signInPage(request, status: .ok, error: nil)
            }
        }
        router.get("/admin/console.css") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=300"],
                body: .init(byteBuffer: ByteBuffer(string: ConsoleTemplates.css)))
        }
        router.post("/admin/signin") { request, _ in
            try await self.guarded(request) { try await self.signIn(request) }
        }
        router.post("/admin/signout") { request, _ in
            try await self.action(request) { visitor, _ in
                try await storage.write { tx in try tx.console.endSession(idHash: visitor.idHash) }
                logger.notice("console: signed out", metadata: ["user": "\(visitor.user)"])
                var response = Self.redirect("/admin")
                response.headers.append(ConsoleAuth.setCookie(ConsoleAuth.sessionCookie, "", maxAge: 0, secure: false))
                return response
            }
        }
        router.get("/admin/overview") { request, _ in
            try await self.page(request) { visitor in try await self.overview(request, visitor) }
        }
        router.get("/admin/services") { request, _ in
            try await self.page(request) { visitor in try await self.servicesPage(request, visitor) }
        }
        router.post("/admin/services/:identifier/:verb") { request, context in
            // Hummingbird hands path parameters over still percent-encoded.
            let identifier = context.parameters.get("identifier").flatMap { $0.removingPercentEncoding } ?? ""
            let verb = context.parameters.get("verb") ?? ""
            return try await self.action(request) { visitor, form in
                try await self.serviceAction(verb, identifier: identifier, form: form, visitor: visitor)
            }
        }
        router.get("/admin/deliveries") { request, _ in
            try await self.page(request) { visitor in try await self.deliveriesPage(request, visitor) }
        }
        router.post("/admin/deliveries/requeue-dead") { request, _ in
            try await self.action(request) { visitor, form in try await self.requeueDead(form: form, visitor: visitor) }
        }
        router.get("/admin/deliveries/:id") { request, context in
            let id = context.parameters.get("id", as: Int64.self)
            return try await self.page(request) { visitor in try await self.deliveryPage(id, request, visitor) }
        }
        router.post("/admin/deliveries/:id/retry") { request, context in
            let id = context.parameters.get("id", as: Int64.self)
            return try await self.action(request) { visitor, _ in try await self.retry(id, visitor: visitor) }
        }
        router.get("/admin/streams") { request, _ in
            try await self.page(request) { visitor in try await self.streamsPage(request, visitor) }
        }
        router.post("/admin/tokens/:id/revoke") { request, context in
            let id = context.parameters.get("id", as: Int64.self)
            return try await self.action(request) { visitor, _ in try await self.revoke(id, visitor: visitor) }
        }
    }

    // MARK: - Sessions

    /// The signed-in visitor of this request, or nil. A session used more than a minute after its
    /// last use has its idle expiry moved on (at most one write a minute per session); the
    /// overview's automatic refresh does not count as a use.
    func visitor(_ request: Request) async throws -> ConsoleVisitor? {
        guard let sessionID = ConsoleAuth.cookie(ConsoleAuth.sessionCookie, in: request) else { return nil }
        let idHash = Secrets.hash(token: sessionID)
        let now = time.now()
        guard let found = try await storage.read({ tx in try tx.console.session(idHash: idHash, now: now) }) else {
            return nil
        }
        // The overview's own refresh (`auto=1`) is not a use: an unattended tab still times out.
        let automatic = FormFields(request.uri.query ?? "")["auto"] == "1"
        if !automatic, now.timeIntervalSince(found.session.lastSeenAt) >= 60 {
            let expiresAt = now.addingTimeInterval(DurationText.seconds(idle))
            try await storage.write { tx in try tx.console.touchSession(idHash: idHash, now: now, expiresAt: expiresAt)
            }
        }
        return ConsoleVisitor(sessionID: sessionID, idHash: idHash, user: found.token.user)
    }

    private func signIn(_ request: Request) async throws -> Response {
        let form = try await Self.form(request)
        guard let expected = ConsoleAuth.cookie(ConsoleAuth.signInCookie, in: request),
            ConsoleAuth.matches(form["csrf"], expected)
        else {
            logger.warning(
                "console: sign-in refused: the form's CSRF token does not match (cookies off, or another site)")
            return signInPage(request, status: .forbidden, error: "The sign-in form expired. Please sign in again.")
        }
        let now = time.now()
        let token = form["token"] ?? ""
        let signedIn = try await storage.write { tx -> (user: String, id: String)? in
            guard let record = try tx.tokens.authenticate(token: token), record.role == .admin, let tokenID = record.id
            else { return nil }
            let sessionID = ConsoleAuth.newValue()
            let session = ConsoleSession(
                idHash: Secrets.hash(token: sessionID), tokenID: tokenID, createdAt: now, lastSeenAt: now,
                expiresAt: now.addingTimeInterval(
                    DurationText.seconds(min(idle, RelayConfiguration.consoleSessionLifetime))),
                endsAt: now.addingTimeInterval(DurationText.seconds(RelayConfiguration.consoleSessionLifetime)))
            try tx.console.createSession(session)
            try tx.tokens.touch(id: tokenID, now: now)
            return (record.user, sessionID)
        }
        guard let signedIn else {
            logger.warning("console: sign-in refused: not a live admin token")
            return signInPage(request, status: .unauthorized, error: "That is not a live admin token.")
        }
        logger.notice("console: signed in", metadata: ["user": "\(signedIn.user)"])
        let secure = ConsoleAuth.overTLS(request, publicURL: publicURL.value)
        var response = Self.redirect("/admin/overview")
        response.headers.append(
            ConsoleAuth.setCookie(
                ConsoleAuth.sessionCookie, signedIn.id,
                maxAge: Int(DurationText.seconds(RelayConfiguration.consoleSessionLifetime)), secure: secure))
        response.headers.append(ConsoleAuth.setCookie(ConsoleAuth.signInCookie, "", maxAge: 0, secure: secure))
        return response
    }

    private func signInPage(_ request: Request, status: HTTPResponse.Status, error: String?) -> Response {
        let value = ConsoleAuth.newValue()
        var response = render(
            ConsoleViews.signIn, title: "Sign in", current: nil, visitor: nil, data: ["csrf": value], status: status,
            error: error)
        response.headers.append(
            ConsoleAuth.setCookie(
                ConsoleAuth.signInCookie, value, maxAge: 3600,
                secure: ConsoleAuth.overTLS(request, publicURL: publicURL.value)))
        return response
    }

    // MARK: - Plumbing

    /// A page for a signed-in visitor; without a session, 401 and the sign-in form (nothing else).
    private func page(_ request: Request, _ body: (ConsoleVisitor) async throws -> Response) async throws -> Response {
        try await guarded(request) {
            guard let visitor = try await visitor(request) else {
                return signInPage(request, status: .unauthorized, error: "Please sign in.")
            }
            return try await body(visitor)
        }
    }

    /// A form action: refused (401) without a session, (403) without the session's CSRF token or
    /// from another site; otherwise `body` runs with the form.
    private func action(
        _ request: Request, _ body: (ConsoleVisitor, FormFields) async throws -> Response
    ) async throws -> Response {
        try await guarded(request) {
            guard let visitor = try await visitor(request) else {
                logger.warning("console: action refused: no session", metadata: ["path": "\(request.uri.path)"])
                return signInPage(request, status: .unauthorized, error: "Please sign in.")
            }
            let form = try await Self.form(request)
            guard !ConsoleAuth.crossSite(request), ConsoleAuth.matches(form["csrf"], visitor.csrf) else {
                logger.warning(
                    "console: action refused: missing or wrong CSRF token",
                    metadata: ["user": "\(visitor.user)", "path": "\(request.uri.path)"])
                return render(
                    ConsoleViews.empty, title: "Refused", current: nil, visitor: visitor, data: [:], status: .forbidden,
                    error:
                        "This form did not come from this console (its CSRF token is missing or wrong). Nothing was changed."
                )
            }
            defer { counts.forget() }
            return try await body(visitor, form)
        }
    }

    /// Runs `body`; an error becomes a page saying what went wrong (and is logged), never a stack.
    private func guarded(_ request: Request, _ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as RelayError {
            let status: HTTPResponse.Status =
                error.isNotFound ? .notFound : error.isDatabaseFault ? .internalServerError : .badRequest
            logger.warning("console: \(error.message)", metadata: ["path": "\(request.uri.path)"])
            return render(
                ConsoleViews.empty, title: "Error", current: nil, visitor: nil, data: [:], status: status,
                error: status == .internalServerError ? "The relay could not answer; its log says why." : error.message)
        } catch let error as HTTPError {
            throw error
        } catch {
            logger.error("console: \(error)", metadata: ["path": "\(request.uri.path)"])
            return render(
                ConsoleViews.empty, title: "Error", current: nil, visitor: nil, data: [:],
                status: .internalServerError, error: "The relay could not answer; its log says why.")
        }
    }

    /// The request's form body (at most ``maxFormBytes``).
    static func form(_ request: Request) async throws -> FormFields {
        let buffer = try await request.body.collect(upTo: maxFormBytes)
        return FormFields(String(buffer: buffer))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// A page in the layout.
    func render(
        _ template: MustacheTemplate, title: String, current: String?, visitor: ConsoleVisitor?, data: [String: Any],
        status: HTTPResponse.Status = .ok, notice: String? = nil, error: String? = nil, refresh: String? = nil
    ) -> Response {
        var data = data
        let csrf = visitor?.csrf
        if let csrf { data["csrf"] = csrf }
        let content = template.render(data)
        var layout: [String: Any] = ["title": title, "content": content]
        if let visitor, let csrf {
            layout["signedIn"] = true
            layout["user"] = visitor.user
            layout["csrf"] = csrf
            layout["nav"] = [
                ("overview", "Overview"), ("services", "Services"), ("deliveries", "Deliveries"),
                ("streams", "Streams"),
            ].map { key, label -> [String: Any] in
                ["href": "/admin/\(key)", "label": label, "current": key == current]
            }
        }
        if let notice { layout["notice"] = notice }
        if let error { layout["error"] = error }
        if let refresh { layout["refresh"] = refresh }
        return Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy:
                    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                HTTPField.Name("X-Content-Type-Options")!: "nosniff", HTTPField.Name("Referrer-Policy")!: "no-referrer",
                HTTPField.Name("X-Frame-Options")!: "DENY",
            ],
            body: .init(byteBuffer: ByteBuffer(string: ConsoleViews.layout.render(layout))))
    }
}

/// The compiled templates. They are constants of this program: one that does not parse fails every
/// console test, so it is a programmer's error, not a runtime condition.
enum ConsoleViews {
    static let layout = compile(ConsoleTemplates.layout)
    static let signIn = compile(ConsoleTemplates.signIn)
    static let overview = compile(ConsoleTemplates.overview)
    static let services = compile(ConsoleTemplates.services)
    static let deliveries = compile(ConsoleTemplates.deliveries)
    static let delivery = compile(ConsoleTemplates.delivery)
    static let streams = compile(ConsoleTemplates.streams)
    static let empty = compile("")

    private static func compile(_ text: String) -> MustacheTemplate {
        do {
            return try MustacheTemplate(string: text)
        } catch {
            preconditionFailure("a console template does not parse: \(error)")
        }
    }
}

/// The last delivery counts and when they were taken.
final class CountsCache: Sendable {
    /// How long a count is shown before it is taken again.
    static let lifetime: TimeInterval = 5
    private let state = Mutex<(at: Date, counts: [DeliveryCount])?>(nil)

    /// The counts and when they were taken, with `count` when older than ``lifetime`` (or never taken).
    func get(
        now: Date, _ count: () async throws -> [DeliveryCount]
    ) async throws -> (at: Date, counts: [DeliveryCount]) {
        if let cached = state.withLock({ $0 }), now.timeIntervalSince(cached.at) < Self.lifetime, cached.at <= now {
            return cached
        }
        let counts = try await count()
        state.withLock { $0 = (now, counts) }
        return (now, counts)
    }

    /// Makes the next ``get(now:_:)`` count again.
    func forget() { state.withLock { $0 = nil } }
}
