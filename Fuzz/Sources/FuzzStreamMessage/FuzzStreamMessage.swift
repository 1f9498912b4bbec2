import Foundation
import FuzzDriver
import RelayCore

/// `/stream` text frames and the other peer text the relay reads: frame classification (as the
/// stream controller does it), `Retry-After` headers from services, and log escaping.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStreamMessage(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = start.map { Array(UnsafeRawBufferPointer(start: $0, count: count)) } ?? []
    let text = String(decoding: bytes, as: UTF8.self)
    switch StreamMessage(text) {
    case .handshake(_, _, let seq):
        if seq < 0 { fatalError("a negative seq got through: \(text)") }
    case .request(.success(let request), _):
        _ = request.calls.count
    default:
        break
    }
    if let wait = RetryAfter.parse(text, now: Date(timeIntervalSince1970: 1_784_102_400)) {
        if wait < .zero || wait > RetrySchedule.maximumRetryAfter { fatalError("Retry-After out of bounds: \(text)") }
        _ = DurationText.milliseconds(wait)
    }
    let escaped = ControlCharacters.escaped(text)
    if escaped.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
        fatalError("a control character survived escaping: \(text)")
    }
    return 0
}
