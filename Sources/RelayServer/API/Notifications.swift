import Foundation
import RelayCore
import RelayStore

/// Builds `NotificationInterface` frames and stores them for every subscriber allowed to see them.
enum Notifications {
    /// `{"interface":"NotificationInterface","method":…,"parameters":{…}}`, parameters in the given order.
    static func payload(_ method: String, _ parameters: [(String, JSONValue)]) -> String {
        JSONValue.object([
            ("interface", "NotificationInterface"), ("method", .string(method)), ("parameters", .object(parameters)),
        ]).serialized
    }

    /// The endpoints, once each, whose token may see project `about` (server-wide things: all).
    static func visible(_ targets: [(endpointID: Int64, projects: String?)], about: Int64?) -> [Int64] {
        var seen = Set<Int64>()
        return targets.filter { target in
            guard seen.insert(target.endpointID).inserted else { return false }
            guard let about, let projects = target.projects else { return true }
            return projects.split(separator: ",").contains { Int64($0) == about }
        }.map(\.endpointID)
    }

    /// Stores `method(parameters)` for the subscribers of `kind` (filtered by topic/project/revision),
    /// leaving out endpoints whose token may not see project `about`.
    static func publish(
        _ tx: any StoreTransaction, context: inout CallContext, kind: String, topicID: Int64? = nil, poid: Int64? = nil,
        roid: Int64? = nil, about: Int64?, method: String, parameters: [(String, JSONValue)]
    ) throws {
        let targets = visible(
            try tx.stream.subscribers(kind: kind, topicID: topicID, poid: poid, roid: roid), about: about)
        guard !targets.isEmpty else { return }
        _ = try tx.stream.publish(to: targets, method: method, payload: payload(method, parameters), now: context.now)
    }
}
