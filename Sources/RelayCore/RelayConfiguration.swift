import Foundation

/// Every setting of a running relay, with the defaults DESIGN.md promises.
///
/// Only the `bimrelay` executable reads flags and `BIMRELAY_*` variables; it fills this struct.
public struct RelayConfiguration: Sendable, Equatable {
    /// The database file used when none is given.
    public static let defaultDatabasePath = "./bimrelay.sqlite"
    /// Loopback: a relay is exposed on purpose, through a reverse proxy.
    public static let defaultHost = "127.0.0.1"
    /// 8080 is BIMserver's own default.
    public static let defaultPort = 8085
    /// The `serviceIdentifier` meaning "every enabled service subscribed to NEW_REVISION".
    public static let defaultFanOutIdentifier = "bimrelay"
    /// The `serviceIdentifier` meaning "every enabled service subscribed to NEW_EXTENDED_DATA".
    public static let defaultExtendedDataFanOutIdentifier = "bimrelay-extended-data"
    /// The largest `/json` body accepted.
    public static let defaultMaxBodyBytes = 1 << 20
    /// The largest inbound WebSocket frame accepted.
    public static let defaultMaxFrameBytes = 1 << 20
    /// How long one write waits for the lock before SQLite says "database is locked".
    public static let defaultBusyTimeout = Duration.seconds(5)
    /// How long the relay keeps retrying a write while another connection holds the lock, before
    /// the request fails.
    public static let defaultLockWait = Duration.seconds(60)
    /// How long writes or delivery claims may fail (or wait for a lock), or the delivery loop stand
    /// still, before `/health` says 503.
    public static let defaultUnhealthyAfter = Duration.seconds(10)
    /// Deliveries in flight at once, over all services.
    public static let defaultMaxInFlight = 64
    /// Deliveries in flight at once to one service.
    public static let defaultServiceMaxInFlight = 8
    /// Connecting to a service.
    public static let defaultConnectTimeout = Duration.seconds(5)
    /// A whole delivery request.
    public static let defaultRequestTimeout = Duration.seconds(15)
    /// A service failing without a single success for this long is disabled.
    public static let defaultDisableAfter = Duration.seconds(5 * 86_400)
    /// WebSocket ping period.
    public static let defaultPingInterval = Duration.seconds(30)
    /// How long a dropped endpoint and its frames are kept for a resume.
    public static let defaultEndpointRetention = Duration.seconds(86_400)
    /// The most frames kept per endpoint.
    public static let defaultMaxFramesPerEndpoint = 10_000
    /// How long delivered deliveries and their attempts are kept.
    public static let defaultDeliveredRetention = Duration.seconds(7 * 86_400)
    /// The longest the delivery worker sleeps before looking at the database (CLI changes show up within it).
    public static let defaultDeliveryPollInterval = Duration.seconds(1)
    /// How long a lease outlives its request's timeout: a relay that died holding a delivery leaves
    /// it in flight this long after the timeout, then another relay (or the restarted one) sends it again.
    public static let defaultLeaseMargin = Duration.seconds(30)
    /// Live frames queued for one socket before its client counts as a slow consumer and is closed.
    public static let defaultStreamBufferFrames = 10_000
    /// Bytes of answers and other texts queued for one socket before its reader pauses.
    public static let defaultStreamBufferBytes = 4 << 20
    /// How long a `/stream` client may take to send its token.
    public static let defaultHandshakeTimeout = Duration.seconds(30)
    /// Open `/stream` sockets at once, over all clients.
    public static let defaultMaxStreamConnections = 10_000
    /// Endpoints one token may keep (the oldest dropped one makes room for a new one): room for an
    /// application that shares one client token among its users' browsers.
    public static let defaultMaxEndpointsPerToken = 1_000
    /// Registrations one token may hold over all its endpoints.
    public static let defaultMaxSubscriptionsPerToken = 10_000
    /// How often background retention looks for rows past their horizon.
    public static let defaultRetentionInterval = Duration.seconds(60)
    /// Origins allowed by CORS (`*`: any, like BIMserver's default).
    public static let defaultAllowedOrigins = ["*"]
    /// Gateway mode: how long one forwarded call (or one question the relay asks BIMserver) may take.
    public static let defaultUpstreamTimeout = Duration.seconds(60)
    /// Gateway mode: how long BIMserver's answer about a token (who it is, which projects it may
    /// read) is trusted before BIMserver is asked again.
    public static let defaultUpstreamAuthCache = Duration.seconds(30)
    /// Gateway mode: the largest BIMserver reply the relay reads whole (an answer it splits into a
    /// mixed envelope's reply, or its own questions); replies forwarded whole are streamed, not read.
    public static let upstreamMaxReplyBytes = 64 << 20

    /// An admin console session unused this long is signed out.
    public static let defaultConsoleSessionIdle = Duration.seconds(30 * 60)
    /// An admin console session ends this long after sign-in, however busy.
    public static let consoleSessionLifetime = Duration.seconds(12 * 3600)

