import Foundation

/// Typed access to a call's parameters with BIMserver's messages.
///
/// Every declared parameter must be present (`Missing parameter: <method> -> <name>`); JSON `null`
/// is accepted and reads as nil. Longs and booleans may come as strings (`"123"`, `"true"`), as
/// BIMserver's Jackson-based reader accepts them.
public struct Parameters: Sendable {
    /// The method, for messages.
    public let method: String
    private let values: JSONValue?

    /// Parameters of `method` from `call`.
    public init(_ call: APICall) {
        method = call.method
        values = call.parameters
    }

    /// Fails when the call has no `parameters` but the method declares `count` of them.
    public func requireObject(count: Int) throws(APIException) {
        if values == nil, count > 0 {
            throw .user("Missing 'parameters' field, expected \(count) parameters")
        }
    }

    /// Whether the call carries parameter `name` (even as `null`).
    public func has(_ name: String) -> Bool {
        values?[name] != nil
    }

    private func raw(_ name: String) throws(APIException) -> JSONValue {
        guard let value = values?[name] else { throw .user("Missing parameter: \(method) -> \(name)") }
        return value
    }

    /// A Java `Long` parameter: a number or a numeric string; nil for `null`.
    public func long(_ name: String) throws(APIException) -> Int64? {
        switch try raw(name) {
        case .null: return nil
        case .int(let value): return value
        case .double(let value) where value == value.rounded() && abs(value) < 9.2e18: return Int64(value)
        case .string(let text):
            if let value = Int64(text.trimmingCharacters(in: .whitespaces)) { return value }
            throw .user("Parameter \(method) -> \(name): '\(text)' is not a number")
        default: throw .user("Parameter \(method) -> \(name) must be a number")
        }
    }

    /// A `Long` that must not be null.
    public func requiredLong(_ name: String) throws(APIException) -> Int64 {
        guard let value = try long(name) else { throw .user("Parameter \(method) -> \(name) must not be null") }
        return value
    }

    /// A `String` parameter; numbers and booleans are read as their text; nil for `null`.
    public func string(_ name: String) throws(APIException) -> String? {
        switch try raw(name) {
        case .null: return nil
        case .string(let value): return value
        case .int(let value): return String(value)
        case .bool(let value): return String(value)
        case .double(let value): return String(value)
        default: throw .user("Parameter \(method) -> \(name) must be a string")
        }
    }

    /// A `String` that must not be null or empty.
    public func requiredString(_ name: String) throws(APIException) -> String {
        guard let value = try string(name), !value.isEmpty else {
            throw .user("Parameter \(method) -> \(name) must not be empty")
        }
        return value
    }

    /// Any JSON value (an SObject such as SLongActionState); nil for `null`.
    public func value(_ name: String) throws(APIException) -> JSONValue? {
        let value = try raw(name)
        return value.isNull ? nil : value
    }
}
