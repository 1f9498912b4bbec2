import Foundation
import RelayCore
import RelayTestSupport
import Testing

/// The stock BIMserver clients' start-up and calls, replayed byte for byte (``StockClientRequests``).
@Suite("Stock BIMserver clients")
struct StockClientTests {
    /// The result of a reply, or the exception's message as an error.
    static func result(_ body: String) throws -> JSONValue {
        let reply = try JSONValue.parse(body)
        if let exception = reply["response"]?["exception"] { throw APIException(message: exception.serialized) }
        return try #require(reply["response"]?["result"])
    }

    /// POSTs as Python's urllib does (form content type, `Connection: close`).
    static func python(_ relay: TestRelay, _ body: String) async throws -> JSONValue {
        let response = try await TestHTTP.request(
            "\(relay.baseURL)/json", method: "POST",
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Connection", "close")], body: body)
        #expect(response.status == 200)
        return try result(response.body)
    }

    @Test("JavaScript init(): getServerInfo without a token is an SServerInfo, RUNNING, with an SVersion of integers")
    func javaScriptInit() async throws {
        try await withTestRelay { relay in
            let response = try await relay.json(
                StockClientRequests.javaScriptInit, headers: [("Content-Type", "application/json; charset=UTF-8")])
            let parts = RelayVersion.current.split(separator: ".")
            #expect(
                response.body
                    == #"{"response":{"result":{"__type":"SServerInfo","errorMessage":null,"oid":-1,"rid":0,"serverState":"RUNNING","uuid":null,"version":{"__type":"SVersion","date":null,"downloadUrl":null,"fullString":"bimrelay \#(RelayVersion.current)","major":\#(parts[0]),"minor":\#(parts[1]),"oid":-1,"revision":\#(parts[2]),"rid":0,"supportEmail":null,"supportUrl":"https://github.com/opensourceBIM/BIMserver/wiki","uuid":null}}}}"#
            )
        }
    }

    @Test("JavaScript setToken(): getLoggedInUser is an SUser of the token; a bad or missing token is refused")
    func javaScriptSetToken() async throws {
        try await withTestRelay { relay in
            let viewer = try await relay.issueToken(role: .client, user: "alice", projects: [131_073])
            let user = try Self.result(try await relay.json(StockClientRequests.javaScriptSetToken(viewer)).body)
            #expect(user["__type"] == "SUser" && user["username"] == "alice" && user["name"] == "alice")
            #expect(user["userType"] == "USER" && user["state"] == "ACTIVE")
            #expect(user["hasRightsOn"] == .array([131_073]) && user["token"] == .null)
            #expect(user["passwordHash"] == .null)
            let admin = try await relay.issueToken(role: .admin, user: "root")
            #expect(
                try Self.result(try await relay.json(StockClientRequests.javaScriptSetToken(admin)).body)["userType"]
                    == "ADMIN")

            let bad = try JSONValue.parse(try await relay.json(StockClientRequests.javaScriptSetToken("brt_nope")).body)
            #expect(bad["response"]?["exception"]?["__type"] == "InvalidTokenException")
            let none = try JSONValue.parse(
                try await relay.json(#"{"request":{"interface":"AuthInterface","method":"getLoggedInUser"}}"#).body)
            #expect(none["response"]?["exception"]?["__type"] == "InvalidTokenException")
        }
    }

    @Test("login is refused with where tokens come from; logout succeeds and the token keeps working")
    func loginAndLogout() async throws {
        try await withTestRelay { relay in
            let login = try JSONValue.parse(try await relay.json(StockClientRequests.javaScriptLogin).body)
            let message = try #require(login["response"]?["exception"]?["message"]?.stringValue)
            #expect(message.contains("bimrelay token issue"))
            let token = try await relay.issueToken(role: .client)
            let logout =
                #"{"token":"\#(token)","request":{"interface":"AuthInterface","method":"logout","parameters":{}}}"#
            #expect(try await relay.json(logout).body == #"{"response":{"result":{}}}"#)
            #expect(
                try Self.result(try await relay.json(StockClientRequests.javaScriptSetToken(token)).body)["__type"]
                    == "SUser")
        }
    }

