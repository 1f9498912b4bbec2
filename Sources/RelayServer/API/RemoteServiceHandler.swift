import Foundation
import RelayCore
import RelayStore

/// `RemoteServiceInterface`: what BIMserver calls on an external service, served by the relay.
struct RemoteServiceHandler: InterfaceHandler {
    let configuration: RelayConfiguration
    let publicURL: PublicURL

    func handle(_ call: APICall, tx: any StoreTransaction, context: inout CallContext) throws -> JSONValue {
        let parameters = Parameters(call)
        if let method = NotificationMethod(rawValue: call.method) {
            return try record(method, parameters, tx: tx, context: &context)
        }
        switch call.method {
        case "getService":
            return try descriptor(for: try parameters.requiredString("serviceIdentifier"), tx: tx)
        case "getPublicProfiles":
            return try profiles(for: try parameters.requiredString("serviceIdentifier"), includePrivate: false, tx: tx)
        case "getPrivateProfiles":
            let identifier = try parameters.requiredString("serviceIdentifier")
            guard let token = try parameters.string("token"), try context.authenticate(tx, token: token) != nil
            else {
                throw APIException.invalidToken()
            }
            return try profiles(for: identifier, includePrivate: true, tx: tx)
        default:
            throw APIException.user("Method \(call.method) not found on RemoteServiceInterface")
        }
    }

    /// newRevision / newExtendedDataOnRevision / newExtendedDataOnProject: one event and its deliveries.
    private func record(
        _ method: NotificationMethod, _ parameters: Parameters, tx: any StoreTransaction, context: inout CallContext
    ) throws -> JSONValue {
        // Read every declared parameter first, so a missing one is reported before anything else.
        let poid = try parameters.long("poid")
        let roid = method == .newExtendedDataOnProject ? nil : try parameters.long("roid")
        let edid = method == .newRevision ? nil : try parameters.long("edid")
        let event = IncomingEvent(
            method: method, poid: poid, roid: roid, edid: edid, soid: try parameters.long("soid"),
            serviceIdentifier: try parameters.requiredString("serviceIdentifier"),
            profileIdentifier: try parameters.string("profileIdentifier"),
            token: try parameters.string("token"), apiUrl: try parameters.string("apiUrl"))
        let producer = try authenticateProducer(try parameters.string("userToken"), tx: tx, context: context)
        guard producer.canSee(project: poid) else {
            throw APIException.user("This token may not publish events for project \(poid.map(String.init) ?? "null")")
        }
        try context.touch(tx, token: producer)
        // Gateway mode: the token BIMserver minted for the services comes back when they publish
        // progress; it is then a producer for this project (once BIMserver confirms it).
        if configuration.upstream != nil, let token = event.token, !token.isEmpty {
            try tx.tokens.rememberCallback(token: token, poid: poid, now: context.now)
        }
        let fanOutTrigger = configuration.fanOutTrigger(identifier: event.serviceIdentifier, method: method)
        _ = try tx.ingest.record(event, producerTokenID: producer.id, fanOutTrigger: fanOutTrigger, now: context.now)
        context.ingested.append(method)
        // The newRevision BIMserver sends alongside new extended data is not a new revision for
        // /stream listeners: they heard of it from the NEW_REVISION hook already.
        if !(method == .newRevision && fanOutTrigger == .newExtendedData) {
            try notifyEndpoints(event, tx: tx, context: &context)
        }
        return .emptyObject
    }

    /// The WebSocket side of an event: `newRevision(poid, roid)` to endpoints registered for new
    /// revisions (all, or of this project), `newExtendedData(roid, edid)` for extended data on a revision.
    private func notifyEndpoints(_ event: IncomingEvent, tx: any StoreTransaction, context: inout CallContext) throws {
        switch event.method {
        case .newRevision:
            let parameters: [(String, JSONValue)] = [("poid", .int(event.poid)), ("roid", .int(event.roid))]
            var endpoints = try tx.stream.subscribers(kind: "new_revision")
            if let poid = event.poid {
                endpoints += try tx.stream.subscribers(kind: "new_revision_on_project", poid: poid)
            }
            let targets = Notifications.visible(endpoints, about: event.poid)
            guard !targets.isEmpty else { return }
            _ = try tx.stream.publish(
                to: targets, method: "newRevision", payload: Notifications.payload("newRevision", parameters),
                now: context.now)
        case .newExtendedDataOnRevision:
            guard let roid = event.roid else { return }
            try Notifications.publish(
                tx, context: &context, kind: "new_extended_data_on_revision", roid: roid, about: event.poid,
                method: "newExtendedData", parameters: [("roid", .int(roid)), ("edid", .int(event.edid))])
        case .newExtendedDataOnProject:
            return
        }
    }

