/// Request bodies exactly as the stock BIMserver clients send them, recorded from runs of
/// opensourceBIM/BIMserver-JavaScript-API (0.0.167, `bimserverclient.js`, on Node 20 with an
/// XMLHttpRequest shim over fetch) and aothms/python-bimserver-client (`bimserver.py`, urllib,
/// `json.dumps` defaults). Data, not their code.
enum StockClientRequests {
    /// JavaScript `init()`: the first call, before any token (`Content-Type: application/json; charset=UTF-8`).
    static let javaScriptInit =
        #"{"request":{"interface":"org.bimserver.AdminInterface","method":"getServerInfo","parameters":{}}}"#

    /// JavaScript `setToken(token)`: who the token is, before it opens `/stream`.
    static func javaScriptSetToken(_ token: String) -> String {
        #"{"request":{"interface":"org.bimserver.AuthInterface","method":"getLoggedInUser","parameters":{}},"token":"\#(token)"}"#
    }

    /// JavaScript `login(username, password)`.
    static let javaScriptLogin =
        #"{"request":{"interface":"org.bimserver.AuthInterface","method":"login","parameters":{"username":"admin@bimserver.org","password":"admin"}}}"#

    /// JavaScript `registerProgressHandler(topicId, handler)` once `/stream` gave endpoint `endPointId`.
    static func javaScriptRegisterProgressHandler(_ token: String, topicId: Int64, endPointId: Int64) -> String {
        #"{"request":{"interface":"org.bimserver.NotificationRegistryInterface","method":"registerProgressHandler","parameters":{"topicId":\#(topicId),"endPointId":\#(endPointId)}},"token":"\#(token)"}"#
    }

    /// JavaScript: what `registerProgressHandler` calls next when given no callback.
    static func javaScriptGetProgress(_ token: String, topicId: Int64) -> String {
        #"{"request":{"interface":"org.bimserver.NotificationRegistryInterface","method":"getProgress","parameters":{"topicId":\#(topicId)}},"token":"\#(token)"}"#
    }

    /// Python constructor, first call (`Content-Type: application/x-www-form-urlencoded`, no token).
    static let pythonServiceInterfaces =
        #"{"request": {"interface": "MetaInterface", "method": "getServiceInterfaces", "parameters": {}}}"#

    /// Python constructor, once per interface with the `name` from the first call.
    static func pythonServiceMethods(_ name: String) -> String {
        #"{"request": {"interface": "MetaInterface", "method": "getServiceMethods", "parameters": {"serviceInterfaceName": "\#(name)"}}}"#
    }

    /// Python `minimumBimServerVersion`, before each method's parameters.
    static let pythonServerInfo =
        #"{"request": {"interface": "AdminInterface", "method": "getServerInfo", "parameters": {}}}"#

    /// Python constructor on servers ≥ 1.5.183, once per method.
    static func pythonServiceMethodParameters(_ interface: String, _ method: String) -> String {
        #"{"request": {"interface": "MetaInterface", "method": "getServiceMethodParameters", "parameters": {"serviceInterfaceName": "\#(interface)", "serviceMethodName": "\#(method)"}}}"#
    }

    /// Python `client.NotificationRegistryInterface.getProgress(topicId=…)` with `client.token` set.
    static func pythonGetProgress(_ token: String, topicId: Int64) -> String {
        #"{"request": {"interface": "NotificationRegistryInterface", "method": "getProgress", "parameters": {"topicId": \#(topicId)}}, "token": "\#(token)"}"#
    }

    /// What BIMserver's `ServiceInterface.getServiceDescriptor(baseUrl, serviceIdentifier)` posts to
    /// `<baseUrl>/json` when an admin adds the relay to a project (its Java reflector's shape).
    static func bimserverGetService(_ identifier: String) -> String {
        #"{"request":{"interface":"RemoteServiceInterface","method":"getService","parameters":{"serviceIdentifier":"\#(identifier)"}}}"#
    }
}
