/// An error of the relay's own logic: bad input, a missing row, a refused database.
///
/// The CLI prints `message` on one line; the server edge turns it into BIMserver's exception
/// envelope (`UserException`, or `InvalidTokenException` for ``invalidToken``).
public struct RelayError: Error, Sendable, Equatable, CustomStringConvertible {
    private enum Code: Sendable, Equatable {
        case invalidArgument
        case notFound
        case conflict
        case invalidToken
        case accessDenied
        case database
        case contention
        case endpointNotFound
    }

    private let code: Code
    /// A message for a person, without any secret in it.
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// Whether this error means the caller's token was not accepted.
    public var isInvalidToken: Bool { code == .invalidToken }
    /// Whether the error is BIMserver's `ENDPOINT_NOT_FOUND` (errorCode 1).
    public var isEndpointNotFound: Bool { code == .endpointNotFound }
    /// Whether a named row does not exist.
    public var isNotFound: Bool { code == .notFound }
    /// Whether the database gave the statement up because of another transaction: trying the
    /// write again, in a new transaction, is safe.
    public var isContention: Bool { code == .contention }
    /// Whether the store failed (not the request): the database, or contention that outlasted the retries.
    public var isDatabaseFault: Bool { code == .database || code == .contention }

    /// A value the caller gave is malformed or out of range.
    public static func invalidArgument(_ message: String) -> RelayError { .init(.invalidArgument, message) }
    /// A named row does not exist.
    public static func notFound(_ message: String) -> RelayError { .init(.notFound, message) }
    /// The change would break a uniqueness rule (a duplicate identifier, …).
    public static func conflict(_ message: String) -> RelayError { .init(.conflict, message) }
    /// The token is unknown, revoked or missing.
    public static func invalidToken(_ message: String = "Invalid token") -> RelayError {
        .init(.invalidToken, message)
    }
    /// The token is valid but its role or project scope does not allow this.
    public static func accessDenied(_ message: String) -> RelayError { .init(.accessDenied, message) }
    /// The database cannot be used (missing, unreadable, newer than this binary, …).
    public static func database(_ message: String) -> RelayError { .init(.database, message) }
    /// The database gave up a statement because of another transaction (a deadlock, a
    /// serialization failure); nothing of the transaction stays.
    public static func contention(_ message: String) -> RelayError { .init(.contention, message) }
    /// A WebSocket endpoint id that is not (or no longer) registered.
    public static func endpointNotFound(_ id: Int64) -> RelayError {
        .init(.endpointNotFound, "Endpoint with id \(id) not found")
    }
}
