/// An exception as BIMserver's JSON API puts it on the wire:
/// `{"__type": "UserException", "message": "…", "errorType"?: "DefaultErrorCode", "errorCode"?: N}`.
public struct APIException: Error, Sendable, Equatable, CustomStringConvertible {
    /// BIMserver's `DefaultErrorCode` values.
    public enum ErrorCode: Int, Sendable {
        case endpointNotFound = 1
        case httpConnectionRefused = 2
        case invalidToken = 3
    }

    /// The Java simple class name: `UserException`, `InvalidTokenException`, `ServerException`.
    public var type: String
    /// The message.
    public var message: String
    /// The error code, where BIMserver has one.
    public var errorCode: ErrorCode?

    /// An exception of `type` with `message`.
    public init(type: String = "UserException", message: String, errorCode: ErrorCode? = nil) {
        self.type = type
        self.message = message
        self.errorCode = errorCode
    }

    public var description: String { "\(type): \(message)" }

    /// A `UserException` with `message`.
    public static func user(_ message: String) -> APIException { APIException(message: message) }

    /// An `InvalidTokenException` (BIMserver drops its error code on `/json`).
    public static func invalidToken(_ message: String = "Invalid token") -> APIException {
        APIException(type: "InvalidTokenException", message: message)
    }

    /// A `ServerException`: the relay could not do what it should have.
    public static func server(_ message: String) -> APIException {
        APIException(type: "ServerException", message: message)
    }

    /// The exception object.
    public var json: JSONValue {
        var pairs: [(String, JSONValue)] = [("__type", .string(type)), ("message", .string(message))]
        if let errorCode {
            pairs.append(("errorType", "DefaultErrorCode"))
            pairs.append(("errorCode", .int(Int64(errorCode.rawValue))))
        }
        return .object(pairs)
    }
}
