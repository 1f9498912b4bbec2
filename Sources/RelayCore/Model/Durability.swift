/// How hard SQLite works to keep a commit across power loss.
public enum Durability: String, Sendable, Codable, CaseIterable {
    /// `synchronous=FULL`: every acknowledged commit survives power loss.
    case full
    /// `synchronous=NORMAL`: commits survive a process crash; the last ones may roll back on power loss.
    case normal

    /// The value for `PRAGMA synchronous`.
    public var synchronousPragma: String { self == .full ? "FULL" : "NORMAL" }
}
