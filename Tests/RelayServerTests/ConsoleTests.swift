import Foundation
import RelayCore
import RelayHarness
import RelayStore
import RelayTestSupport
import Testing

/// The admin console over real HTTP: sessions, refusals, CSRF, escaping, and the actions' effects in
/// the database. (The browser tests drive the same pages in Chromium.)
@Suite("Admin console")
struct ConsoleTests {
    /// A relay with the console on, one service, and a console client.
    static func withConsole(
        time: RelayTime = .system, _ body: (TestRelay, ConsoleClient) async throws -> Void
    ) async throws {
        let configure: (inout RelayConfiguration) -> Void = { $0.adminConsole = true }
        try await withTestRelay(configure: configure, time: time) { relay in
            try await relay.addService("clash")
            let client = ConsoleClient(baseURL: relay.baseURL)
            do {
                try await body(relay, client)
                try await client.close()
            } catch {
                try? await client.close()
                throw error
            }
        }
    }

    static let pages = [
        "/admin/overview", "/admin/services", "/admin/deliveries", "/admin/deliveries/1", "/admin/streams",
    ]

    @Test("off unless enabled: /admin is not found")
    func offByDefault() async throws {
        try await withTestRelay { relay in
            let client = ConsoleClient(baseURL: relay.baseURL)
            #expect(try await client.get("/admin").status == 404)
            #expect(try await client.get("/admin/overview").status == 404)
            try await client.close()
        }
    }

