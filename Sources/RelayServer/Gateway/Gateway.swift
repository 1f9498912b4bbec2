import Foundation
import HTTPTypes
import RelayCore
import RelayStore

/// Gateway mode (`--upstream`): the relay in front of BIMserver. It answers what it owns
/// (notifications, progress, the calls BIMserver makes on services) and passes every other call
/// to BIMserver unchanged.
struct Gateway: Sendable {
    let upstream: Upstream
    let identities: UpstreamIdentities

    /// Interfaces the relay has but BIMserver answers in gateway mode: the client then sees
    /// BIMserver's server info, its users and logins, and its full interface descriptions.
    static let forwardedInterfaces: Set<RelayInterface> = [.admin, .auth, .meta]

    /// Whether the relay answers `call` itself. A call it cannot read is answered by the relay (with
    /// the reason); a method the relay does not serve goes to BIMserver, even on an interface the
    /// relay serves in part.
    static func owns(_ call: Result<APICall, APIException>) -> Bool {
        guard case .success(let call) = call else { return true }
        guard let interface = RelayInterface(name: call.interface), !forwardedInterfaces.contains(interface) else {
            return false
        }
        return ServiceCatalog.method(interface, call.method) != nil
    }

    /// Sends `calls` to BIMserver as one multi-call envelope and returns one reply element per call,
    /// in order; when BIMserver cannot be reached, or answers something else, each element says so.
    func forward(_ calls: [APICall], token: String?, headers: HTTPFields) async -> [JSONValue] {
        var envelope: [(String, JSONValue)] = []
        if let token { envelope.append(("token", .string(token))) }
        envelope.append(("requests", .array(calls.map(\.json))))
        let failure: APIException
        do {
            let reply = try await upstream.send(.object(envelope), headers: headers)
            if let responses = reply["responses"]?.arrayValue, responses.count == calls.count { return responses }
            // A whole-envelope exception (a bad token, say) answers every call.
            if let single = reply["response"] { return Array(repeating: single, count: calls.count) }
            failure = .server(
                "BIMserver answered \(reply["responses"]?.arrayValue?.count ?? 0) of \(calls.count) calls")
        } catch {
            failure = error.exception
        }
        return Array(repeating: APIResponse.element(.failure(failure)), count: calls.count)
    }

    /// What BIMserver says about `token` (asked now unless asked within the cache time) and, for a
    /// BIMserver user's registrations in `request`, what BIMserver says about the projects and
    /// revisions they name (asked now unless asked within the cache time). Registrations for all
    /// projects are not asked about: their notifications are filtered by the projects BIMserver
    /// lists for the user.
    func rights(for request: APIRequest, token: String, database: RelayDatabase) async throws(Upstream.Failure)
        -> UpstreamRights
    {
        guard try await identities.prepare(token) else { return UpstreamRights() }
        var rights = UpstreamRights(confirmedToken: Secrets.hash(token: token))
        let registrations = request.calls.compactMap { call -> Registration? in
            guard case .success(let call) = call else { return nil }
            return Registration(call)
        }
        guard !registrations.isEmpty else { return rights }
        let topicIDs = registrations.compactMap(\.topicID)
        let known = try? await database.pool.read { db -> (TokenRecord?, [Int64: Int64]) in
            let caller = try TokenQueries.upstream(db, hash: Secrets.hash(token: token))
            var topics: [Int64: Int64] = [:]
            for id in topicIDs { if let poid = try TopicQueries.find(db, id: id)?.poid { topics[id] = poid } }
            return (caller, topics)
        }
        guard let (caller, topics) = known, caller?.origin == .bimserver else {
            return rights
        }
        for registration in registrations {
            if let roid = registration.roid, registration.poid == nil {
                rights.revisions[roid] = try await identities.project(token, revision: roid)
            }
            for poid in [registration.poid, registration.topicID.flatMap { topics[$0] }].compactMap(\.self) {
                rights.projects[poid] = .some(try await identities.refusal(token, project: poid))
            }
        }
        return rights
    }

    /// A `register…` call of NotificationRegistryInterface naming a project, revision or topic.
    private struct Registration {
        let poid: Int64?
        let roid: Int64?
        let topicID: Int64?

        init?(_ call: APICall) {
            guard RelayInterface(name: call.interface) == .notificationRegistry, call.method.hasPrefix("register"),
                let method = ServiceCatalog.method(.notificationRegistry, call.method)
            else { return nil }
            let names = Set(method.parameters.map(\.name))
            func long(_ name: String) -> Int64? {
                guard names.contains(name), let value = call.parameters?[name] else { return nil }
                return value.intValue ?? value.stringValue.flatMap { Int64($0) }
            }
            poid = long("poid")
            roid = long("roid")
            topicID = names.contains("endPointId") ? long("topicId") : nil
            if poid == nil && roid == nil && topicID == nil { return nil }
        }
    }
}

/// What BIMserver said about an envelope's token, and about the projects and revisions a BIMserver
/// user's registrations name.
struct UpstreamRights: Sendable {
    /// The SHA-256 of the envelope's token when BIMserver confirmed it for this request (its row is
    /// then its credential, even if the cache time ends while the request runs).
    var confirmedToken: String?
    /// Project → nil when the user may read it, else BIMserver's refusal.
    var projects: [Int64: APIException?] = [:]
    /// Revision → its project (the user may read it), or BIMserver's refusal.
    var revisions: [Int64: Result<Int64, APIException>] = [:]

    /// Refuses a registration for project `poid` (or, without one, revision `roid`) unless BIMserver
    /// said the user may read it. What BIMserver was not asked about is refused.
    func require(poid: Int64?, roid: Int64?) throws(APIException) {
        if let poid {
            guard let refusal = projects[poid] else {
                throw .user("BIMserver was not asked whether this user may read project \(poid)")
            }
            if let refusal { throw refusal }
        } else if let roid {
            guard let project = revisions[roid] else {
                throw .user("BIMserver was not asked whether this user may read revision \(roid)")
            }
            if case .failure(let refusal) = project { throw refusal }
        }
    }
}
