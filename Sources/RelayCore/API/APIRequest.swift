/// One call in a JSON API envelope: `{"interface", "method", "parameters"}`.
public struct APICall: Sendable, Equatable {
    /// The interface as sent (simple, `org.bimserver.` full, or `Bimsie1…`).
    public let interface: String
    /// The method name.
    public let method: String
    /// The `parameters` (or `arguments`) object; nil when absent.
    public let parameters: JSONValue?

    /// A call; `parameters` should be an object or nil.
    public init(interface: String, method: String, parameters: JSONValue?) {
        self.interface = interface
        self.method = method
        self.parameters = parameters
    }
}

/// A parsed BIMserver JSON API request: `{"token"?, "id"?, "request": {…}}` or `"requests": [ … ]`.
public struct APIRequest: Sendable {
    /// The `id`, echoed in the reply (absent or -1: none).
    public let id: JSONValue?
    /// The top-level `token`.
    public let token: String?
    /// Each call, or why it could not be read (answered in its place, others still run).
    public let calls: [Result<APICall, APIException>]
    /// Whether the envelope used `requests` (the reply then uses `responses`).
    public let isMulti: Bool

    /// An envelope of `calls`.
    public init(id: JSONValue?, token: String?, calls: [Result<APICall, APIException>], isMulti: Bool) {
        self.id = id
        self.token = token
        self.calls = calls
        self.isMulti = isMulti
    }

    /// Reads an envelope; a body that is not an object with `request` or `requests` is refused whole.
    public static func parse(_ body: JSONValue) throws(APIException) -> APIRequest {
        guard case .object = body else { throw .user("The request body must be a JSON object") }
        var id = body["id"]
        if let value = id, value == .int(-1) || value.isNull { id = nil }
        let token: String?
        switch body["token"] {
        case .none, .null?: token = nil
        case .string(let value)?: token = value.isEmpty ? nil : value
        default: throw .user("\"token\" must be a string")
        }
        if let request = body["request"] {
            return APIRequest(id: id, token: token, calls: [call(request)], isMulti: false)
        }
        if let requests = body["requests"] {
            guard let list = requests.arrayValue else { throw .user("\"requests\" must be an array") }
            return APIRequest(id: id, token: token, calls: list.map(call), isMulti: true)
        }
        throw .user("No \"request\" or \"requests\" field found")
    }

    private static func call(_ value: JSONValue) -> Result<APICall, APIException> {
        guard case .object = value else { return .failure(.user("A request must be a JSON object")) }
        guard let interface = value["interface"]?.stringValue, !interface.isEmpty else {
            return .failure(.user("No \"interface\" parameter found in request"))
        }
        guard let method = value["method"]?.stringValue, !method.isEmpty else {
            return .failure(.user("No \"method\" parameter found in request"))
        }
        // `parameters` is BIMserver's key; the wiki's `arguments` is accepted as a synonym.
        let parameters = value["parameters"] ?? value["arguments"]
        if let parameters, !parameters.isNull, parameters.objectPairs == nil {
            return .failure(.user("\"parameters\" must be a JSON object"))
        }
        return .success(
            APICall(interface: interface, method: method, parameters: parameters?.isNull == true ? nil : parameters))
    }
}

/// Builds BIMserver's reply envelopes.
public enum APIResponse {
    /// `{"id"?, "response": {"result": X}}` or `{"id"?, "response": {"exception": {…}}}`.
    public static func single(id: JSONValue?, _ outcome: Result<JSONValue, APIException>) -> JSONValue {
        withID(id, [("response", element(outcome))])
    }

    /// `{"id"?, "responses": [ … ]}`.
    public static func multi(id: JSONValue?, _ outcomes: [Result<JSONValue, APIException>]) -> JSONValue {
        withID(id, [("responses", .array(outcomes.map(element)))])
    }

    /// `{"id"?, "response": element}` of a reply element already built (BIMserver's, say).
    public static func single(id: JSONValue?, element: JSONValue) -> JSONValue {
        withID(id, [("response", element)])
    }

    /// `{"id"?, "responses": [ … ]}` of reply elements already built (some of them BIMserver's).
    public static func multi(id: JSONValue?, elements: [JSONValue]) -> JSONValue {
        withID(id, [("responses", .array(elements))])
    }

    /// The envelope for an error that stopped the whole request (bad JSON, too large, bad token).
    public static func failure(id: JSONValue? = nil, _ exception: APIException) -> JSONValue {
        single(id: id, .failure(exception))
    }

    /// One `{"result": X}` or `{"exception": {…}}`.
    public static func element(_ outcome: Result<JSONValue, APIException>) -> JSONValue {
        switch outcome {
        case .success(let result): .object([("result", result)])
        case .failure(let exception): .object([("exception", exception.json)])
        }
    }

    private static func withID(_ id: JSONValue?, _ pairs: [(String, JSONValue)]) -> JSONValue {
        guard let id else { return .object(pairs) }
        return .object([("id", id)] + pairs)
    }
}

extension APICall {
    /// The call as an envelope carries it, for passing it on to BIMserver.
    public var json: JSONValue {
        var pairs: [(String, JSONValue)] = [("interface", .string(interface)), ("method", .string(method))]
        if let parameters { pairs.append(("parameters", parameters)) }
        return .object(pairs)
    }
}