    @Test("the Python client's construction finds every interface, method and parameter, and each one is served")
    func pythonConstruction() async throws {
        try await withTestRelay { relay in
            let interfaces = try #require(
                try await Self.python(relay, StockClientRequests.pythonServiceInterfaces).arrayValue)
            let simpleNames = interfaces.compactMap { $0["simpleName"]?.stringValue }
            #expect(
                simpleNames == [
                    "AdminInterface", "AuthInterface", "MetaInterface", "NotificationRegistryInterface",
                    "RemoteServiceInterface",
                ])
            #expect(interfaces.allSatisfy { $0["__type"] == "SServiceInterface" && $0["nameSpace"] == "org.bimserver" })
            var described = 0
            for interface in interfaces {
                let name = try #require(interface["name"]?.stringValue)
                #expect(name == "org.bimserver.\(interface["simpleName"]!.stringValue!)")
                let methods = try #require(
                    try await Self.python(relay, StockClientRequests.pythonServiceMethods(name)).arrayValue)
                #expect(!methods.isEmpty)
                for method in methods {
                    let methodName = try #require(method["name"]?.stringValue)
                    #expect(method["__type"] == "SServiceMethod" && !(method["doc"]?.stringValue ?? "").isEmpty)
                    let version = try await Self.python(relay, StockClientRequests.pythonServerInfo)["version"]
                    // Python reads int(version[part]) for major, minor and revision.
                    for part in ["major", "minor", "revision"] {
                        guard case .int? = version?[part] else { throw APIException(message: "\(part) not an integer") }
                    }
                    let parameters = try #require(
                        try await Self.python(
                            relay, StockClientRequests.pythonServiceMethodParameters(name, methodName)
                        ).arrayValue)
                    #expect(parameters.allSatisfy { $0["type"]?["simpleName"]?.stringValue != nil })
                    // Served: a call with every parameter null reaches the method (never "not found").
                    let nulls = parameters.map { "\"\($0["name"]!.stringValue!)\":null" }.joined(separator: ",")
                    let reply = try await relay.json(
                        #"{"request":{"interface":"\#(interface["simpleName"]!.stringValue!)","method":"\#(methodName)","parameters":{\#(nulls)}}}"#
                    )
                    let refusal =
                        try JSONValue.parse(reply.body)["response"]?["exception"]?["message"]?.stringValue ?? ""
                    #expect(!refusal.contains("not found on") && !refusal.contains("No service found"), "\(methodName)")
                    described += 1
                }
            }
            #expect(described == ServiceCatalog.interfaces.reduce(0) { $0 + $1.methods.count })
            #expect(described > 40)
        }
    }

    @Test("the Python client calls NotificationRegistryInterface with its token: getProgress of a topic")
    func pythonCall() async throws {
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let topic = try await StreamTests.createTopic(
                relay, producer: producer, #""type":"RUNNING_SERVICE","description":"Clash detection""#)
            try await StreamTests.registry(
                relay, token: producer, "updateProgressTopic",
                #""topicId":\#(topic),"state":{"progress":42,"state":"STARTED","title":"Checking"}"#)
            let viewer = try await relay.issueToken(role: .client)
            let state = try await Self.python(relay, StockClientRequests.pythonGetProgress(viewer, topicId: topic))
            #expect(state["__type"] == "SLongActionState" && state["progress"] == 42)
        }
    }

    @Test("MetaInterface lookups take full, simple and Bimsie1 names; unknown ones get BIMserver's messages")
    func metaLookups() async throws {
        try await withTestRelay { relay in
            func meta(_ method: String, _ parameters: String) async throws -> JSONValue {
                try JSONValue.parse(
                    try await relay.json(
                        #"{"request":{"interface":"MetaInterface","method":"\#(method)","parameters":{\#(parameters)}}}"#
                    ).body)
            }
            for name in [
                "org.bimserver.NotificationRegistryInterface", "NotificationRegistryInterface",
                "org.buildingsmart.bimsie1.Bimsie1NotificationRegistryInterface",
            ] {
                let one = try await meta("getServiceInterface", #""serviceInterfaceName":"\#(name)""#)
                #expect(one["response"]?["result"]?["name"] == "org.bimserver.NotificationRegistryInterface")
            }
            // BIMserver's own parameter name for getServiceInterface.
            let typo = try await meta("getServiceInterface", #""serverInterfaceName":"AuthInterface""#)
            #expect(typo["response"]?["result"]?["simpleName"] == "AuthInterface")
            let method = try await meta(
                "getServiceMethod",
                #""serviceInterfaceName":"NotificationRegistryInterface","methodName":"getProgress""#)
            #expect(method["response"]?["result"]?["returnDoc"] == "SLongActionState")
            let parameters = try await meta(
                "getServiceMethodParameters",
                #""serviceInterfaceName":"RemoteServiceInterface","serviceMethodName":"newRevision""#)
            #expect(
                parameters["response"]?["result"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
                    == NotificationMethod.newRevision.parameterNames)
            let unknown = try await meta(
                "getServiceMethods", #""serviceInterfaceName":"org.bimserver.PluginInterface""#)
            #expect(
                unknown["response"]?["exception"]?["message"] == #"Service "org.bimserver.PluginInterface" not found"#)
            let missing = try await meta(
                "getServiceMethod", #""serviceInterfaceName":"AuthInterface","methodName":"checkin""#)
            #expect(missing["response"]?["exception"]?["message"] == "Method checkin not found on AuthInterface")
        }
    }
}
