import RelayCore
import RelayStore

/// `AuthInterface`: who a relay token is (the stock JavaScript client's `setToken` asks before it
/// opens `/stream`). The relay has no passwords: `login` is refused with where tokens come from.
struct AuthHandler: InterfaceHandler {
    func handle(_ call: APICall, tx: any StoreTransaction, context: inout CallContext) throws -> JSONValue {
        switch call.method {
        case "login":
            throw APIException.user(
                "bimrelay has no user passwords: use a relay token, issued with "
                    + "`bimrelay token issue --user NAME --role client`, as the client's token")
        case "logout":
            // A relay token outlives a session (revoke it with `bimrelay token revoke`), and its
            // endpoints may be shared by other tabs of the same user: nothing is forgotten.
            _ = try context.requireCredential()
            return .emptyObject
        default:
            let token = try context.requireCredential()
            return BIMserverObjects.user(
                oid: token.id ?? -1, username: token.user, admin: token.role == .admin, projects: token.projectIDs,
                createdOn: token.createdAt, lastSeen: token.lastUsedAt)
        }
    }
}
