import Foundation
import Hummingbird

/// Small helpers for JSON responses.
enum JSONResponse {
    /// A response whose body is `object` serialised with sorted keys.
    static func make(status: HTTPResponse.Status, _ object: [String: String]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return make(status: status, body: data)
    }

    /// A response with a JSON body already encoded.
    static func make(status: HTTPResponse.Status, body: Data) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
