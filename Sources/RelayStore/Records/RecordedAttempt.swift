import Foundation

/// What recording an attempt did.
public struct RecordedAttempt: Sendable, Equatable {
    /// The attempt no longer held its lease (it expired and another attempt took the delivery,
    /// or an admin changed it): the result is kept in `attempts` and changed nothing else.
    public var stale = false
    /// Why the service was disabled now, if it was.
    public var disabled: String?

    /// What an attempt's recording did.
    public init(stale: Bool = false, disabled: String? = nil) {
        self.stale = stale
        self.disabled = disabled
    }
}
