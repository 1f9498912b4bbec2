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