    /// The `userToken` parameter (BIMserver sends no top-level token), else the envelope's token;
    /// either way a producer or admin token.
    private func authenticateProducer(_ userToken: String?, tx: any StoreTransaction, context: CallContext) throws
        -> TokenRecord
    {
        let token: TokenRecord
        if let userToken, !userToken.isEmpty {
            guard let found = try context.authenticate(tx, token: userToken) else {
                throw APIException.invalidToken()
            }
            token = found
        } else {
            token = try context.requireCredential()
        }
        guard token.role.canProduce else {
            throw APIException.user("A \(token.role.rawValue) token may not publish events")
        }
        // Only relay tokens speak for BIMserver: a service's callback token (gateway mode) may
        // publish progress for its project, never notifications to other services.
        guard token.origin == .relay else {
            throw APIException.user("Only a relay producer token may publish events")
        }
        return token
    }

    /// An `SServiceDescriptor` whose `url` is the relay, so BIMserver posts to it. BIMserver mints the
    /// callback token's rights from the settings it stores from this descriptor, so a fan-out
    /// identifier asks for read rights on the revision (`--no-fan-out-read-revision` turns that off);
    /// settings that are absent are `null`, never `""` (BIMvie.ws looks up a schema by that name).
    private func descriptor(for identifier: String, tx: any StoreTransaction) throws -> JSONValue {
        let service = try lookup(identifier, tx: tx)
        let fanOut = configuration.fanOutTrigger(identifier: identifier)
        func text(_ value: String?) -> JSONValue { value.flatMap { $0.isEmpty ? nil : .string($0) } ?? .null }
        let name: String
        let description: String
        let trigger: Trigger
        if let service {
            name = service.name
            description = service.description
            trigger = service.triggerList.first ?? .newRevision
        } else {
            let what = fanOut == .newExtendedData ? "new extended data" : "new revisions"
            name = "bimrelay: every service subscribed to \(what)"
            description =
                "Durable relay: every notification is stored and delivered to each service subscribed to \(what)."
            trigger = fanOut ?? .newRevision
        }
        // BIMserver's wire order: `__type`, then the fields sorted by name.
        return .object([
            ("__type", "SServiceDescriptor"),
            ("authorizeUrl", text(service?.authorizeUrl)),
            ("companyUrl", text(service?.companyUrl)),
            ("description", text(description)),
            ("identifier", .string(identifier)),
            ("name", .string(name)),
            ("newProfileUrl", text(service?.newProfileUrl)),
            ("notificationProtocol", "JSON"),
            ("providerName", text(service?.providerName ?? "bimrelay")),
            ("readExtendedData", text(service?.readExtendedData)),
            ("readRevision", .bool(service?.readRevision ?? configuration.fanOutReadRevision)),
            ("registerUrl", text(service?.registerUrl)),
            ("token", .null),
            ("tokenUrl", text(service?.tokenUrl)),
            ("trigger", .string(trigger.rawValue)),
            ("url", .string(publicURL.value)),
            ("writeExtendedData", text(service?.writeExtendedData)),
            ("writeRevision", .bool(service?.writeRevision ?? false)),
        ])
    }

    /// `SProfileDescriptor`s; a service without profiles offers one public `default` profile, so
    /// BIMserver (which asks for a profile) can still attach it.
    private func profiles(for identifier: String, includePrivate: Bool, tx: any StoreTransaction) throws -> JSONValue {
        let stored =
            try lookup(identifier, tx: tx).map {
                try tx.services.profiles(serviceID: $0.id ?? 0, publicOnly: !includePrivate)
            } ?? []
        let descriptors = stored.map { profile in
            Self.profile(
                name: profile.name, description: profile.description, isPublic: profile.publicProfile,
                identifier: profile.identifier)
        }
        return .array(
            descriptors.isEmpty
                ? [Self.profile(name: "Default", description: "Default profile", isPublic: true, identifier: "default")]
                : descriptors)
    }

    private static func profile(name: String, description: String, isPublic: Bool, identifier: String) -> JSONValue {
        .object([
            ("__type", "SProfileDescriptor"), ("name", .string(name)), ("description", .string(description)),
            ("publicProfile", .bool(isPublic)), ("identifier", .string(identifier)),
        ])
    }

    /// The registered service, nil for a fan-out identifier, `UserException` for anything else.
    private func lookup(_ identifier: String, tx: any StoreTransaction) throws -> ServiceRecord? {
        if configuration.fanOutTrigger(identifier: identifier) != nil { return nil }
        guard let service = try tx.services.lookup(identifier: identifier) else {
            throw APIException.user("No service found with identifier '\(identifier)'")
        }
        return service
    }
}
