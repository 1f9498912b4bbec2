import Foundation

/// The BIMserver objects (`S…` classes) the relay answers with. Keys come in BIMserver's wire order:
/// `__type` first, then the fields sorted by name, every field present (`null` when unset), as its
/// JSON converter writes them.
public enum BIMserverObjects {
    /// `SVersion` describing this build of bimrelay.
    public static var version: JSONValue {
        let parts = RelayVersion.current.split(separator: ".").map { Int64($0) ?? 0 }
        func part(_ index: Int) -> JSONValue { .int(index < parts.count ? parts[index] : 0) }
        return .object([
            ("__type", "SVersion"), ("date", .null), ("downloadUrl", .null),
            ("fullString", .string("bimrelay \(RelayVersion.current)")), ("major", part(0)), ("minor", part(1)),
            ("oid", -1), ("revision", part(2)), ("rid", 0), ("supportEmail", .null),
            ("supportUrl", "https://github.com/opensourceBIM/BIMserver/wiki"), ("uuid", .null),
        ])
    }

    /// `SServerInfo`: the relay is `RUNNING` whenever it answers.
    public static var serverInfo: JSONValue {
        .object([
            ("__type", "SServerInfo"), ("errorMessage", .null), ("oid", -1), ("rid", 0), ("serverState", "RUNNING"),
            ("uuid", .null), ("version", version),
        ])
    }

    /// `SUser` for a relay token's user: `userType` ADMIN for admin tokens, USER otherwise;
    /// `hasRightsOn` lists the token's projects (empty: every project). Nothing secret is included.
    public static func user(
        oid: Int64, username: String, admin: Bool, projects: [Int64]?, createdOn: Date, lastSeen: Date?
    ) -> JSONValue {
        func millis(_ date: Date) -> JSONValue { .int(Int64((date.timeIntervalSince1970 * 1000).rounded())) }
        return .object([
            ("__type", "SUser"), ("createdById", -1), ("createdOn", millis(createdOn)), ("extendedData", .array([])),
            ("hasRightsOn", .array((projects ?? []).map { .int($0) })), ("lastSeen", lastSeen.map(millis) ?? .null),
            ("logs", .array([])), ("name", .string(username)), ("oAuthAuthorizationCodes", .array([])),
            ("oAuthIssuedAuthorizationCodes", .array([])), ("oid", .int(oid)), ("passwordHash", .null),
            ("passwordSalt", .null), ("rid", 0), ("schemas", .array([])), ("services", .array([])),
            ("state", "ACTIVE"), ("token", .null), ("userSettingsId", -1), ("userType", admin ? "ADMIN" : "USER"),
            ("username", .string(username)), ("uuid", .null), ("validationToken", .null),
            ("validationTokenCreated", .null),
        ])
    }

    /// `SServiceInterface`.
    public static func serviceInterface(_ entry: CatalogInterface) -> JSONValue {
        .object([
            ("__type", "SServiceInterface"), ("name", .string(entry.name)), ("nameSpace", .string(entry.nameSpace)),
            ("simpleName", .string(entry.interface.rawValue)),
        ])
    }

    /// `SServiceMethod`.
    public static func serviceMethod(_ method: CatalogMethod) -> JSONValue {
        .object([
            ("__type", "SServiceMethod"), ("doc", .string(method.doc)), ("name", .string(method.name)),
            ("returnDoc", method.returnDoc.map { .string($0) } ?? .null),
        ])
    }

    /// `SServiceParameter` with its `SServiceType` (fields not expanded, as BIMserver).
    public static func serviceParameter(_ parameter: CatalogParameter) -> JSONValue {
        let type = parameter.type
        return .object([
            ("__type", "SServiceParameter"), ("doc", .string(parameter.doc)), ("genericType", .null),
            ("name", .string(parameter.name)),
            (
                "type",
                .object([
                    ("__type", "SServiceType"), ("fields", .array([])), ("name", .string(type.name)), ("oid", -1),
                    ("rid", 0), ("simpleName", .string(type.simpleName)), ("simpleType", .string(type.simpleType)),
                    ("uuid", .null),
                ])
            ),
        ])
    }
}
