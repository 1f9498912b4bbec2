import Foundation
import RelayCore
import RelayStore

/// `NotificationRegistryInterface`: progress topics (producers) and endpoint registrations (clients),
/// with BIMserver's method and parameter names. Unlike BIMserver, everything is stored: topics,
/// their latest state and registrations survive restarts. Like BIMserver, registering on a topic
/// pushes nothing; `getProgress` reads the latest state.
struct NotificationRegistryHandler: InterfaceHandler {
    /// `register…` / `unregister…` methods: the method name without the prefix → the subscription
    /// kind. Their parameters are the catalog's.
    private static let registrations: [String: String] = [
        "ProgressHandler": "progress",
        "NewRevisionOnSpecificProjectHandler": "new_revision_on_project",
        "NewRevisionHandler": "new_revision",
        "NewExtendedDataOnRevisionHandler": "new_extended_data_on_revision",
        "NewProjectHandler": "new_project",
        "NewUserHandler": "new_user",
        "ChangeProgressOnProject": "change_progress_on_project",
        "ChangeProgressOnServer": "change_progress_on_server",
        "ChangeProgressOnRevision": "change_progress_on_revision",
    ]

    func handle(_ call: APICall, tx: any StoreTransaction, context: inout CallContext) throws -> JSONValue {
        let caller = try context.requireCredential()
        let parameters = Parameters(call)
        let method = call.method
        for (prefix, subscribe) in [("register", true), ("unregister", false)] where method.hasPrefix(prefix) {
            if let kind = Self.registrations[String(method.dropFirst(prefix.count))] {
                return try register(kind, subscribe: subscribe, parameters, caller: caller, tx: tx, context: &context)
            }
        }
        switch method {
        case "registerProgressTopic":
            return try createTopic(
                scope: "server", poid: nil, roid: nil, parameters, caller: caller, tx: tx, context: &context)
        case "registerProgressOnProjectTopic":
            return try createTopic(
                scope: "project", poid: try parameters.requiredLong("poid"), roid: nil, parameters, caller: caller,
                tx: tx,
                context: &context)
        case "registerProgressOnRevisionTopic":
            return try createTopic(
                scope: "revision", poid: try parameters.requiredLong("poid"), roid: try parameters.requiredLong("roid"),
                parameters, caller: caller, tx: tx, context: &context)
        case "updateProgressTopic":
            return try updateTopic(parameters, caller: caller, tx: tx, context: &context)
        case "unregisterProgressTopic":
            let topic = try ownTopic(try parameters.requiredLong("topicId"), caller: caller, tx: tx)
            try tx.topics.close(id: topic.id!, now: context.now)
            return .emptyObject
        case "getProgress":
            let id = try parameters.requiredLong("topicId")
            guard let topic = try tx.topics.find(id: id), caller.mayView(topic.poid) else {
                throw APIException.user("No topic found with topicId \(id)")
            }
            return try topic.latestState.map { try JSONValue.parse($0) } ?? .emptyObject
        case "getProgressTopicsOnServer":
            return try topicIDs(poid: nil, roid: nil, caller: caller, tx: tx)
        case "getProgressTopicsOnProject":
            return try topicIDs(poid: try parameters.requiredLong("poid"), roid: nil, caller: caller, tx: tx)
        case "getProgressTopicsOnRevision":
            return try topicIDs(
                poid: try parameters.requiredLong("poid"), roid: try parameters.requiredLong("roid"), caller: caller,
                tx: tx)
        default:
            throw APIException.user("Method \(method) not found on NotificationRegistryInterface")
        }
    }

    private func register(
        _ kind: String, subscribe: Bool, _ parameters: Parameters, caller: TokenRecord, tx: any StoreTransaction,
        context: inout CallContext
    ) throws -> JSONValue {
        guard let endpointID = try parameters.long("endPointId") else {
            throw APIException(message: "No EndpointId given", errorCode: .endpointNotFound)
        }
        guard let endpoint = try tx.stream.endpoint(id: endpointID),
            endpoint.user == caller.user || caller.role == .admin
        else { throw APIException(message: "Endpoint with id \(endpointID) not found", errorCode: .endpointNotFound) }
        let names = Set(ServiceCatalog.method(.notificationRegistry, parameters.method)?.parameters.map(\.name) ?? [])
        let topicID = names.contains("topicId") ? try parameters.requiredLong("topicId") : nil
        let poid = names.contains("poid") ? try parameters.requiredLong("poid") : nil
        let roid = names.contains("roid") ? try parameters.requiredLong("roid") : nil
        // A BIMserver user (gateway mode) is registered for a project or revision only if BIMserver
        // says it may read it: BIMserver's rights, not the projects it listed, are the source of truth.
        let askedBIMserver = subscribe && caller.origin == .bimserver
        var topicProject: Int64?
        if let topicID {
            guard let topic = try tx.topics.find(id: topicID), askedBIMserver || caller.mayView(topic.poid)
            else {
                throw APIException.user("Topic with id \(topicID) not found")
            }
            topicProject = topic.poid
        }
        if askedBIMserver {
            try context.upstreamRights.require(poid: poid ?? topicProject, roid: roid)
            // A project BIMserver allows but did not list (a subproject, rights granted since):
            // the user's scope grows, so the notifications it registers for reach it.
            let revisionProject = roid.flatMap { try? context.upstreamRights.revisions[$0]?.get() }
            if let project = poid ?? topicProject ?? revisionProject, !caller.canSee(project: project),
                let id = caller.id
            {
                try tx.tokens.widenScope(id: id, project: project)
            }
        } else {
            guard caller.mayView(poid) else { throw APIException.user("This token may not see project \(poid!)") }
        }
        guard subscribe else {
            try tx.stream.unsubscribe(endpointID: endpointID, kind: kind, topicID: topicID, poid: poid, roid: roid)
            return .emptyObject
        }
        let limit = context.configuration.maxSubscriptionsPerToken
        // Every update writes one frame per subscriber: a token's registrations are bounded.
        if try tx.stream.subscribe(
            endpointID: endpointID, kind: kind, topicID: topicID, poid: poid, roid: roid, now: context.now),
            try tx.stream.subscriptionsOfToken(endpointID: endpointID) > limit
        {
            throw APIException.user(
                "This token holds \(limit) registrations, its limit (--max-subscriptions-per-token): unregister some first"
            )
        }
        // Like BIMserver, registering pushes nothing: the stock client calls getProgress itself, and
        // a pushed state would run its handler twice.
        return .emptyObject
    }

