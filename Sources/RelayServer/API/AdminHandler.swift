import GRDB
import RelayCore

/// `AdminInterface`: what the stock JavaScript client's `init()` asks before anything else. No token needed.
struct AdminHandler: InterfaceHandler {
    func handle(_ call: APICall, db: Database, context: inout CallContext) throws -> JSONValue {
        call.method == "getVersion" ? BIMserverObjects.version : BIMserverObjects.serverInfo
    }
}
