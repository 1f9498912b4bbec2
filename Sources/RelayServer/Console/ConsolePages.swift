import Foundation
import Hummingbird
import RelayCore
import RelayStore

/// The console's pages and actions.
extension ConsoleController {
    // MARK: - Overview

    /// What the overview reads, in one snapshot.
    struct OverviewData: Sendable {
        var services: [ServiceRecord] = []
        var oldest: [Int64: Date] = [:]
        var connected = 0
        var history = ConsoleHistory.Minutes()
    }

    func overview(_ request: Request, _ visitor: ConsoleVisitor) async throws -> Response {
        let now = time.now()
        let counted = try await deliveryCounts(now: now)
        let data = try await storage.read { tx in
            var data = OverviewData()
            data.services = try tx.services.list()
            for service in data.services {
                guard let id = service.id, let oldest = try tx.console.oldestPending(serviceID: id) else { continue }
                data.oldest[id] = oldest
            }
            data.connected = try tx.console.connectedEndpoints()
            data.history = try ConsoleHistory.minutes(tx.console, now: now)
            return data
        }
        let (healthy, facts) = await health.report()
        var byState: [String: Int] = [:]
        var byService: [Int64: [String: Int]] = [:]
        for count in counted.counts {
            byState[count.state, default: 0] += count.count
            byService[count.serviceID, default: [:]][count.state] = count.count
        }
        let depth = ["pending", "in_flight", "paused"].reduce(0) { $0 + (byState[$1] ?? 0) }
        let charts = ConsoleHistory.charts(data.history, depthNow: depth, now: now)
        let states: [[String: Any]] = DeliveryState.allCases.map {
            [
                "state": $0.rawValue, "label": $0.rawValue.replacingOccurrences(of: "_", with: " "),
                "count": byState[$0.rawValue] ?? 0,
            ]
        }
        let services: [[String: Any]] = data.services.map { service in
            let counts = byService[service.id ?? 0] ?? [:]
            var row: [String: Any] = [
                "identifier": service.identifier, "identifierQuery": Self.query(service.identifier),
                "enabled": service.enabled, "pending": counts["pending"] ?? 0, "inFlight": counts["in_flight"] ?? 0,
                "paused": counts["paused"] ?? 0, "delivered": counts["delivered"] ?? 0,
                "oldestPending": data.oldest[service.id ?? 0].map { Self.age($0, now: now) } ?? "—",
            ]
            row["dead"] = counts["dead"] ?? 0
            row["hasDead"] = (counts["dead"] ?? 0) > 0
            return row
        }
        let healthFacts: [[String: Any]] = ["database", "writes", "worker", "stream", "schema_version"].compactMap {
            name in facts[name].map { ["name": name.replacingOccurrences(of: "_", with: " "), "value": $0] }
        }
        return render(
            ConsoleViews.overview, title: "Overview", current: "overview", visitor: visitor,
            data: [
                "health": healthy ? "ok" : "unavailable", "healthClass": healthy ? "healthy" : "unhealthy",
                "healthFacts": healthFacts, "states": states, "connected": data.connected,
                "wal": Self.bytes(storage.logBytes), "charts": charts, "services": services,
                "countedAt": Self.time(counted.at),
            ], refresh: "30; url=/admin/overview?auto=1")
    }

    // MARK: - Services

    func servicesPage(_ request: Request, _ visitor: ConsoleVisitor) async throws -> Response {
        let counts = try await deliveryCounts(now: time.now()).counts
        let (services, failures) = try await storage.read { tx in
            (try tx.services.list(), try tx.console.consecutiveFailures())
        }
        var dead: [Int64: Int] = [:]
        for count in counts where count.state == DeliveryState.dead.rawValue { dead[count.serviceID] = count.count }
        let rows: [[String: Any]] = services.map { service in
            let id = service.id ?? 0
            var row: [String: Any] = [
                "identifier": service.identifier, "identifierQuery": Self.query(service.identifier),
                "identifierPath": Self.pathSegment(service.identifier), "name": service.name, "url": service.url,
                "enabled": service.enabled, "lastSuccess": service.lastSuccessAt.map(Self.time) ?? "never",
                "failures": failures[id] ?? 0, "dead": dead[id] ?? 0, "disabledReason": service.disabledReason ?? "",
                "disabledAt": service.disabledAt.map(Self.time) ?? "",
            ]
            if let since = service.failingSince { row["failingSince"] = Self.time(since) }
            row["failing"] = (failures[id] ?? 0) > 0
            return row
        }
        return render(
            ConsoleViews.services, title: "Services", current: "services", visitor: visitor, data: ["services": rows],
            notice: Self.notice(request))
    }

