import FuzzDriver
import RelayCore

/// `POST /json` bodies: the JSON parser, the envelope reader, every parameter accessor and the
/// serializer. A parsed value must serialize to text that parses back to the same value.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONEnvelope(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = start.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []
    guard let value = try? JSONValue.parse(bytes) else { return 0 }
    let text = value.serialized
    guard let again = try? JSONValue.parse(Array(text.utf8)), again == value else {
        fatalError("serialized JSON does not parse back to the same value: \(text)")
    }
    guard let request = try? APIRequest.parse(value) else { return 0 }
    for call in request.calls {
        guard case .success(let call) = call else { continue }
        let parameters = Parameters(call)
        for name in call.parameters?.objectPairs?.map(\.0) ?? [] {
            _ = try? parameters.long(name)
            _ = try? parameters.string(name)
            _ = try? parameters.value(name)
        }
        _ = try? LongActionState.normalized(call.parameters?["state"])
        if let interface = RelayInterface(name: call.interface) {
            _ = ServiceCatalog.method(interface, call.method)
        }
    }
    let reply = APIResponse.multi(id: request.id, request.calls.map { $0.map { _ in .emptyObject } })
    _ = reply.serialized
    return 0
}
