import Foundation
import RelayCore
import RelayStore
import RelayTestSupport
import Testing

/// The admin console in a real browser: headless Chromium driven over its DevTools protocol, on a
/// relay whose service fails and comes back. The screenshots in docs/operations.md are this test's
/// (`BIMRELAY_SCREENSHOTS=docs/images swift test --filter ConsoleBrowserTests` refreshes them).
@Suite("Admin console in Chromium")
struct ConsoleBrowserTests {
    /// Where the screenshots go: the repository's docs/images when asked, a temporary folder otherwise.
    static func screenshotFolder(_ temporary: TemporaryDirectory) -> String {
        guard let folder = ProcessInfo.processInfo.environment["BIMRELAY_SCREENSHOTS"], !folder.isEmpty else {
            return temporary.path("screenshots")
        }
        if folder.hasPrefix("/") { return folder }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(folder).path
    }

    @Test(
        "sign in, find a failing service's dead letters, read a delivery's story, retry and requeue them, disable and enable, revoke a token, sign out",
        .enabled(
            if: Chromium.executable != nil || ProcessInfo.processInfo.environment["CI"] == "true",
            "chromium is not installed (scripts/install-deps installs it)"))
    func story() async throws {
        let failing = try await TestReceiver.start()
        failing.setFallback(.init(status: 503, body: "clash detector: disk <b>full</b>"))
        let healthy = try await TestReceiver.start()
        let temporary = try TemporaryDirectory()
        defer { temporary.remove() }
        let shots = Self.screenshotFolder(temporary)
        let configure: (inout RelayConfiguration) -> Void = { $0.adminConsole = true }
        try await withTestRelay(configure: configure) { relay in
            try await relay.addService("clash", url: failing.url) {
                $0.name = "Clash detector"
                $0.retrySchedule = "50ms"
            }
            try await relay.addService("viewer-sync", url: healthy.url) { $0.name = "Viewer sync" }
            let producer = try await relay.issueToken(role: .producer, user: "bimserver")
            let admin = try await relay.issueToken(role: .admin, user: "alice")
            _ = try await relay.issueToken(role: .client, user: "bimviews")
            for roid in Int64(65_537)...65_539 {
                try await relay.ingestNewRevision(producer: producer, poid: 131_073, roid: roid)
            }
            try await poll(until: "3 dead letters and 3 deliveries", timeout: .seconds(30)) {
                let dead = try await relay.count("deliveries", where: "state = 'dead'")
                let delivered = try await relay.count("deliveries", where: "state = 'delivered'")
                return dead == 3 && delivered == 3
            }
            let clientID = try #require(try await relay.sqlite.integer("SELECT id FROM tokens WHERE user = 'bimviews'"))
            try await relay.storage.write { tx in
                let token = try #require(try tx.tokens.find(id: Int64(clientID)))
                let endpoint = try tx.stream.createEndpoint(token: token, now: Date())
                let topic = try tx.topics.create(
                    type: "RUNNING_SERVICE", scope: "revision", poid: 131_073, roid: 65_539,
                    description: "Clash check <script>alert(1)</script>", owner: nil, now: Date())
                try tx.topics.updateState(
                    id: topic, state: #"{"progress":42,"state":"STARTED","title":"Checking walls"}"#, now: Date())
                try tx.stream.subscribe(
                    endpointID: endpoint.id, kind: "progress", topicID: topic, poid: nil, roid: nil, now: Date())
            }

            let browser = try await Chromium.launch()
            do {
                let base = relay.baseURL
                // Without a session: the sign-in form, nothing else.
                try await browser.open("\(base)/admin/deliveries")
                var text = try await browser.text()
                #expect(text.contains("Please sign in") && !text.contains("clash"))
                try await browser.screenshot(to: "\(shots)/console-signin.png")

                try await browser.type("#token", admin)
                try await browser.click("form.signin button")
                #expect(try await browser.location() == "\(base)/admin/overview")
                text = try await browser.text()
                #expect(text.contains("alice") && text.contains("clash") && text.contains("viewer-sync"))
                #expect(try await browser.count("svg polyline") == 3)
                try await browser.screenshot(to: "\(shots)/console-overview.png")

                try await browser.open("\(base)/admin/services")
                let row =
                    try await browser.evaluate("document.querySelector('#service-clash').innerText") as? String ?? ""
                #expect(row.contains("failing since") && row.contains("\t6\t"), "6 failed attempts in a row: \(row)")
                try await browser.screenshot(to: "\(shots)/console-services.png")

                try await browser.open("\(base)/admin/deliveries?service=clash&state=dead")
                #expect(try await browser.count("tbody a[href^='/admin/deliveries/']") == 3)
                try await browser.screenshot(to: "\(shots)/console-deliveries.png")

                // A delivery's story: each attempt's status and the service's answer, as text.
                try await browser.click("tbody a[href^='/admin/deliveries/']")
                let story = try await browser.location()
                let id = try #require(Int64(story.split(separator: "/").last ?? ""))
                text = try await browser.text()
                #expect(text.contains("503") && text.contains("clash detector: disk <b>full</b>"))
                #expect(try await browser.count("pre b") == 0)
                try await browser.screenshot(to: "\(shots)/console-delivery.png")

                // The service is back: retry this one, then requeue the others in bulk.
                failing.setFallback(.ok)
                try await browser.click("form[action$='/retry'] button")
                #expect(try await browser.text().contains("Delivery requeued"))
                try await poll(until: "the retried delivery delivered", timeout: .seconds(20)) {
                    try await relay.deliveryState(id) == "delivered"
                }
                try await browser.open(story)
                #expect(try await browser.count(".card .badge.state-delivered") == 1)
                try await browser.open("\(base)/admin/deliveries?service=clash&state=dead")
                #expect(try await browser.count("tbody a[href^='/admin/deliveries/']") == 2)
                try await browser.click("form.bulk button")
                #expect(try await browser.text().contains("2 dead letters requeued"))
                try await poll(until: "every delivery delivered", timeout: .seconds(20)) {
                    try await relay.count("deliveries", where: "state = 'delivered'") == 6
                }

                // Disable with a reason, then enable.
                try await browser.open("\(base)/admin/services")
                try await browser.type("#service-clash input[name=reason]", "maintenance window")
                try await browser.click("#service-clash form[action$='/disable'] button")
                #expect(try await browser.text().contains("Service disabled"))
                #expect(
                    try await relay.sqlite.text("SELECT disabled_reason FROM services WHERE identifier = 'clash'")
                        == "maintenance window")
                try await browser.click("#service-clash form[action$='/enable'] button")
                #expect(try await relay.count("services", where: "enabled = 1") == 2)

                // Streams: the topic's markup is text; revoke the client's token.
                try await browser.open("\(base)/admin/streams")
                text = try await browser.text()
                #expect(text.contains("Clash check <script>alert(1)</script>") && text.contains("Checking walls"))
                #expect(try await browser.count("td.description script") == 0)
                #expect(try await browser.evaluate("document.querySelector('progress').value") as? Int == 42)
                try await browser.screenshot(to: "\(shots)/console-streams.png")
                try await browser.click("#token-\(clientID) button")
                #expect(try await browser.text().contains("Token revoked"))
                #expect(try await relay.count("tokens", where: "id = \(clientID) AND revoked_at IS NOT NULL") == 1)

                // Sign out: the pages are refused again.
                try await browser.click("form.signout button")
                try await browser.open("\(base)/admin/overview")
                #expect(try await browser.text().contains("Please sign in"))
                for name in ["signin", "overview", "services", "deliveries", "delivery", "streams"] {
                    let png = try Data(contentsOf: URL(fileURLWithPath: "\(shots)/console-\(name).png"))
                    #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 5_000, "\(name).png")
                }
                await browser.close()
            } catch {
                await browser.close()
                throw error
            }
        }
        await failing.stop()
        await healthy.stop()
    }