    func serviceAction(
        _ verb: String, identifier: String, form: FormFields, visitor: ConsoleVisitor
    ) async throws -> Response {
        let now = time.now()
        switch verb {
        case "enable":
            _ = try await storage.write { tx in try tx.services.enable(identifier, now: now) }
            logger.notice(
                "console: service enabled", metadata: ["user": "\(visitor.user)", "service": "\(identifier)"])
            return Self.redirect("/admin/services?done=enabled")
        case "disable":
            let reason = form["reason"].map { String($0.prefix(200)) } ?? "disabled by \(visitor.user) in the console"
            _ = try await storage.write { tx in try tx.services.disable(identifier, reason: reason, now: now) }
            logger.notice(
                "console: service disabled", metadata: ["user": "\(visitor.user)", "service": "\(identifier)"])
            return Self.redirect("/admin/services?done=disabled")
        case "resume":
            let service = try await storage.write { tx in try tx.services.enable(identifier, now: now) }
            let count = try await storage.retryDead(
                serviceID: service.id, since: nil, now: now, batchSize: Retention.batchSize)
            logger.notice(
                "console: service resumed",
                metadata: ["user": "\(visitor.user)", "service": "\(identifier)", "requeued": "\(count)"])
            return Self.redirect("/admin/services?done=resumed&n=\(count)")
        default:
            throw RelayError.notFound("no action '\(verb)' for services")
        }
    }

    // MARK: - Deliveries

    func deliveriesPage(_ request: Request, _ visitor: ConsoleVisitor) async throws -> Response {
        let query = FormFields(request.uri.query ?? "")
        let now = time.now()
        let serviceName = query["service"]
        let state = try query["state"].map { text -> DeliveryState in
            guard let state = DeliveryState(rawValue: text) else {
                throw RelayError.invalidArgument("state: '\(text)' is not a delivery state")
            }
            return state
        }
        let poid = try Self.number(query["poid"], "poid")
        let roid = try Self.number(query["roid"], "roid")
        let before = try Self.number(query["before"], "before")
        let since = try query["since"].map { try Self.time($0, now: now, name: "since") }
        let until = try query["until"].map { try Self.time($0, now: now, name: "until") }
        let pageSize = Self.pageSize
        let (services, rows) = try await storage.read { tx -> ([ServiceRecord], [DeliverySummary]) in
            let services = try tx.services.list()
            var filter = DeliveryFilter(state: state, poid: poid, roid: roid, beforeID: before)
            if let serviceName {
                guard let service = services.first(where: { $0.identifier == serviceName }) else {
                    throw RelayError.notFound("no service '\(serviceName)'")
                }
                filter.serviceID = service.id
            }
            if let since {
                // Nothing since then: an id past the last.
                filter.minID = try tx.console.firstID(of: .deliveries, since: since) ?? Int64.max
            }
            if let until, let bound = try tx.console.firstID(of: .deliveries, since: until) {
                filter.beforeID = min(filter.beforeID ?? .max, bound)
            }
            let rows = try tx.console.deliveryPage(filter, services: services.compactMap(\.id), limit: pageSize + 1)
            return (services, rows)
        }
        let shown = rows.prefix(pageSize)
        var data: [String: Any] = [
            "serviceOptions": services.map { ["value": $0.identifier, "selected": $0.identifier == serviceName] },
            "stateOptions": DeliveryState.allCases.map { ["value": $0.rawValue, "selected": $0 == state] },
            // Named apart from the rows' poid and roid: a row without one would find the page's.
            "filter_poid": query["poid"] ?? "", "filter_roid": query["roid"] ?? "",
            "filter_since": query["since"] ?? "",
            "filter_until": query["until"] ?? "",
            "rows": shown.map { row -> [String: Any] in
                var values: [String: Any] = [
                    "id": row.id, "service": row.service, "method": row.method, "state": row.state,
                    "attempts": row.attemptCount, "lastError": row.lastError ?? "", "created": Self.time(row.createdAt),
                ]
                if let poid = row.poid { values["poid"] = "\(poid)" }
                if let roid = row.roid { values["roid"] = "\(roid)" }
                if let status = row.lastStatus { values["status"] = "\(status)" }
                return values
            },
        ]
        if state == .dead {
            data["requeue"] = true
            if let serviceName { data["requeueService"] = serviceName }
        }
        if rows.count > pageSize, let last = shown.last {
            let kept = ["service", "state", "poid", "roid", "since", "until"]
            var items = query.values.filter { kept.contains($0.key) && !$0.value.isEmpty }.map { ($0.key, $0.value) }
            items.append(("before", "\(last.id)"))
            data["next"] =
                "/admin/deliveries?"
                + items.sorted { $0.0 < $1.0 }.map { "\($0)=\(Self.query($1))" }.joined(separator: "&")
        }
        return render(
            ConsoleViews.deliveries, title: "Deliveries", current: "deliveries", visitor: visitor, data: data,
            notice: Self.notice(request))
    }