    @Test(
        "sign-in takes an admin token in a form and sets an HttpOnly, SameSite=Strict cookie; only its hash is stored")
    func signIn() async throws {
        try await Self.withConsole { relay, client in
            let admin = try await relay.issueToken(role: .admin, user: "alice")
            let producer = try await relay.issueToken(role: .producer)
            #expect(try await client.signIn(token: "brt_" + String(repeating: "0", count: 64)).status == 401)
            #expect(try await client.signIn(token: producer).status == 401)
            #expect(client.cookie("bimrelay_console") == nil)
            // Without the sign-in form's cookie (another site's form): refused even with a good token.
            let fresh = ConsoleClient(baseURL: relay.baseURL)
            let forged = try await fresh.post("/admin/signin", form: [("csrf", "x"), ("token", admin)])
            #expect(forged.status == 403 && fresh.cookie("bimrelay_console") == nil)
            try await fresh.close()

            let answer = try await client.signIn(token: admin)
            #expect(answer.status == 303 && answer.header("Location") == "/admin/overview")
            let cookie = try #require(answer.setCookies.first { $0.hasPrefix("bimrelay_console=") })
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/admin"))
            #expect(!cookie.contains("Secure"), "plain HTTP on loopback")
            let sessionID = try #require(client.cookie("bimrelay_console"))
            #expect(
                try await relay.count("console_sessions", where: "id_hash = '\(Secrets.hash(token: sessionID))'") == 1)
            #expect(try await relay.count("console_sessions", where: "id_hash = '\(sessionID)'") == 0)
            let overview = try await client.get("/admin/overview")
            #expect(overview.status == 200 && overview.body.contains("clash") && overview.body.contains("alice"))
            #expect(overview.header("Content-Security-Policy")?.contains("default-src 'none'") == true)
            #expect(!overview.body.contains(admin), "the token is never echoed")

            // Behind TLS (the proxy says so) the cookie is Secure.
            let proxied = ConsoleClient(baseURL: relay.baseURL)
            let secure = try await proxied.signIn(token: admin, headers: [("X-Forwarded-Proto", "https")])
            #expect(secure.setCookies.first { $0.hasPrefix("bimrelay_console=") }?.contains("Secure") == true)
            try await proxied.close()
        }
    }

    @Test("without a session every page and every action is refused, and nothing changes")
    func refusedWithoutSession() async throws {
        try await Self.withConsole { relay, client in
            let token = try await relay.issueToken(role: .client, user: "viewer")
            for page in Self.pages {
                let answer = try await client.get(page)
                #expect(answer.status == 401, "\(page)")
                #expect(!answer.body.contains("clash") && !answer.body.contains("viewer"), "\(page) shows nothing")
            }
            let tokenID = try #require(try await relay.sqlite.integer("SELECT id FROM tokens WHERE user = 'viewer'"))
            for action in [
                "/admin/services/clash/disable", "/admin/deliveries/requeue-dead", "/admin/deliveries/1/retry",
                "/admin/tokens/\(tokenID)/revoke", "/admin/signout",
            ] {
                #expect(try await client.post(action, form: [("csrf", "anything")]).status == 401, "\(action)")
            }
            // A made-up session id is no session either.
            client.setCookie("bimrelay_console", String(repeating: "ab", count: 32))
            #expect(try await client.get("/admin/overview").status == 401)
            #expect(try await relay.count("services", where: "enabled = 1") == 1)
            #expect(try await relay.count("tokens", where: "revoked_at IS NULL") == 1)
            _ = token
        }
    }

    @Test("a form without the session's CSRF token, or from another site, is refused; with it the action is done")
    func csrf() async throws {
        try await Self.withConsole { relay, client in
            let admin = try await relay.issueToken(role: .admin, user: "alice")
            try await client.signIn(token: admin)
            let other = ConsoleClient(baseURL: relay.baseURL)
            try await other.signIn(token: admin)
            let otherCSRF = try #require(try await other.get("/admin/services").csrf)
            let csrf = try #require(try await client.get("/admin/services").csrf)
            #expect(csrf != otherCSRF)
            #expect(try await client.post("/admin/services/clash/disable", form: []).status == 403)
            #expect(try await client.post("/admin/services/clash/disable", form: [("csrf", otherCSRF)]).status == 403)
            let crossSite = try await client.post(
                "/admin/services/clash/disable", form: [("csrf", csrf)], headers: [("Sec-Fetch-Site", "cross-site")])
            #expect(crossSite.status == 403)
            #expect(try await relay.count("services", where: "enabled = 1") == 1, "nothing changed")
            let done = try await client.post(
                "/admin/services/clash/disable", form: [("csrf", csrf), ("reason", "maintenance")])
            #expect(done.status == 303 && done.header("Location") == "/admin/services?done=disabled")
            #expect(try await relay.sqlite.text("SELECT disabled_reason FROM services") == "maintenance")
            let page = try await client.get("/admin/services?done=disabled")
            #expect(page.body.contains("Service disabled") && page.body.contains("maintenance"))
            try await other.close()
        }
    }

    @Test("sign out, idle expiry and a revoked admin token each end a session")
    func sessionEnds() async throws {
        let clock = ManualClock()
        try await Self.withConsole(time: clock.time) { relay, client in
            let admin = try await relay.issueToken(role: .admin, user: "alice")
            try await client.signIn(token: admin)
            let csrf = try #require(try await client.get("/admin/overview").csrf)
            #expect(try await client.post("/admin/signout", form: [("csrf", csrf)]).status == 303)
            #expect(client.cookie("bimrelay_console") == nil)
            #expect(try await relay.count("console_sessions") == 0)
            #expect(try await client.get("/admin/overview").status == 401)

            try await client.signIn(token: admin)
            clock.advance(by: .seconds(20 * 60))
            #expect(try await client.get("/admin/overview").status == 200, "used within the idle time: moved on")
            clock.advance(by: .seconds(29 * 60))
            #expect(try await client.get("/admin/overview").status == 200)
            clock.advance(by: .seconds(31 * 60))
            #expect(try await client.get("/admin/overview").status == 401, "idle for 31 minutes")

            try await client.signIn(token: admin)
            _ = try await relay.storage.write { tx in
                try tx.tokens.revoke(idOrPrefix: String(admin.prefix(12)), now: Date())
            }
            #expect(try await client.get("/admin/overview").status == 401)
        }
    }

    @Test("user-supplied text is shown as text: a topic description, a service name, an error excerpt")
    func escaping() async throws {
        try await Self.withConsole { relay, client in
            let admin = try await relay.issueToken(role: .admin, user: "<i>alice</i>")
            try await relay.addService("evil") { $0.name = #"<img src=x onerror="alert(1)">"# }
            try await relay.storage.write { tx in
                let id = try tx.topics.create(
                    type: "RUNNING_SERVICE", scope: "server", poid: nil, roid: nil,
                    description: "<script>alert('x')</script><b>bold</b>", owner: nil, now: Date())
                try tx.topics.updateState(
                    id: id, state: #"{"progress":42,"state":"STARTED","title":"<u>checking</u>"}"#, now: Date())
            }
            try await client.signIn(token: admin)
            let streams = try await client.get("/admin/streams")
            #expect(streams.body.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;"))
            #expect(!streams.body.contains("<script>") && !streams.body.contains("<b>bold"))
            #expect(
                streams.body.contains(#"<progress max="100" value="42">"#) && streams.body.contains("&lt;u&gt;checking")
            )
            #expect(streams.body.contains("&lt;i&gt;alice&lt;/i&gt;") && !streams.body.contains("<i>alice"))
            let services = try await client.get("/admin/services")
            #expect(
                services.body.contains("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;")
                    && !services.body.contains("<img"))
        }
    }

    @Test("12 hours after sign-in a session ends however busy; the overview's own refresh does not keep it alive")
    func lifetimeAndRefresh() async throws {
        let clock = ManualClock()
        try await Self.withConsole(time: clock.time) { relay, client in
            try await client.signIn(token: try await relay.issueToken(role: .admin))
            #expect(try await client.get("/admin/overview").body.contains(#"content="30; url=/admin/overview?auto=1""#))
            clock.advance(by: .seconds(20 * 60))
            #expect(try await client.get("/admin/overview?auto=1").status == 200)
            clock.advance(by: .seconds(15 * 60))
            #expect(try await client.get("/admin/overview").status == 401, "refreshed only by itself for 35 minutes")

            try await client.signIn(token: try await relay.issueToken(role: .admin))
            for _ in 0..<28 {  // used every 25 minutes: 11 h 40 min
                clock.advance(by: .seconds(25 * 60))
                #expect(try await client.get("/admin/services").status == 200)
            }
            clock.advance(by: .seconds(21 * 60))
            #expect(try await client.get("/admin/services").status == 401, "12 h after sign-in")
        }
    }

    @Test("a service whose identifier needs encoding in a URL is acted on; rows without a revision show none")
    func encodedIdentifierAndPartialRows() async throws {
        try await Self.withConsole { relay, client in
            try await relay.addService("Clash Prüfung/2")
            try await relay.storage.write { tx in
                let event = IncomingEvent(
                    method: .newExtendedDataOnProject, poid: 5, roid: nil, edid: 9, soid: nil,
                    serviceIdentifier: "clash", profileIdentifier: nil, token: nil, apiUrl: nil)
                _ = try tx.ingest.record(event, producerTokenID: nil, fanOutTrigger: nil, now: Date())
            }
            try await client.signIn(token: try await relay.issueToken(role: .admin))
            let page = try await client.get("/admin/services")
            let csrf = try #require(page.csrf)
            #expect(page.body.contains(#"action="/admin/services/Clash%20Pr%C3%BCfung%2F2/disable""#))
            let done = try await client.post("/admin/services/Clash%20Pr%C3%BCfung%2F2/disable", form: [("csrf", csrf)])
            #expect(done.status == 303)
            #expect(try await relay.count("services", where: "identifier = 'Clash Prüfung/2' AND enabled = 0") == 1)
            let list = try await client.get("/admin/deliveries")
            #expect(list.body.contains("newExtendedDataOnProject poid 5</td>"), "no empty ' roid ' from the filter's")
        }
    }

    @Test("the console's own forms work when --allowed-origins names only other sites, and it sends no CORS headers")
    func allowedOrigins() async throws {
        let configure: (inout RelayConfiguration) -> Void = {
            $0.adminConsole = true
            $0.allowedOrigins = ["https://viewer.example.org"]
        }
        try await withTestRelay(configure: configure) { relay in
            try await relay.addService("clash")
            let client = ConsoleClient(baseURL: relay.baseURL)
            let origin = [("Origin", relay.baseURL)]
            let signedIn = try await client.signIn(token: try await relay.issueToken(role: .admin), headers: origin)
            #expect(signedIn.status == 303 && signedIn.header("Access-Control-Allow-Origin") == nil)
            let csrf = try #require(try await client.get("/admin/services").csrf)
            let done = try await client.post("/admin/services/clash/disable", form: [("csrf", csrf)], headers: origin)
            #expect(done.status == 303)
            #expect(try await relay.count("services", where: "enabled = 0") == 1)
            // The JSON API still holds other origins to the list.
            let json = try await relay.json("{}", headers: [("Origin", "https://evil.example.org")])
            #expect(json.status == 403)
            try await client.close()
        }
    }

    @Test("bad filters get a clear error page; an unknown delivery is not found")
    func badInput() async throws {
        try await Self.withConsole { relay, client in
            try await client.signIn(token: try await relay.issueToken(role: .admin))
            let state = try await client.get("/admin/deliveries?state=lost")
            #expect(state.status == 400 && state.body.contains("state: &#39;lost&#39; is not a delivery state"))
            #expect(try await client.get("/admin/deliveries?poid=abc").status == 400)
            #expect(try await client.get("/admin/deliveries?since=yesterday").status == 400)
            #expect(try await client.get("/admin/deliveries?since=2026-11-30%2008:00").status == 200, "the form shown")
            #expect(try await client.get("/admin/deliveries?service=nope").status == 404)
            #expect(try await client.get("/admin/deliveries/999").status == 404)
            let csrf = try #require(try await client.get("/admin/services").csrf)
            #expect(try await client.post("/admin/services/nope/enable", form: [("csrf", csrf)]).status == 404)
            #expect(try await client.post("/admin/services/clash/explode", form: [("csrf", csrf)]).status == 404)
        }
    }
}
