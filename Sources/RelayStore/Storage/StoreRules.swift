import Foundation
import RelayCore

/// What every backend does the same way before or after its SQL: new token rows, a service's
/// enable and disable fields, scopes as stored, and the admin views' column lists (plain SQL both
/// SQLite and PostgreSQL read).
enum StoreRules {
    /// A new relay token for `user` (trimmed, not empty): its row without an id, and the clear token,
    /// which is not stored anywhere.
    static func newToken(user: String, role: TokenRole, projects: [Int64]?, now: Date) throws -> (TokenRecord, String) {
        let user = user.trimmingCharacters(in: .whitespaces)
        guard !user.isEmpty else { throw RelayError.invalidArgument("--user must not be empty") }
        let token = Secrets.newToken()
        let record = TokenRecord(
            id: nil, user: user, role: role, projects: projects.map(projectList),
            tokenHash: Secrets.hash(token: token), prefix: String(token.prefix(Secrets.visiblePrefixLength)),
            createdAt: now)
        return (record, token)
    }

    /// `1,2,3`, as `tokens.projects` stores a scope.
    static func projectList(_ projects: [Int64]) -> String {
        projects.map(String.init).joined(separator: ",")
    }

    /// The relay identity of BIMserver user `name`.
    static func upstreamUser(_ name: String) -> String { "bimserver:" + name }

    /// `service` enabled now (the disable reason and failure streak forgotten).
    static func enabled(_ service: ServiceRecord, now: Date) -> ServiceRecord {
        var service = service
        service.enabled = true
        service.disabledAt = nil
        service.disabledReason = nil
        service.failingSince = nil
        service.updatedAt = now
        return service
    }

    /// `service` disabled now for `reason`.
    static func disabled(_ service: ServiceRecord, reason: String, now: Date) -> ServiceRecord {
        var service = service
        service.enabled = false
        service.disabledAt = now
        service.disabledReason = reason
        service.updatedAt = now
        return service
    }

    /// The columns of ``DeliverySummary`` (`queue list`, `queue show`).
    static let deliverySummarySelect = """
        SELECT d.id, s.identifier AS service, e.method, e.poid, e.roid, e.edid, d.event_id,
               d.webhook_id, d.state, d.attempt_count, d.next_attempt_at, d.lease_expires_at,
               d.last_status, d.last_error, d.created_at, d.delivered_at, d.dead_at
        FROM deliveries d
        JOIN services s ON s.id = d.service_id
        JOIN events e ON e.id = d.event_id
        """

    /// The columns of ``TopicSummary`` (`topic list`, `topic show`).
    static let topicSummarySelect = """
        SELECT t.id, t.type, t.scope, t.poid, t.roid, t.description, t.latest_state,
               t.state_updated_at, t.created_at, t.closed_at,
               (SELECT count(*) FROM subscriptions s WHERE s.topic_id = t.id) AS subscribers
        FROM topics t
        """
}
