import ArgumentParser
import Foundation
import Logging
import RelayCore

/// Every `serve` setting as a flag; each also reads `BIMRELAY_<NAME>` and falls back to the
/// default in ``RelayConfiguration``. A flag beats the environment.
struct ServeOptions: ParsableArguments {
    @Option(help: "The SQLite file (env BIMRELAY_DB; default \(RelayConfiguration.defaultDatabasePath)).") var db:
        String?
    @Option(help: "Listening address (env BIMRELAY_HOST; default \(RelayConfiguration.defaultHost)).") var host: String?
    @Option(help: "Listening port, 0 for any free one (env BIMRELAY_PORT; default \(RelayConfiguration.defaultPort)).")
    var port: String?
    @Option(help: "URL BIMserver reaches the relay at, for service descriptors (env BIMRELAY_PUBLIC_URL).")
    var publicUrl: String?
    @Option(
        help:
            "full or normal: SQLite synchronous mode (env BIMRELAY_DURABILITY; default \(RelayConfiguration().durability.rawValue))."
    )
    var durability: String?
    @Option(
        help:
            "How long a writer waits for the database lock (env BIMRELAY_BUSY_TIMEOUT; default \(DurationText.format(RelayConfiguration.defaultBusyTimeout)))."
    )
    var busyTimeout: String?
    @Option(
        help:
            "How long writes keep retrying while another connection holds the database lock (env BIMRELAY_LOCK_WAIT; default \(DurationText.format(RelayConfiguration.defaultLockWait)))."
    )
    var lockWait: String?
    @Option(
        help:
            "/health says 503 once writes or delivery claims have failed this long (env BIMRELAY_UNHEALTHY_AFTER; default \(DurationText.format(RelayConfiguration.defaultUnhealthyAfter)))."
    )
    var unhealthyAfter: String?
    @Option(
        help:
            "serviceIdentifier meaning every NEW_REVISION subscriber (env BIMRELAY_FANOUT_IDENTIFIER; default \(RelayConfiguration.defaultFanOutIdentifier))."
    )
    var fanoutIdentifier: String?
    @Option(
        help:
            "serviceIdentifier meaning every NEW_EXTENDED_DATA subscriber (env BIMRELAY_EXTENDED_DATA_FANOUT_IDENTIFIER; default \(RelayConfiguration.defaultExtendedDataFanOutIdentifier))."
    )
    var extendedDataFanoutIdentifier: String?
    @Option(
        help:
            "true or false: fan-out descriptors ask BIMserver for read rights on the revision, so subscribers' callback tokens can download it (env BIMRELAY_FANOUT_READ_REVISION; default \(RelayConfiguration().fanOutReadRevision))."
    )
    var fanoutReadRevision: String?
    @Option(
        help:
            "Largest /json body in bytes, or with KiB/MiB (env BIMRELAY_MAX_BODY; default \(Self.size(RelayConfiguration.defaultMaxBodyBytes)))."
    )
    var maxBody: String?
    @Option(
        help:
            "Largest inbound WebSocket frame (env BIMRELAY_MAX_FRAME; default \(Self.size(RelayConfiguration.defaultMaxFrameBytes)))."
    ) var maxFrame: String?
    @Option(
        help:
            "CORS origins, comma-separated, * for any (env BIMRELAY_ALLOWED_ORIGINS; default \(RelayConfiguration.defaultAllowedOrigins.joined(separator: ",")))."
    )
    var allowedOrigins: String?
    @Option(
        help:
            "Deliveries in flight over all services (env BIMRELAY_MAX_IN_FLIGHT; default \(RelayConfiguration.defaultMaxInFlight))."
    )
    var maxInFlight: String?
    @Option(
        help:
            "Connect timeout for deliveries (env BIMRELAY_CONNECT_TIMEOUT; default \(DurationText.format(RelayConfiguration.defaultConnectTimeout)))."
    )
    var connectTimeout: String?
    @Option(
        help:
            "Disable a service failing this long without success (env BIMRELAY_DISABLE_AFTER; default \(DurationText.format(RelayConfiguration.defaultDisableAfter)))."
    )
    var disableAfter: String?
    @Option(
        help:
            "WebSocket ping period (env BIMRELAY_PING_INTERVAL; default \(DurationText.format(RelayConfiguration.defaultPingInterval)))."
    ) var pingInterval: String?
    @Option(
        help:
            "Keep dropped endpoints and frames this long (env BIMRELAY_ENDPOINT_RETENTION; default \(DurationText.format(RelayConfiguration.defaultEndpointRetention)))."
    )
    var endpointRetention: String?
    @Option(
        help:
            "Most frames kept per endpoint (env BIMRELAY_MAX_FRAMES_PER_ENDPOINT; default \(RelayConfiguration.defaultMaxFramesPerEndpoint))."
    )
    var maxFramesPerEndpoint: String?
    @Option(
        help:
            "Keep delivered deliveries this long (env BIMRELAY_DELIVERED_RETENTION; default \(DurationText.format(RelayConfiguration.defaultDeliveredRetention)))."
    )
    var deliveredRetention: String?
    @Option(
        help:
            "Live frames queued for one WebSocket before it is closed as a slow consumer (env BIMRELAY_STREAM_BUFFER; default \(RelayConfiguration.defaultStreamBufferFrames))."
    )
    var streamBuffer: String?
    @Option(
        help:
            "Bytes of answers queued for one WebSocket before its reader pauses (env BIMRELAY_STREAM_BUFFER_BYTES; default \(Self.size(RelayConfiguration.defaultStreamBufferBytes)))."
    )
    var streamBufferBytes: String?
    @Option(
        help:
            "How long a /stream client may take to send its token (env BIMRELAY_HANDSHAKE_TIMEOUT; default \(DurationText.format(RelayConfiguration.defaultHandshakeTimeout)))."
    )
    var handshakeTimeout: String?
    @Option(
        help:
            "Open /stream sockets at once (env BIMRELAY_MAX_STREAM_CONNECTIONS; default \(RelayConfiguration.defaultMaxStreamConnections))."
    )
    var maxStreamConnections: String?
    @Option(
        help:
            "Endpoints one token keeps; the oldest dropped one makes room (env BIMRELAY_MAX_ENDPOINTS_PER_TOKEN; default \(RelayConfiguration.defaultMaxEndpointsPerToken))."
    )
    var maxEndpointsPerToken: String?
    @Option(
        help:
            "Registrations one token may hold (env BIMRELAY_MAX_SUBSCRIPTIONS_PER_TOKEN; default \(RelayConfiguration.defaultMaxSubscriptionsPerToken))."
    )
    var maxSubscriptionsPerToken: String?
    @Option(
        help:
            "Longest sleep of the delivery worker between looks at the database (env BIMRELAY_DELIVERY_POLL_INTERVAL; default \(DurationText.format(RelayConfiguration.defaultDeliveryPollInterval)))."
    )
    var deliveryPollInterval: String?
    @Option(
        help:
            "How long a lease outlives its request's timeout: how soon another relay retries what a dead one held (env BIMRELAY_LEASE_MARGIN; default \(DurationText.format(RelayConfiguration.defaultLeaseMargin)))."
    )
    var leaseMargin: String?
    @Option(
        help:
            "How often old rows are deleted in the background (env BIMRELAY_RETENTION_INTERVAL; default \(DurationText.format(RelayConfiguration.defaultRetentionInterval)))."
    )
    var retentionInterval: String?
    @Option(
        help:
            "Require 'Authorization: Bearer <this>' on /metrics (env BIMRELAY_METRICS_TOKEN; default: /metrics is open)."
    )
    var metricsToken: String?
    @Option(
        help:
            "A file holding the /metrics token, so that no secret is on the command line (env BIMRELAY_METRICS_TOKEN_FILE)."
    )
    var metricsTokenFile: String?
    @Option(help: "trace, debug, info, notice, warning, error, critical (env BIMRELAY_LOG_LEVEL; default info).")
    var logLevel: String?
    @Option(help: "text or json: one JSON object per line (env BIMRELAY_LOG_FORMAT; default text).")
    var logFormat: String?
    @Option(
        help:
            "Gateway mode: BIMserver's address, e.g. http://bimserver:8080; the relay answers notifications and progress and passes every other call to it (env BIMRELAY_UPSTREAM; default none)."
    )
    var upstream: String?
    @Option(
        help:
            "Gateway mode: how long a forwarded call may take (env BIMRELAY_UPSTREAM_TIMEOUT; default \(DurationText.format(RelayConfiguration.defaultUpstreamTimeout)))."
    )
    var upstreamTimeout: String?
    @Option(
        help:
            "Gateway mode: how long BIMserver's word on a token is trusted before it is asked again (env BIMRELAY_UPSTREAM_AUTH_CACHE; default \(DurationText.format(RelayConfiguration.defaultUpstreamAuthCache)))."
    )
    var upstreamAuthCache: String?
    @Option(
        help:
            "PostgreSQL: this relay's name among relays sharing the database; distinct per relay, the same across its restarts (env BIMRELAY_NODE_ID; default the host name)."
    )
    var nodeID: String?
    @Flag(
        help:
            "Serve the admin console at /admin: sign in with an admin token (env BIMRELAY_ADMIN_CONSOLE=true; default off)."
    )
    var adminConsole = false
    @Option(
        help:
            "Admin console: sign a browser out after this long unused (env BIMRELAY_CONSOLE_SESSION_IDLE; default \(DurationText.format(RelayConfiguration.defaultConsoleSessionIdle)); at most 12h after sign-in)."
    )
    var consoleSessionIdle: String?