    func deliveryPage(_ id: Int64?, _ request: Request, _ visitor: ConsoleVisitor) async throws -> Response {
        guard let id else { throw RelayError.notFound("no such delivery") }
        let (summary, attempts, event) = try await storage.read { tx in
            let summary = try tx.queue.show(id: id)
            return (summary, try tx.queue.attempts(deliveryID: id), try tx.console.event(id: summary.eventId))
        }
        var data: [String: Any] = [
            "id": summary.id, "state": summary.state, "service": summary.service,
            "serviceQuery": Self.query(summary.service), "attemptCount": summary.attemptCount,
            "webhookID": summary.webhookId, "created": Self.time(summary.createdAt), "eventID": summary.eventId,
            "canRetry": summary.state != DeliveryState.inFlight.rawValue,
            "attempts": attempts.map { attempt -> [String: Any] in
                var values: [String: Any] = [
                    "attempt": attempt.attempt, "started": Self.time(attempt.startedAt),
                    "duration": String(format: "%.1f ms", attempt.durationMs), "outcome": attempt.outcome,
                    "status": attempt.statusCode.map { "\($0)" } ?? "—", "error": attempt.error ?? "",
                ]
                if let errorClass = attempt.errorClass { values["errorClass"] = errorClass }
                if let body = attempt.responseBody, !body.isEmpty { values["response"] = body }
                return values
            },
        ]
        if summary.state == DeliveryState.pending.rawValue || summary.state == DeliveryState.paused.rawValue {
            data["nextAttempt"] = Self.time(summary.nextAttemptAt)
        }
        if let delivered = summary.deliveredAt { data["delivered"] = Self.time(delivered) }
        if let dead = summary.deadAt { data["dead"] = Self.time(dead) }
        if let error = summary.lastError { data["lastError"] = error }
        if let event {
            var values: [String: Any] = [
                "method": event.method, "serviceIdentifier": event.serviceIdentifier,
                "received": Self.time(event.receivedAt), "hasToken": event.token != nil,
            ]
            for (key, value) in [
                ("poid", event.poid), ("roid", event.roid), ("edid", event.edid), ("soid", event.soid),
            ] {
                if let value { values[key] = "\(value)" }
            }
            if let profile = event.profileIdentifier { values["profile"] = profile }
            data["event"] = values
        }
        return render(
            ConsoleViews.delivery, title: "Delivery \(id)", current: "deliveries", visitor: visitor, data: data,
            notice: Self.notice(request))
    }

    func retry(_ id: Int64?, visitor: ConsoleVisitor) async throws -> Response {
        guard let id else { throw RelayError.notFound("no such delivery") }
        let now = time.now()
        let count = try await storage.write { tx in try tx.queue.retry(ids: [id], now: now) }
        logger.notice("console: delivery requeued", metadata: ["user": "\(visitor.user)", "delivery": "\(id)"])
        return Self.redirect("/admin/deliveries/\(id)?done=retried&n=\(count)")
    }

    func requeueDead(form: FormFields, visitor: ConsoleVisitor) async throws -> Response {
        let now = time.now()
        var serviceID: Int64?
        if let name = form["service"] {
            serviceID = try await storage.read { tx in try tx.services.find(name).id }
        }
        let count = try await storage.retryDead(
            serviceID: serviceID, since: nil, now: now, batchSize: Retention.batchSize)
        logger.notice(
            "console: dead letters requeued",
            metadata: ["user": "\(visitor.user)", "service": "\(form["service"] ?? "*")", "requeued": "\(count)"])
        let service = form["service"].map { "&service=\(Self.query($0))" } ?? ""
        return Self.redirect("/admin/deliveries?done=requeued&n=\(count)\(service)")
    }

    // MARK: - Streams

