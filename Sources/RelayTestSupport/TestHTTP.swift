import AsyncHTTPClient
import Foundation
import NIOCore

/// A plain HTTP response as tests look at it.
public struct TestResponse: Sendable {
    public let status: Int
    public let headers: [(String, String)]
    public let body: String

    /// The first value of a header (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// The body parsed as a JSON object.
    public func jsonObject() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
            throw CommandResult.CommandError.notAnObject(body)
        }
        return object
    }
}

/// Real HTTP requests over loopback, through AsyncHTTPClient's shared client.
public enum TestHTTP {
    /// Sends one request and collects the whole response.
    public static func request(
        _ url: String, method: String = "GET", headers: [(String, String)] = [], body: String? = nil,
        timeout: Duration = .seconds(10)
    ) async throws -> TestResponse {
        var request = HTTPClientRequest(url: url)
        request.method = .init(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(
            request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return TestResponse(
            status: Int(response.status.code),
            headers: response.headers.map { ($0.name, $0.value) },
            body: String(buffer: bytes))
    }
}
