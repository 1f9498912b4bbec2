import Foundation

/// One stored frame: `{"seq": seq, "request": payload}`.
public struct StreamFrame: Sendable, Equatable {
    public var endpointID: Int64
    public var seq: Int64
    /// The frame's JSON text, as sent.
    public var text: String

    /// A frame of `endpointID`.
    public init(endpointID: Int64, seq: Int64, payload: String) {
        self.endpointID = endpointID
        self.seq = seq
        text = "{\"seq\":\(seq),\"request\":\(payload)}"
    }
}

/// Where a stored frame is: its endpoint and seq (what a relay tells the others, which read the
/// frame itself from the store).
public struct FrameMark: Sendable, Equatable {
    public var endpointID: Int64
    public var seq: Int64

    public init(endpointID: Int64, seq: Int64) {
        self.endpointID = endpointID
        self.seq = seq
    }
}