    private func createTopic(
        scope: String, poid: Int64?, roid: Int64?, _ parameters: Parameters, caller: TokenRecord,
        tx: any StoreTransaction,
        context: inout CallContext
    ) throws -> JSONValue {
        guard caller.role.canProduce else { throw APIException.user("A client token may not create progress topics") }
        if let poid {
            guard caller.mayView(poid) else { throw APIException.user("This token may not use project \(poid)") }
        } else {
            // A server-wide topic reaches every listener: only a token not limited to projects may create one.
            guard caller.projectIDs == nil else {
                throw APIException.user("A token limited to projects may only create project or revision topics")
            }
        }
        let type = try parameters.string("type") ?? "RUNNING_SERVICE"
        guard ["DOWNLOAD", "UPLOAD", "RUNNING_SERVICE", "BRANCH"].contains(type) else {
            throw APIException.user("Unknown SProgressTopicType \(type)")
        }
        let id = try tx.topics.create(
            type: type, scope: scope, poid: poid, roid: roid,
            description: try parameters.string("description") ?? "",
            owner: caller.id, now: context.now,
            idFloor: context.configuration.upstream.map { _ in Gateway.topicIDFloor })
        // Who hears of a new topic, as BIMserver: revision topics reach revision, project and server
        // listeners; project topics project listeners; server topics server listeners.
        if scope == "revision", let poid, let roid {
            try Notifications.publish(
                tx, context: &context, kind: "change_progress_on_revision", poid: poid, roid: roid, about: poid,
                method: "newProgressOnRevisionTopic",
                parameters: [("poid", .int(poid)), ("roid", .int(roid)), ("topicId", .int(id))])
        }
        if scope != "server", let poid {
            try Notifications.publish(
                tx, context: &context, kind: "change_progress_on_project", poid: poid, about: poid,
                method: "newProgressOnProjectTopic", parameters: [("poid", .int(poid)), ("topicId", .int(id))])
        }
        if scope != "project" {
            try Notifications.publish(
                tx, context: &context, kind: "change_progress_on_server", about: poid,
                method: "newProgressOnServerTopic", parameters: [("topicId", .int(id))])
        }
        return .int(id)
    }

    private func updateTopic(
        _ parameters: Parameters, caller: TokenRecord, tx: any StoreTransaction, context: inout CallContext
    ) throws -> JSONValue {
        let topic = try ownTopic(try parameters.requiredLong("topicId"), caller: caller, tx: tx)
        guard let state = try LongActionState.normalized(try parameters.value("state")) else {
            throw APIException.user("Parameter updateProgressTopic -> state must not be null")
        }
        // Every update is stored and becomes a frame: no rate limiting that drops states.
        try tx.topics.updateState(id: topic.id!, state: state.serialized, now: context.now)
        try Notifications.publish(
            tx, context: &context, kind: "progress", topicID: topic.id, about: topic.poid, method: "progress",
            parameters: [("topicId", .int(topic.id)), ("state", state)])
        return .emptyObject
    }

    /// A topic the caller may change: the producer token that registered it, or an admin within
    /// its project scope.
    private func ownTopic(_ id: Int64, caller: TokenRecord, tx: any StoreTransaction) throws -> TopicRecord {
        guard caller.role.canProduce else { throw APIException.user("A client token may not change progress topics") }
        guard let topic = try tx.topics.find(id: id), caller.mayView(topic.poid) else {
            throw APIException.user("Topic with id \(id) not found")
        }
        guard caller.role == .admin || topic.ownerTokenId == caller.id else {
            throw APIException.user("Only the producer that registered topic \(id), or an admin, may change it")
        }
        return topic
    }

    private func topicIDs(poid: Int64?, roid: Int64?, caller: TokenRecord, tx: any StoreTransaction) throws -> JSONValue
    {
        .array(try tx.topics.ids(poid: poid, roid: roid).filter { caller.mayView($0.poid) }.map { .int($0.id) })
    }
}
