import Foundation

/// Thrown by ``poll(until:timeout:interval:_:)`` when the condition never held.
public struct PollTimeout: Error, CustomStringConvertible {
    public let what: String
    public var description: String { "timed out waiting for \(what)" }
}

/// Awaits a condition instead of sleeping a guessed amount: checks `condition` every `interval`
/// until it holds or `timeout` passes.
public func poll(
    until what: String, timeout: Duration = .seconds(10), interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: interval)
    }
    if try await condition() { return }
    throw PollTimeout(what: what)
}
