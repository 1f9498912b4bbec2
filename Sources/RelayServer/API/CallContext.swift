import Foundation
import GRDB
import RelayCore
import RelayStore

/// What a method handler sees besides its parameters: the time, the caller, the settings, and
/// the effects to run after the transaction commits.
struct CallContext {
    /// The request's time (one per envelope).
    let now: Date
    /// The token given at the envelope level (top-level `token`, `Authorization: Bearer`, `Token`), if valid.
    let credential: TokenRecord?
    /// The relay's settings.
    let configuration: RelayConfiguration
    /// Set when a call created due deliveries: the worker is woken after the commit.
    var wakeDelivery = false
    /// Frames stored by the calls, pushed to connected endpoints after the commit.
    var frames: [StreamFrame] = []

    /// The envelope credential, or `InvalidTokenException` when there is none.
    func requireCredential() throws(APIException) -> TokenRecord {
        guard let credential else { throw .invalidToken("No token given") }
        return credential
    }
}

/// One interface's methods.
protocol InterfaceHandler: Sendable {
    /// Whether `method` writes (it then runs in the group-commit write queue).
    func writes(_ method: String) -> Bool
    /// Runs one call; throws ``APIException`` or ``RelayError`` for the caller's mistakes.
    func handle(_ call: APICall, db: Database, context: inout CallContext) throws -> JSONValue
}

extension TokenRecord {
    /// Whether this token may see something about project `poid`; server-wide things (nil) are visible to all.
    func mayView(_ poid: Int64?) -> Bool {
        poid == nil || canSee(project: poid)
    }
}

/// Builds `NotificationInterface` frames and stores them for every subscriber allowed to see them.
enum Notifications {
    /// `{"interface":"NotificationInterface","method":…,"parameters":{…}}`, parameters in the given order.
    static func payload(_ method: String, _ parameters: [(String, JSONValue)]) -> String {
        JSONValue.object([
            ("interface", "NotificationInterface"), ("method", .string(method)), ("parameters", .object(parameters)),
        ]).serialized
    }

    /// Stores `method(parameters)` for the subscribers of `kind` (filtered by topic/project/revision),
    /// leaving out endpoints whose token may not see project `about`.
    static func publish(
        _ db: Database, context: inout CallContext, kind: String, topicID: Int64? = nil, poid: Int64? = nil,
        roid: Int64? = nil, about: Int64?, method: String, parameters: [(String, JSONValue)]
    ) throws {
        let targets = try StreamQueries.subscribers(db, kind: kind, topicID: topicID, poid: poid, roid: roid)
            .filter { target in
                guard let about, let projects = target.projects else { return true }
                return projects.split(separator: ",").contains { Int64($0) == about }
            }
            .map(\.endpointID)

        context.frames += try StreamQueries.publish(
            db, to: targets, method: method, payload: payload(method, parameters), now: context.now)
    }
}
