/// One text frame a `/stream` client sent, read as BIMserver reads it: `hb` first, then `action`,
/// `request`, `token`; anything else (not JSON, not an object, none of these) is ignored.
public enum StreamMessage: Sendable {
    /// `{"hb": …}`: a heartbeat.
    case heartbeat
    /// `{"action": …}`: BIMserver's download channel, which the relay does not serve.
    case action
    /// `{"request": …}` or `{"requests": …}`: a JSON API envelope, or why it cannot be read; `id` to echo.
    case request(Result<APIRequest, APIException>, id: JSONValue?)
    /// `{"token": T, "endpointid"?: E, "seq"?: S}`: the handshake, or a resume of endpoint E after seq S.
    case handshake(token: String, endpointID: Int64?, seq: Int64)
    /// Anything else.
    case ignored

    /// Reads one text frame.
    public init(_ text: String) {
        guard let message = try? JSONValue.parse(text), message.objectPairs != nil else {
            self = .ignored
            return
        }
        if message["hb"] != nil {
            self = .heartbeat
        } else if message["action"] != nil {
            self = .action
        } else if message["request"] != nil || message["requests"] != nil {
            do throws(APIException) {
                self = .request(.success(try APIRequest.parse(message)), id: message["id"])
            } catch {
                self = .request(.failure(error), id: message["id"])
            }
        } else if let token = message["token"]?.stringValue {
            let endpointID: Int64? = if case .int(let id)? = message["endpointid"] { id } else { nil }
            let seq: Int64 = if case .int(let value)? = message["seq"] { max(0, value) } else { 0 }
            self = .handshake(token: token, endpointID: endpointID, seq: seq)
        } else {
            self = .ignored
        }
    }
}