    func streamsPage(_ request: Request, _ visitor: ConsoleVisitor) async throws -> Response {
        let query = FormFields(request.uri.query ?? "")
        let before = try Self.number(query["endpoints_before"], "endpoints_before")
        let pageSize = Self.pageSize
        let (topics, endpoints, relayTokens, upstreamTokens) = try await storage.read { tx in
            (
                try tx.topics.list(limit: 100), try tx.console.endpoints(beforeID: before, limit: pageSize + 1),
                try tx.console.relayTokens(), try tx.console.upstreamTokenCount()
            )
        }
        var data: [String: Any] = [
            "topics": topics.map(Self.topicRow),
            "endpoints": endpoints.prefix(pageSize).map { endpoint -> [String: Any] in
                var values: [String: Any] = [
                    "id": endpoint.id, "user": endpoint.user, "token": endpoint.tokenPrefix,
                    "connected": endpoint.connected, "pending": endpoint.framesPending,
                    "subscriptions": endpoint.subscriptions, "dropped": endpoint.disconnectedAt.map(Self.time) ?? "",
                ]
                if let node = endpoint.node { values["node"] = node }
                return values
            },
            "tokens": relayTokens.reversed().map { token -> [String: Any] in
                var values: [String: Any] = [
                    "id": token.id ?? 0, "prefix": token.prefix, "user": token.user, "role": token.role.rawValue,
                    "projects": token.projects ?? "all", "lastUsed": token.lastUsedAt.map(Self.time) ?? "never",
                ]
                if let revoked = token.revokedAt { values["revoked"] = Self.time(revoked) }
                return values
            },
        ]
        if upstreamTokens > 0 { data["upstreamTokens"] = upstreamTokens }
        if endpoints.count > pageSize, let last = endpoints.prefix(pageSize).last {
            data["moreEndpoints"] = "/admin/streams?endpoints_before=\(last.id)"
        }
        return render(
            ConsoleViews.streams, title: "Streams", current: "streams", visitor: visitor, data: data,
            notice: Self.notice(request))
    }

    /// A topic with its latest `SLongActionState` (progress, state, title) read from its JSON.
    static func topicRow(_ topic: TopicSummary) -> [String: Any] {
        var values: [String: Any] = [
            "id": topic.id, "type": topic.type, "scope": topic.scope, "description": topic.description,
            "subscribers": topic.subscribers, "closed": topic.closedAt != nil,
            "updated": time(topic.stateUpdatedAt ?? topic.createdAt),
            "known": false, "stateName": "",
        ]
        if let text = topic.latestState, let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)),
            let state = object as? [String: Any]
        {
            if let progress = state["progress"] as? Int, progress >= 0 {
                values["known"] = true
                values["progress"] = min(progress, 100)
            }
            if let name = state["state"] as? String { values["stateName"] = name }
            if let title = state["title"] as? String, !title.isEmpty { values["title"] = title }
        }
        return values
    }

    func revoke(_ id: Int64?, visitor: ConsoleVisitor) async throws -> Response {
        guard let id else { throw RelayError.notFound("no such token") }
        let now = time.now()
        let token = try await storage.write { tx in try tx.tokens.revoke(idOrPrefix: "\(id)", now: now) }
        logger.notice(
            "console: token revoked",
            metadata: ["user": "\(visitor.user)", "token": "\(id)", "prefix": "\(token.prefix)"])
        return Self.redirect("/admin/streams?done=revoked")
    }

    // MARK: - Formatting

    /// The message of a `done=` code an action redirected with (fixed texts: nothing from the URL is echoed).
    static func notice(_ request: Request) -> String? {
        let query = FormFields(request.uri.query ?? "")
        let count = Int(query["n"] ?? "") ?? 0
        switch query["done"] {
        case "enabled": return "Service enabled; its paused deliveries are due now."
        case "disabled": return "Service disabled; its deliveries wait, paused."
        case "resumed": return "Service enabled; \(count) dead letters requeued."
        case "retried":
            return count > 0 ? "Delivery requeued, due now." : "Nothing requeued: the delivery is in flight."
        case "requeued": return "\(count) dead letters requeued, due now."
        case "revoked": return "Token revoked."
        default: return nil
        }
    }

    /// A stored time as the console prints it: UTC to the second.
    static func time(_ date: Date) -> String { String(Timestamp.format(date).prefix(19)) + " UTC" }

    /// How long ago, roughly, and when.
    static func age(_ date: Date, now: Date) -> String {
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        let text =
            seconds < 120
            ? "\(seconds) s"
            : seconds < 7200
                ? "\(seconds / 60) min" : seconds < 172_800 ? "\(seconds / 3600) h" : "\(seconds / 86_400) days"
        return "\(text) ago (\(time(date)))"
    }

    static func bytes(_ count: Int) -> String {
        count < 1 << 20 ? "\(count / 1024) KiB" : String(format: "%.1f MiB", Double(count) / Double(1 << 20))
    }

    static func number(_ text: String?, _ name: String) throws -> Int64? {
        guard let text else { return nil }
        guard let value = Int64(text) else { throw RelayError.invalidArgument("\(name): '\(text)' is not a number") }
        return value
    }

    /// A time a filter takes: `2026-11-30 08:00` (UTC) or a duration back from now (`24h`).
    static func time(_ text: String, now: Date, name: String) throws -> Date {
        do {
            return try Timestamp.parse(text, orAgoFrom: now)
        } catch {
            throw RelayError.invalidArgument(
                "\(name): '\(text)' is neither a UTC time (2026-11-30 08:00) nor a duration (24h)")
        }
    }

    /// `text` for a query string value.
    static func query(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))
            ?? ""
    }

    /// `text` as one path segment.
    static func pathSegment(_ text: String) -> String { query(text) }
}
