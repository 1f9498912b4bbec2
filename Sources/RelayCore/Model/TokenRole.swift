/// What a relay token may do.
public enum TokenRole: String, Sendable, Codable, CaseIterable {
    /// BIMserver (or a plugin) sending events and progress.
    case producer
    /// A WebSocket or JSON API client that registers endpoints and reads progress.
    case client
    /// Everything.
    case admin

    /// Whether this role may publish events and progress topics.
    public var canProduce: Bool { self == .producer || self == .admin }
}

/// Where a credential comes from (`tokens.origin`).
public enum TokenOrigin: String, Sendable, Codable, CaseIterable {
    /// Issued by `bimrelay token issue`.
    case relay
    /// A BIMserver user's token, accepted in gateway mode while BIMserver confirms it.
    case bimserver
    /// A token BIMserver minted for a service (the `token` of a notification), accepted in gateway
    /// mode as a producer for the notification's project while BIMserver confirms it.
    case callback
}
