import RelayCore
import RelayStore

/// `AdminInterface`: what the stock JavaScript client's `init()` asks before anything else. No token needed.
struct AdminHandler: InterfaceHandler {
    func handle(_ call: APICall, tx: any StoreTransaction, context: inout CallContext) throws -> JSONValue {
        call.method == "getVersion" ? BIMserverObjects.version : BIMserverObjects.serverInfo
    }
}
