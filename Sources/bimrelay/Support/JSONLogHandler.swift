import Foundation
import Logging
import RelayCore

/// swift-log handler writing one JSON object per line to standard error, for log shippers:
/// `{"timestamp":"…","level":"info","label":"bimrelay","message":"delivered","delivery":"12",…}`.
/// Metadata keys follow the fixed keys, in name order.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var fields: [(String, JSONValue)] = [
            (
                "timestamp",
                .string(
                    ISO8601DateFormatter.string(
                        from: Date(), timeZone: .gmt, formatOptions: [.withInternetDateTime, .withFractionalSeconds]))
            ),
            ("level", .string(event.level.rawValue)), ("label", .string(label)),
            ("message", .string(event.message.description)),
        ]
        fields += merged.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value.description)) }
        FileHandle.standardError.write(Data((JSONValue.object(fields).serialized + "\n").utf8))
    }
}