    @Test(
        "a new admin: `serve --admin-console`, sign in, follow the links from the overview to why a service fails, resume it",
        .enabled(
            if: Chromium.executable != nil || ProcessInfo.processInfo.environment["CI"] == "true",
            "chromium is not installed (scripts/install-deps installs it)"))
    func newAdmin() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let database = folder.path("relay.sqlite")
        let receiver = try await TestReceiver.start()
        receiver.setFallback(.init(status: 500, body: "NullPointerException in ClashService.check"))
        #expect(try await RelayExecutable.run(["migrate", "--db", database]).status == 0)
        let admin = try await RelayExecutable.issueToken(db: database, user: "alice", role: "admin")
        let producer = try await RelayExecutable.issueToken(db: database, user: "bimserver", role: "producer")
        let added = try await RelayExecutable.run([
            "service", "add", "--db", database, "--identifier", "clash", "--name", "Clash detector", "--url",
            receiver.url, "--trigger", "NEW_REVISION", "--retry-schedule", "100ms",
        ])
        #expect(added.status == 0, "\(added)")
        let relay = try await RelayProcess.start(database: database, arguments: ["--admin-console"])
        for roid in Int64(1)...4 {
            let body = BIMserverRequests.newRevision(
                userToken: producer, poid: 131_073, roid: roid, serviceIdentifier: "bimrelay")
            _ = try await TestHTTP.request("\(relay.baseURL)/json", method: "POST", body: body)
        }
        try await poll(until: "4 dead letters", timeout: .seconds(30)) { receiver.received.count == 8 }
        let browser = try await Chromium.launch()
        do {
            try await browser.open("\(relay.baseURL)/admin")
            try await browser.type("#token", admin)
            try await browser.click("form.signin button")
            try await poll(until: "the overview to count 4 dead letters", timeout: .seconds(10)) {
                try await browser.open("\(relay.baseURL)/admin/overview")
                return try await browser.evaluate("document.querySelector('.card.state-dead .big').innerText")
                    as? String
                    == "4"
            }
            try await browser.click("nav a[href='/admin/services']")
            try await browser.click("#service-clash a[href*='state=dead']")
            #expect(try await browser.count("tbody a[href^='/admin/deliveries/']") == 4)
            try await browser.click("tbody a[href^='/admin/deliveries/']")
            let text = try await browser.text()
            #expect(text.contains("NullPointerException in ClashService.check") && text.contains("500"))
            // Fixed on the service's side: resume it from the services page.
            receiver.setFallback(.ok)
            try await browser.click("nav a[href='/admin/services']")
            try await browser.click("#service-clash form[action$='/resume'] button")
            #expect(try await browser.text().contains("4 dead letters requeued"))
            try await poll(until: "the 4 requeued delivered", timeout: .seconds(20)) { receiver.received.count == 12 }
            await browser.close()
        } catch {
            await browser.close()
            throw error
        }
        #expect(await relay.terminate() == 0)
        #expect(relay.log.contains("console: service resumed"), "the action is logged")
        #expect(!relay.log.contains(admin), "the token is never logged")
        await receiver.stop()
    }
}