    /// The SQLite file.
    public var databasePath = defaultDatabasePath
    /// How commits are synced.
    public var durability = Durability.full
    /// How long a writer waits for the lock.
    public var busyTimeout = defaultBusyTimeout
    /// See ``defaultLockWait``.
    public var lockWait = defaultLockWait
    /// See ``defaultUnhealthyAfter``.
    public var unhealthyAfter = defaultUnhealthyAfter
    /// The listening address.
    public var host = defaultHost
    /// The listening port; 0 picks a free one.
    public var port = defaultPort
    /// The URL BIMserver reaches the relay at (put in service descriptors); nil: `http://host:port`.
    public var publicURL: String?
    /// See ``defaultFanOutIdentifier``.
    public var fanOutIdentifier = defaultFanOutIdentifier
    /// See ``defaultExtendedDataFanOutIdentifier``.
    public var extendedDataFanOutIdentifier = defaultExtendedDataFanOutIdentifier
    /// Whether the fan-out descriptors ask BIMserver for read rights on the revision (BIMserver mints
    /// the callback `token` from them; without them subscribers cannot download what they are told about).
    public var fanOutReadRevision = true
    /// See ``defaultMaxBodyBytes``.
    public var maxBodyBytes = defaultMaxBodyBytes
    /// See ``defaultMaxFrameBytes``.
    public var maxFrameBytes = defaultMaxFrameBytes
    /// See ``defaultAllowedOrigins``.
    public var allowedOrigins = defaultAllowedOrigins
    /// See ``defaultMaxInFlight``.
    public var maxInFlight = defaultMaxInFlight
    /// See ``defaultDeliveryPollInterval``.
    public var deliveryPollInterval = defaultDeliveryPollInterval
    /// See ``defaultLeaseMargin``.
    public var leaseMargin = defaultLeaseMargin
    /// See ``defaultStreamBufferFrames``.
    public var streamBufferFrames = defaultStreamBufferFrames
    /// See ``defaultStreamBufferBytes``.
    public var streamBufferBytes = defaultStreamBufferBytes
    /// See ``defaultHandshakeTimeout``.
    public var handshakeTimeout = defaultHandshakeTimeout
    /// See ``defaultMaxStreamConnections``.
    public var maxStreamConnections = defaultMaxStreamConnections
    /// See ``defaultMaxEndpointsPerToken``.
    public var maxEndpointsPerToken = defaultMaxEndpointsPerToken
    /// See ``defaultMaxSubscriptionsPerToken``.
    public var maxSubscriptionsPerToken = defaultMaxSubscriptionsPerToken
    /// See ``defaultConnectTimeout``.
    public var connectTimeout = defaultConnectTimeout
    /// See ``defaultDisableAfter``.
    public var disableAfter = defaultDisableAfter
    /// See ``defaultPingInterval``.
    public var pingInterval = defaultPingInterval
    /// See ``defaultEndpointRetention``.
    public var endpointRetention = defaultEndpointRetention
    /// See ``defaultMaxFramesPerEndpoint``.
    public var maxFramesPerEndpoint = defaultMaxFramesPerEndpoint
    /// See ``defaultDeliveredRetention``.
    public var deliveredRetention = defaultDeliveredRetention

    /// See ``defaultRetentionInterval``.
    public var retentionInterval = defaultRetentionInterval
    /// Gateway mode: BIMserver's base URL (`http://bimserver:8080`, without `/json`); nil: the plain relay.
    public var upstream: String?
    /// See ``defaultUpstreamTimeout``.
    public var upstreamTimeout = defaultUpstreamTimeout
    /// See ``defaultUpstreamAuthCache``.
    public var upstreamAuthCache = defaultUpstreamAuthCache
    /// PostgreSQL: this relay's name among the relays sharing the database (its leases and sockets
    /// are stamped with it; a relay restarting under the same name takes its own leases back at
    /// once). Nil: the host name.
    public var nodeID: String?

    /// ``nodeID``, or the host name.
    public var resolvedNodeID: String { nodeID ?? Self.hostName }

    /// The machine's name, as `gethostname` gives it (`ProcessInfo.hostName` resolves it through
    /// DNS, which can block for seconds where no resolver answers).
    public static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
    /// Whether `/admin` serves the admin console (off: `/admin` is not found).
    public var adminConsole = false
    /// See ``defaultConsoleSessionIdle``.
    public var consoleSessionIdle = defaultConsoleSessionIdle
    /// When set, `GET /metrics` answers only `Authorization: Bearer <this>` (kept as its SHA-256).
    public var metricsTokenHash: String?
    /// Log lines as text (swift-log's format) or one JSON object per line.
    public var logFormat = LogFormat.text

    /// How log lines are written.
    public enum LogFormat: String, Sendable, CaseIterable {
        /// `2026-11-22T08:30:00+0000 info bimrelay: key=value message`.
        case text
        /// One JSON object per line: `timestamp`, `level`, `label`, `message`, then the metadata.
        case json
    }

    /// The defaults.
    public init() {}

    /// The trigger whose subscribers get a call addressed to `identifier`, or nil when `identifier`
    /// names one registered service. Through the extended-data identifier both calls BIMserver sends
    /// for new extended data (`newExtendedDataOnRevision` and its companion `newRevision`) go to
    /// NEW_EXTENDED_DATA subscribers only.
    public func fanOutTrigger(identifier: String, method: NotificationMethod) -> Trigger? {
        switch identifier {
        case extendedDataFanOutIdentifier: .newExtendedData
        case fanOutIdentifier: method.trigger
        default: nil
        }
    }

    /// BIMserver's base URL as `--upstream` takes it: `http(s)://host[:port][/path]`, without a
    /// trailing slash or `/json`; an empty text turns gateway mode off.
    public static func upstreamURL(_ text: String) throws -> String? {
        var url = text.trimmingCharacters(in: .whitespaces)
        guard !url.isEmpty else { return nil }
        while url.hasSuffix("/") { url.removeLast() }
        if url.hasSuffix("/json") { url.removeLast(5) }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil, components.user == nil
        else {
            throw RelayError.invalidArgument(
                "--upstream must be BIMserver's address, such as http://bimserver:8080 (got '\(text)')")
        }
        return url
    }

    /// The trigger a fan-out identifier stands for (its descriptor's trigger), nil for other identifiers.
    public func fanOutTrigger(identifier: String) -> Trigger? {
        fanOutTrigger(identifier: identifier, method: .newRevision)
    }
}
