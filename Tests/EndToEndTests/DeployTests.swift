import Foundation
import RelayCore
import RelayHarness
import RelayTestSupport
import Testing

/// The files in `deploy/` work: the systemd unit verifies, the example environment names every
/// setting and starts a relay, and nginx with `deploy/nginx.conf` passes HTTPS and the WebSocket
/// upgrade through to a real relay.
@Suite("Deploy files")
struct DeployTests {
    static func deployFile(_ name: String) throws -> String {
        try String(contentsOf: DocsTests.root.appendingPathComponent("deploy/\(name)"), encoding: .utf8)
    }

    /// Every `BIMRELAY_*` variable `bimrelay serve --help` names.
    static func settingVariables() async throws -> Set<String> {
        let help = try await RelayExecutable.run(["serve", "--help"])
        let text = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return Set(text.matches(of: #/env (BIMRELAY_[A-Z_]+)/#).map { String($0.output.1) })
    }

    @Test(
        "systemd-analyze verifies the units (bimrelay.service, and bimrelay@.service as relay a), and their exposure level stays low",
        .enabled(if: Subprocess.find("systemd-analyze") != nil),
        arguments: [("bimrelay.service", "bimrelay.service"), ("bimrelay@.service", "bimrelay@a.service")])
    func systemdUnit(file: String, instance: String) async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let unit = try Self.deployFile(file)
            .replacingOccurrences(of: "ExecStart=/usr/local/bin/bimrelay", with: "ExecStart=\(RelayExecutable.path)")
        #expect(unit.contains("ExecStart=\(RelayExecutable.path) serve"))
        let path = folder.path(instance)
        try Data(unit.utf8).write(to: URL(fileURLWithPath: path))
        let analyze = try #require(Subprocess.find("systemd-analyze"))
        let environment = ProcessInfo.processInfo.environment
        let verify = try await Subprocess.run(analyze, ["verify", "--man=no", path], environment: environment)
        #expect(verify.status == 0, "\(verify)")
        #expect(verify.stderr.isEmpty, "\(verify)")
        let security = try await Subprocess.run(analyze, ["security", "--offline=yes", path], environment: environment)
        let level = security.stdout.firstMatch(of: #/Overall exposure level for [^:]+: ([0-9.]+)/#)
            .flatMap { Double($0.output.1) }
        #expect(level.map { $0 <= 2.0 } == true, "\(security)")
    }

    @Test(
        "grafana-dashboard.json: every panel on the Prometheus input, every series it queries is one a relay exports (seen on a relay's /metrics after an ingest and a delivery)"
    )
    func grafanaDashboard() async throws {
        let dashboard = try JSONValue.parse(try Self.deployFile("grafana-dashboard.json"))
        guard case .array(let panels)? = dashboard["panels"] else {
            Issue.record("no panels")
            return
        }
        #expect(panels.count >= 10)
        var expressions: [String] = []
        for panel in panels {
            #expect(panel["datasource"]?["uid"] == "${DS_PROMETHEUS}", "\(panel["title"]?.serialized ?? "")")
            guard case .array(let targets)? = panel["targets"] else { continue }
            expressions += targets.compactMap { $0["expr"]?.stringValue }
        }
        let series = Set(expressions.flatMap { $0.matches(of: #/bimrelay_[a-z_]+/#).map { String($0.output) } })
        #expect(series.count >= 12, "\(series)")

        // A relay that took an event, delivered it, and pushed it to a socket.
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let (db, producer) = try await RelayExecutable.prepareDatabase(in: folder)
        let receiver = try await TestReceiver.start()
        let added = try await RelayExecutable.run([
            "service", "add", "--identifier", "svc", "--name", "S", "--url", receiver.url, "--trigger", "NEW_REVISION",
            "--db", db,
        ])
        #expect(added.status == 0, "\(added)")
        let relay = try await RelayProcess.start(database: db)
        let body = BIMserverRequests.newRevision(userToken: producer, poid: 1, roid: 2, serviceIdentifier: "bimrelay")
        _ = try await TestHTTP.request("\(relay.baseURL)/json", method: "POST", body: body)
        // Recorded (the attempt's duration goes into its histogram then), not only received.
        var scraped = ""
        try await poll(until: "delivered and recorded") {
            scraped = try await TestHTTP.request("\(relay.baseURL)/metrics").body
            return scraped.contains(#"bimrelay_deliveries_total{outcome="delivered"} 1"#)
        }
        let exported = Set(scraped.matches(of: #/(?m)^(bimrelay_[a-z_]+)/#).map { String($0.output.1) })
        for name in series.sorted() where !name.hasPrefix("bimrelay_database_") {
            #expect(exported.contains(name), "the dashboard queries \(name); /metrics has \(exported.sorted())")
        }
        // The PostgreSQL ones (exported by a relay on PostgreSQL only) are the relay's own names.
        let declared = try String(
            contentsOf: DocsTests.root.appendingPathComponent("Sources/RelayCore/RelayMetrics.swift"), encoding: .utf8)
        for name in series where name.hasPrefix("bimrelay_database_") {
            let base = name.replacing(#/_(bucket|sum|count)$/#, with: "")
            #expect(declared.contains("\"\(base)\""), "\(name) is not a metric of the relay")
        }
        #expect(await relay.terminate() == 0)
        await receiver.stop()
    }

    @Test("bimrelay.env.example and docs/operations.md name every setting; the example's values start a relay")
    func environmentExample() async throws {
        let variables = try await Self.settingVariables()
        #expect(variables.count >= 20)
        let example = try Self.deployFile("bimrelay.env.example")
        let operations = try String(
            contentsOf: DocsTests.root.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        for variable in variables.sorted() {
            #expect(example.contains("#\(variable)="), "bimrelay.env.example lacks \(variable)")
            #expect(operations.contains("`\(variable)`"), "docs/operations.md lacks \(variable)")
        }
        // Uncomment every default and start a relay with them (its own database and port).
        var environment: [String: String] = [:]
        for line in example.split(separator: "\n") where line.hasPrefix("#BIMRELAY_") {
            let pair = line.dropFirst().split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            environment[String(pair[0])] = pair.count > 1 ? String(pair[1]) : ""
        }
        #expect(Set(environment.keys) == variables)
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        environment["BIMRELAY_DB"] = nil
        environment["BIMRELAY_HOST"] = nil
        environment["BIMRELAY_PORT"] = nil
        let relay = try await RelayProcess.start(database: folder.path("relay.sqlite"), environment: environment)
        let health = try await TestHTTP.request("\(relay.baseURL)/health")
        #expect(health.status == 200)
        #expect(await relay.terminate() == 0)
    }

    /// nginx running `site` (a file of deploy/ with its addresses, ports and certificate paths
    /// replaced), with a self-signed certificate, on two free ports.
    struct Nginx {
        let process: ChildProcess
        let https: Int
        let http: Int
        var base: String { "https://127.0.0.1:\(https)" }

        /// Stops nginx. SIGKILL: started from the test process (whose signal mask it inherits), it
        /// ignored `terminate()`'s SIGTERM and outlived every test run.
        func stop() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        static func start(
            _ file: String, in folder: TemporaryDirectory, upstreams: [String: Int], name: String
        ) async throws -> Nginx {
            let environment = ProcessInfo.processInfo.environment
            let certificate = try await Subprocess.run(
                try #require(Subprocess.find("openssl")),
                [
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=\(name)",
                    "-keyout", folder.path("site.key"), "-out", folder.path("site.pem"),
                ], environment: environment)
            #expect(certificate.status == 0, "\(certificate)")
            let (https, http) = (try freeLocalPort(), try freeLocalPort())
            var site = try DeployTests.deployFile(file)
                .replacingOccurrences(of: "listen 443 ssl;", with: "listen 127.0.0.1:\(https) ssl;")
                .replacingOccurrences(of: "listen 80;", with: "listen 127.0.0.1:\(http);")
                .replacingOccurrences(of: "/etc/ssl/certs/\(name).pem", with: folder.path("site.pem"))
                .replacingOccurrences(of: "/etc/ssl/private/\(name).key", with: folder.path("site.key"))
            for (address, port) in upstreams {
                site = site.replacingOccurrences(of: address, with: "127.0.0.1:\(port)")
            }
            #expect(site.contains(folder.path("site.pem")))
            try Data(site.utf8).write(to: URL(fileURLWithPath: folder.path("site.conf")))
            let main = """
                daemon off;
                master_process off;
                pid \(folder.path("nginx.pid"));
                error_log \(folder.path("error.log")) info;
                events { worker_connections 64; }
                http {
                    access_log off;
                    client_body_temp_path \(folder.path("body"));
                    proxy_temp_path \(folder.path("proxy"));
                    fastcgi_temp_path \(folder.path("fastcgi"));
                    uwsgi_temp_path \(folder.path("uwsgi"));
                    scgi_temp_path \(folder.path("scgi"));
                    include \(folder.path("site.conf"));
                }
                """
            try Data(main.utf8).write(to: URL(fileURLWithPath: folder.path("nginx.conf")))
            let nginx = ChildProcess()
            nginx.executableURL = URL(fileURLWithPath: try #require(Subprocess.find("nginx")))
            nginx.arguments = ["-p", folder.url.path, "-c", folder.path("nginx.conf")]
            nginx.standardInput = FileHandle.nullDevice
            // Not the test's own stdout: `swift test` waits for every holder of that pipe to close it.
            nginx.standardOutput = FileHandle.nullDevice
            nginx.standardError = FileHandle.nullDevice
            try nginx.run()
            return Nginx(process: nginx, https: https, http: http)
        }

        /// curl with `arguments` (TLS unchecked, 5 s at most).
        func curl(_ arguments: [String]) async throws -> CommandResult {
            try await Subprocess.run(
                try #require(Subprocess.find("curl")), ["-sk", "--max-time", "5"] + arguments,
                environment: ProcessInfo.processInfo.environment)
        }

        /// A WebSocket handshake on `/stream`: the head and the first frame curl sees within 2 s.
        func upgrade() async throws -> CommandResult {
            try await curl([
                "--http1.1", "-i", "-N", "--max-time", "2", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
                "-H", "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                "\(base)/stream",
            ])
        }
    }

    @Test(
        "nginx with deploy/nginx.conf: TLS, /json, the /stream WebSocket upgrade, HTTP redirected to HTTPS",
        .enabled(if: Subprocess.find("nginx") != nil && Subprocess.find("openssl") != nil))
    func nginxProxy() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let relay = try await RelayProcess.start(database: folder.path("relay.sqlite"), arguments: ["--admin-console"])
        let producer = try await RelayExecutable.issueToken(
            db: folder.path("relay.sqlite"), user: "bim", role: "producer")
        let nginx = try await Nginx.start(
            "nginx.conf", in: folder, upstreams: ["127.0.0.1:8085": relay.port], name: "relay.example.org")
        defer { nginx.stop() }
        try await poll(until: "nginx answers /health", timeout: .seconds(20)) {
            try await nginx.curl(["\(nginx.base)/health"]).stdout.contains(#""status":"ok""#)
        }
        let ingest = try await nginx.curl([
            "\(nginx.base)/json", "--data-binary",
            BIMserverRequests.newRevision(userToken: producer, poid: 1, roid: 2, serviceIdentifier: "bimrelay"),
        ])
        #expect(ingest.stdout == #"{"response":{"result":{}}}"#, "\(ingest)")
        let redirect = try await nginx.curl([
            "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(nginx.http)/json",
        ])
        #expect(redirect.stdout == "301")
        let metrics = try await nginx.curl(["\(nginx.base)/metrics"])
        #expect(metrics.stdout.contains("bimrelay_events_ingested_total{method=\"newRevision\"} 1"), "\(metrics)")
        // The WebSocket handshake through the proxy: 101, then the relay's welcome frame.
        let upgrade = try await nginx.upgrade()
        #expect(upgrade.stdout.hasPrefix("HTTP/1.1 101"), "\(upgrade)")
        #expect(upgrade.stdout.contains(#"{"welcome":"#), "\(upgrade)")
        // The admin console behind TLS: its cookies are Secure (the proxy says the browser is on HTTPS).
        let console = try await nginx.curl(["-i", "\(nginx.base)/admin"])
        #expect(console.stdout.hasPrefix("HTTP/1.1 200"), "\(console)")
        #expect(console.stdout.contains("SameSite=Strict; Secure"), "\(console)")
        #expect(await relay.terminate() == 0)
    }

    @Test(
        "nginx with deploy/nginx-gateway.conf: /json and /stream to the relay (which asks BIMserver), the rest to BIMserver",
        .enabled(if: Subprocess.find("nginx") != nil && Subprocess.find("openssl") != nil))
    func nginxGateway() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let bimserver = try await FakeBIMserver.start(projects: [1: "Alpha"])
        bimserver.addUser("alice@example.org", password: "alice-pw", projects: [1])
        let relay = try await RelayProcess.start(
            database: folder.path("relay.sqlite"), arguments: ["--upstream", bimserver.url])
        let nginx = try await Nginx.start(
            "nginx-gateway.conf", in: folder,
            upstreams: ["127.0.0.1:8085": relay.port, "127.0.0.1:8080": bimserver.port], name: "bim.example.org")
        defer { nginx.stop() }
        try await poll(until: "nginx answers /health", timeout: .seconds(20)) {
            try await nginx.curl(["\(nginx.base)/health"]).stdout.contains(#""status":"ok""#)
        }
        let login = try await nginx.curl([
            "\(nginx.base)/json", "--data-binary",
            #"{"request":{"interface":"AuthInterface","method":"login","parameters":{"username":"alice@example.org","password":"alice-pw"}}}"#,
        ])
        let token = try #require(try JSONValue.parse(login.stdout)["response"]?["result"]?.stringValue, "\(login)")
        let topics = try await nginx.curl([
            "\(nginx.base)/json", "--data-binary",
            #"{"token":"\#(token)","request":{"interface":"NotificationRegistryInterface","method":"getProgressTopicsOnServer","parameters":{}}}"#,
        ])
        #expect(topics.stdout == #"{"response":{"result":[]}}"#, "\(topics)")
        #expect(bimserver.count("getLoggedInUser") == 1)
        let download = try await nginx.curl(["\(nginx.base)/download?topicId=3"])
        #expect(download.stdout == "BIMserver served /download", "\(download)")
        let app = try await nginx.curl(["\(nginx.base)/apps/bimviews/index.html"])
        #expect(app.stdout == "BIMserver served /apps/bimviews/index.html")
        let upgrade = try await nginx.upgrade()
        #expect(upgrade.stdout.hasPrefix("HTTP/1.1 101"), "\(upgrade)")
        #expect(await relay.terminate() == 0)
        await bimserver.stop()
    }
}
