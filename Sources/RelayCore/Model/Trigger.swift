import Foundation

/// What makes BIMserver notify a service (BIMserver's `STrigger`).
public enum Trigger: String, Sendable, Codable, CaseIterable {
    case newRevision = "NEW_REVISION"
    case newProject = "NEW_PROJECT"
    case newExtendedData = "NEW_EXTENDED_DATA"

    /// Parses a comma-separated list such as `NEW_REVISION,NEW_EXTENDED_DATA` (case-insensitive).
    public static func parseList(_ text: String) throws(RelayError) -> [Trigger] {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).uppercased() }
        guard !names.isEmpty else { throw .invalidArgument("at least one trigger is required") }
        var triggers: [Trigger] = []
        for name in names {
            guard let trigger = Trigger(rawValue: name) else {
                let known = Trigger.allCases.map(\.rawValue).joined(separator: ", ")
                throw .invalidArgument("unknown trigger '\(name)' (known: \(known))")
            }
            if !triggers.contains(trigger) { triggers.append(trigger) }
        }
        return triggers
    }

    /// The stored form of a trigger list: names joined by commas.
    public static func listText(_ triggers: [Trigger]) -> String {
        triggers.map(\.rawValue).joined(separator: ",")
    }
}
