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
    /// Open `/stream` sockets by endpoint, for BIMserver's own progress.
    let sockets = GatewaySockets()
    /// How long a call waits for BIMserver to give a socket's channel its endpoint.
    static let channelHandshakeTimeout = Duration.seconds(10)

    /// Interfaces the relay has but BIMserver answers in gateway mode: the client then sees
    /// BIMserver's server info, its users and logins, and its full interface descriptions.
    static let forwardedInterfaces: Set<RelayInterface> = [.admin, .auth, .meta]

    /// The relay's progress topics get ids from 2^40 up in gateway mode, clear of BIMserver's own
    /// (a counter from 1 for the long actions it runs: checkins, downloads), and below 2^53, so
    /// JavaScript reads them exactly.
    static let topicIDFloor: Int64 = 1 << 40

    /// Whether the relay answers `call` itself. A call it cannot read is answered by the relay (with
    /// the reason); a method the relay does not serve goes to BIMserver, even on an interface the
    /// relay serves in part, and so does `getProgress` of one of BIMserver's own topics.
    static func owns(_ call: Result<APICall, APIException>) -> Bool {
        guard case .success(let call) = call else { return true }
        guard let interface = RelayInterface(name: call.interface), !forwardedInterfaces.contains(interface) else {
            return false
        }
        if interface == .notificationRegistry, bimserverTopicMethods.contains(call.method),
            let topicID = topicID(call), topicID < topicIDFloor
        {
            return false
        }
        return ServiceCatalog.method(interface, call.method) != nil
    }

    /// Methods that, for one of BIMserver's own topics, are BIMserver's: reading its progress, and
    /// (with the endpoint BIMserver gave the socket's channel) hearing it.
    static let bimserverTopicMethods: Set<String> = [
        "getProgress", "registerProgressHandler", "unregisterProgressHandler",
    ]

    /// Whether `call` names one of the relay's endpoints for BIMserver (`register…`/
    /// `unregisterProgressHandler` of BIMserver's own topic): it is never passed on as it is, since
    /// the id means another socket to BIMserver.
    static func namesEndpoint(_ call: Result<APICall, APIException>) -> Bool {
        guard case .success(let call) = call else { return false }
        return RelayInterface(name: call.interface) == .notificationRegistry && call.method.hasSuffix("ProgressHandler")
    }

    /// The `topicId` parameter, if any, read as the handler reads it.
    static func topicID(_ call: APICall) -> Int64? {
        try? Parameters(call).long("topicId")
    }

    /// Sends `calls` to BIMserver as one multi-call envelope and returns one reply element per call,
    /// in order; when BIMserver cannot be reached, or answers something else, each element says so.
    /// - Parameters:
    ///   - token: the envelope's `token`, passed on as it came.
    ///   - caller: the caller's token (the envelope's or a header's), for calls naming its endpoint.
    func forward(_ calls: [APICall], token: String?, caller: String?, headers: HTTPFields) async -> [JSONValue] {
        var elements = [JSONValue?](repeating: nil, count: calls.count)
        var sent: [(index: Int, call: APICall)] = []
        for (index, call) in calls.enumerated() {
            switch await endpointForBIMserver(call, token: caller) {
            case .success(let call): sent.append((index, call))
            case .failure(let refusal): elements[index] = APIResponse.element(.failure(refusal))
            }
        }
        var envelope: [(String, JSONValue)] = []
        if let token { envelope.append(("token", .string(token))) }
        envelope.append(("requests", .array(sent.map(\.call.json))))
        let replies: [JSONValue]
        if sent.isEmpty {
            replies = []
        } else {
            do {
                let reply = try await upstream.send(.object(envelope), headers: headers)
                if let responses = reply["responses"]?.arrayValue, responses.count == sent.count {
                    replies = responses
                } else if let single = reply["response"] {
                    // A whole-envelope exception (a bad token, say) answers every call.
                    replies = Array(repeating: single, count: sent.count)
                } else {
                    let count = reply["responses"]?.arrayValue?.count ?? 0
                    let failure = APIException.server("BIMserver answered \(count) of \(sent.count) calls")
                    replies = Array(repeating: APIResponse.element(.failure(failure)), count: sent.count)
                }
            } catch {
                replies = Array(repeating: APIResponse.element(.failure(error.exception)), count: sent.count)
            }
        }
        for (reply, (index, _)) in zip(replies, sent) { elements[index] = reply }
        return elements.map { $0 ?? .emptyObject }
    }

    /// A `register…`/`unregisterProgressHandler` for one of BIMserver's topics names one of the
    /// relay's endpoints: BIMserver gets the endpoint it gave that socket's channel instead (the
    /// socket must be the caller's, shaken hands with the same BIMserver token). Other calls pass as
    /// they are.
    private func endpointForBIMserver(_ call: APICall, token: String?) async -> Result<APICall, APIException> {
        guard Self.namesEndpoint(.success(call)) else { return .success(call) }
        let parameters = call.parameters?.objectPairs ?? []
        let notFound = APIException(message: "Endpoint not found", errorCode: .endpointNotFound)
        guard let relayEndpoint = call.parameters?["endPointId"]?.intValue,
            let socket = sockets.socket(endpointID: relayEndpoint), let socketToken = socket.token, let token,
            Secrets.constantTimeEquals(Secrets.hash(token: socketToken), Secrets.hash(token: token))
        else { return .failure(notFound) }
        guard let bimserverEndpoint = await socket.channel().upstreamEndpoint(timeout: Self.channelHandshakeTimeout)
        else {
            return .failure(.server("BIMserver gave this socket no endpoint for its own progress"))
        }
        let rewritten = parameters.map { pair in
            pair.0 == "endPointId" ? (pair.0, JSONValue.int(bimserverEndpoint)) : pair
        }
        return .success(APICall(interface: call.interface, method: call.method, parameters: .object(rewritten)))
    }

    /// What BIMserver says about `token` (asked now unless asked within the cache time) and, for a
    /// BIMserver user's registrations in `request`, what BIMserver says about the projects and
    /// revisions they name (asked now unless asked within the cache time). Registrations for all
    /// projects are not asked about: their notifications are filtered by the projects BIMserver
    /// lists for the user.
    func rights(for request: APIRequest, token: String, storage: any RelayStorage) async throws(Upstream.Failure)
        -> UpstreamRights
    {
        guard try await identities.prepare(token) else { return UpstreamRights() }
        let hash = Secrets.hash(token: token)
        var rights = UpstreamRights(confirmedToken: hash)
        let registrations = request.calls.compactMap { call -> Registration? in
            guard case .success(let call) = call else { return nil }
            return Registration(call)
        }
        guard !registrations.isEmpty else { return rights }
        let topicIDs = registrations.compactMap(\.topicID)
        let known = try? await storage.read { tx -> (TokenRecord?, [Int64: Int64]) in
            let caller = try tx.tokens.upstream(hash: hash)
            var topics: [Int64: Int64] = [:]
            for id in topicIDs { if let poid = try tx.topics.find(id: id)?.poid { topics[id] = poid } }
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

    /// A `register…` call of NotificationRegistryInterface that registers an endpoint for a
    /// project, revision or topic, its parameters read as the handler reads them. (Registering a
    /// progress topic is not one: BIMserver users are clients, which may not.)
    private struct Registration {
        let poid: Int64?
        let roid: Int64?
        let topicID: Int64?

        init?(_ call: APICall) {
            guard RelayInterface(name: call.interface) == .notificationRegistry, call.method.hasPrefix("register"),
                let method = ServiceCatalog.method(.notificationRegistry, call.method)
            else { return nil }
            let names = Set(method.parameters.map(\.name))
            guard names.contains("endPointId") else { return nil }
            let parameters = Parameters(call)
            func long(_ name: String) -> Int64? { names.contains(name) ? (try? parameters.long(name)) ?? nil : nil }
            poid = long("poid")
            roid = long("roid")
            topicID = long("topicId")
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
