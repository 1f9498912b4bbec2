import RelayCore
import RelayStore

/// `MetaInterface`: the relay's own interfaces, methods and parameters, read from ``ServiceCatalog``
/// (what the stock Python client builds itself from). No token needed.
struct MetaHandler: InterfaceHandler {
    func handle(_ call: APICall, tx: any StoreTransaction, context: inout CallContext) throws -> JSONValue {
        let parameters = Parameters(call)
        if call.method == "getServiceInterfaces" {
            return .array(ServiceCatalog.interfaces.map(BIMserverObjects.serviceInterface))
        }
        let entry = try interface(parameters)
        switch call.method {
        case "getServiceInterface":
            return BIMserverObjects.serviceInterface(entry)
        case "getServiceMethods":
            return .array(entry.methods.map(BIMserverObjects.serviceMethod))
        case "getServiceMethod":
            return BIMserverObjects.serviceMethod(try method(try parameters.requiredString("methodName"), of: entry))
        default:
            let method = try method(try parameters.requiredString("serviceMethodName"), of: entry)
            return .array(method.parameters.map(BIMserverObjects.serviceParameter))
        }
    }

    /// The interface named by `serviceInterfaceName` (BIMserver's `getServiceInterface` spells it
    /// `serverInterfaceName`; both are read), in any spelling the dispatcher accepts.
    private func interface(_ parameters: Parameters) throws -> CatalogInterface {
        let name =
            try parameters.has("serviceInterfaceName")
            ? parameters.requiredString("serviceInterfaceName") : parameters.requiredString("serverInterfaceName")
        guard let interface = RelayInterface(name: name) else {
            throw APIException.user("Service \"\(name)\" not found")
        }
        return ServiceCatalog.interface(interface)
    }

    private func method(_ name: String, of entry: CatalogInterface) throws -> CatalogMethod {
        guard let method = ServiceCatalog.method(entry.interface, name) else {
            throw APIException.user("Method \(name) not found on \(entry.interface.rawValue)")
        }
        return method
    }
}