    /// The configuration from flags, then `environment`, then defaults.
    func resolve(environment: [String: String]) throws -> RelayConfiguration {
        var reader = Reader(environment: environment)
        var c = RelayConfiguration()
        c.databasePath = reader.text(db, "BIMRELAY_DB") ?? c.databasePath
        c.host = reader.text(host, "BIMRELAY_HOST") ?? c.host
        c.port = try reader.integer(port, "BIMRELAY_PORT", "--port", range: 0...65535) ?? c.port
        c.publicURL = reader.text(publicUrl, "BIMRELAY_PUBLIC_URL")
        c.durability =
            try reader.choice(durability, "BIMRELAY_DURABILITY", "--durability", "full or normal")
            ?? c.durability
        c.busyTimeout = try reader.duration(busyTimeout, "BIMRELAY_BUSY_TIMEOUT", "--busy-timeout") ?? c.busyTimeout
        c.lockWait = try reader.duration(lockWait, "BIMRELAY_LOCK_WAIT", "--lock-wait") ?? c.lockWait
        c.unhealthyAfter =
            try reader.duration(unhealthyAfter, "BIMRELAY_UNHEALTHY_AFTER", "--unhealthy-after") ?? c.unhealthyAfter
        c.fanOutIdentifier = reader.text(fanoutIdentifier, "BIMRELAY_FANOUT_IDENTIFIER") ?? c.fanOutIdentifier
        c.extendedDataFanOutIdentifier =
            reader.text(extendedDataFanoutIdentifier, "BIMRELAY_EXTENDED_DATA_FANOUT_IDENTIFIER")
            ?? c.extendedDataFanOutIdentifier
        guard c.fanOutIdentifier != c.extendedDataFanOutIdentifier else {
            throw RelayError.invalidArgument(
                "--fanout-identifier and --extended-data-fanout-identifier must differ (both are '\(c.fanOutIdentifier)')"
            )
        }
        c.adminConsole =
            try adminConsole || reader.boolean(nil, "BIMRELAY_ADMIN_CONSOLE", "--admin-console") ?? false
        c.consoleSessionIdle =
            try reader.duration(consoleSessionIdle, "BIMRELAY_CONSOLE_SESSION_IDLE", "--console-session-idle")
            ?? c.consoleSessionIdle
        guard c.consoleSessionIdle > .zero, c.consoleSessionIdle <= RelayConfiguration.consoleSessionLifetime else {
            throw RelayError.invalidArgument(
                "--console-session-idle must be more than 0 and at most \(DurationText.format(RelayConfiguration.consoleSessionLifetime)) (a session's lifetime)"
            )
        }
        c.fanOutReadRevision =
            try reader.boolean(fanoutReadRevision, "BIMRELAY_FANOUT_READ_REVISION", "--fanout-read-revision")
            ?? c.fanOutReadRevision
        c.maxBodyBytes = try reader.bytes(maxBody, "BIMRELAY_MAX_BODY", "--max-body") ?? c.maxBodyBytes
        c.maxFrameBytes = try reader.bytes(maxFrame, "BIMRELAY_MAX_FRAME", "--max-frame") ?? c.maxFrameBytes
        if let origins = reader.text(allowedOrigins, "BIMRELAY_ALLOWED_ORIGINS") {
            c.allowedOrigins = origins.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        c.maxInFlight =
            try reader.integer(maxInFlight, "BIMRELAY_MAX_IN_FLIGHT", "--max-in-flight", range: 1...100_000)
            ?? c.maxInFlight
        c.connectTimeout =
            try reader.duration(connectTimeout, "BIMRELAY_CONNECT_TIMEOUT", "--connect-timeout") ?? c.connectTimeout
        c.disableAfter =
            try reader.duration(disableAfter, "BIMRELAY_DISABLE_AFTER", "--disable-after") ?? c.disableAfter
        c.pingInterval =
            try reader.duration(pingInterval, "BIMRELAY_PING_INTERVAL", "--ping-interval") ?? c.pingInterval
        c.endpointRetention =
            try reader.duration(endpointRetention, "BIMRELAY_ENDPOINT_RETENTION", "--endpoint-retention")
            ?? c.endpointRetention
        c.maxFramesPerEndpoint =
            try reader.integer(
                maxFramesPerEndpoint, "BIMRELAY_MAX_FRAMES_PER_ENDPOINT", "--max-frames-per-endpoint",
                range: 1...10_000_000) ?? c.maxFramesPerEndpoint
        c.deliveredRetention =
            try reader.duration(deliveredRetention, "BIMRELAY_DELIVERED_RETENTION", "--delivered-retention")
            ?? c.deliveredRetention
        c.streamBufferFrames =
            try reader.integer(streamBuffer, "BIMRELAY_STREAM_BUFFER", "--stream-buffer", range: 1...10_000_000)
            ?? c.streamBufferFrames
        c.streamBufferBytes =
            try reader.bytes(streamBufferBytes, "BIMRELAY_STREAM_BUFFER_BYTES", "--stream-buffer-bytes")
            ?? c.streamBufferBytes
        c.handshakeTimeout =
            try reader.duration(handshakeTimeout, "BIMRELAY_HANDSHAKE_TIMEOUT", "--handshake-timeout")
            ?? c.handshakeTimeout
        c.maxStreamConnections =
            try reader.integer(
                maxStreamConnections, "BIMRELAY_MAX_STREAM_CONNECTIONS", "--max-stream-connections",
                range: 1...1_000_000) ?? c.maxStreamConnections
        c.maxEndpointsPerToken =
            try reader.integer(
                maxEndpointsPerToken, "BIMRELAY_MAX_ENDPOINTS_PER_TOKEN", "--max-endpoints-per-token",
                range: 1...1_000_000) ?? c.maxEndpointsPerToken
        c.maxSubscriptionsPerToken =
            try reader.integer(
                maxSubscriptionsPerToken, "BIMRELAY_MAX_SUBSCRIPTIONS_PER_TOKEN", "--max-subscriptions-per-token",
                range: 1...10_000_000) ?? c.maxSubscriptionsPerToken
        c.deliveryPollInterval =
            try reader.duration(deliveryPollInterval, "BIMRELAY_DELIVERY_POLL_INTERVAL", "--delivery-poll-interval")
            ?? c.deliveryPollInterval
        c.leaseMargin = try reader.duration(leaseMargin, "BIMRELAY_LEASE_MARGIN", "--lease-margin") ?? c.leaseMargin
        c.retentionInterval =
            try reader.duration(retentionInterval, "BIMRELAY_RETENTION_INTERVAL", "--retention-interval")
            ?? c.retentionInterval
        c.metricsTokenHash = try Self.metricsToken(
            reader.text(metricsToken, "BIMRELAY_METRICS_TOKEN"),
            file: reader.text(metricsTokenFile, "BIMRELAY_METRICS_TOKEN_FILE")
        ).map(Secrets.hash(token:))
        c.logFormat = try reader.choice(logFormat, "BIMRELAY_LOG_FORMAT", "--log-format", "text or json") ?? c.logFormat
        c.upstream = try reader.text(upstream, "BIMRELAY_UPSTREAM").flatMap(RelayConfiguration.upstreamURL)
        c.upstreamTimeout =
            try reader.duration(upstreamTimeout, "BIMRELAY_UPSTREAM_TIMEOUT", "--upstream-timeout") ?? c.upstreamTimeout
        c.upstreamAuthCache =
            try reader.duration(upstreamAuthCache, "BIMRELAY_UPSTREAM_AUTH_CACHE", "--upstream-auth-cache")
            ?? c.upstreamAuthCache
        c.nodeID = reader.text(nodeID, "BIMRELAY_NODE_ID").flatMap { $0.isEmpty ? nil : $0 }
        // It names the relay in every lease, socket, notice and `application_name` (63 bytes).
        let node = c.resolvedNodeID
        guard node.utf8.count <= 63,
            node.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })
        else {
            throw RelayError.invalidArgument(
                "--node-id \(node.prefix(80)): at most 63 letters, digits, '.', '_' or '-' (BIMRELAY_NODE_ID; default: the host name)"
            )
        }
        return c
    }

    /// The `/metrics` token, given directly or as a file (its first line, trimmed); not both.
    static func metricsToken(_ direct: String?, file: String?) throws -> String? {
        guard let file else { return direct }
        guard direct == nil else {
            throw RelayError.invalidArgument("give the metrics token directly or as a file, not both")
        }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw RelayError.invalidArgument("--metrics-token-file: cannot read \(file)")
        }
        let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !token.isEmpty else { throw RelayError.invalidArgument("--metrics-token-file: \(file) is empty") }
        return token
    }

    /// The log level from `--log-level` or `BIMRELAY_LOG_LEVEL`.
    func resolveLogLevel(environment: [String: String]) throws -> Logger.Level {
        var reader = Reader(environment: environment)
        guard let text = reader.text(logLevel, "BIMRELAY_LOG_LEVEL") else { return .info }
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw RelayError.invalidArgument("--log-level: '\(text)' is not a log level")
        }
        return level
    }

    /// Reads one setting from its flag or its environment variable, and says which in errors.
    private struct Reader {
        let environment: [String: String]

        mutating func text(_ flag: String?, _ variable: String) -> String? {
            if let flag { return flag }
            if let value = environment[variable], !value.isEmpty { return value }
            return nil
        }

        mutating func integer(_ flag: String?, _ variable: String, _ name: String, range: ClosedRange<Int>) throws
            -> Int?
        {
            guard let text = text(flag, variable) else { return nil }
            guard let value = Int(text), range.contains(value) else {
                throw RelayError.invalidArgument(
                    "\(flag == nil ? variable : name): '\(text)' is not a whole number from \(range.lowerBound) to \(range.upperBound)"
                )
            }
            return value
        }

        mutating func choice<Value: RawRepresentable<String>>(
            _ flag: String?, _ variable: String, _ name: String, _ choices: String
        ) throws -> Value? {
            guard let text = text(flag, variable) else { return nil }
            guard let value = Value(rawValue: text.lowercased()) else {
                throw RelayError.invalidArgument("\(flag == nil ? variable : name): '\(text)' is not \(choices)")
            }
            return value
        }

        mutating func boolean(_ flag: String?, _ variable: String, _ name: String) throws -> Bool? {
            guard let text = text(flag, variable) else { return nil }
            switch text.lowercased() {
            case "true", "yes", "1": return true
            case "false", "no", "0": return false
            default:
                throw RelayError.invalidArgument("\(flag == nil ? variable : name): '\(text)' is not true or false")
            }
        }

        mutating func duration(_ flag: String?, _ variable: String, _ name: String) throws -> Duration? {
            guard let text = text(flag, variable) else { return nil }
            do {
                return try DurationText.parse(text)
            } catch {
                throw RelayError.invalidArgument("\(flag == nil ? variable : name): \(error.message)")
            }
        }

        mutating func bytes(_ flag: String?, _ variable: String, _ name: String) throws -> Int? {
            guard let text = text(flag, variable) else { return nil }
            let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("k", 1 << 10), ("m", 1 << 20)]
            var number = text
            var multiplier = 1
            for (suffix, value) in units where text.hasSuffix(suffix) {
                number = String(text.dropLast(suffix.count))
                multiplier = value
                break
            }
            guard let value = Int(number), value > 0, value <= (256 << 20) / multiplier else {
                throw RelayError.invalidArgument(
                    "\(flag == nil ? variable : name): '\(text)' is not a size such as 1048576, 512KiB or 1MiB (at most 256MiB)"
                )
            }
            return value * multiplier
        }
    }
}

extension ServeOptions {
    /// A byte count as `--max-body` takes it: `1MiB`, `512KiB`, or plain bytes.
    static func size(_ bytes: Int) -> String {
        if bytes % (1 << 20) == 0 { return "\(bytes >> 20)MiB" }
        if bytes % (1 << 10) == 0 { return "\(bytes >> 10)KiB" }
        return "\(bytes)"
    }
}
