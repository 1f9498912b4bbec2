import Foundation
import RelayCore
import RelayStore
import RelayTestSupport
import Testing

@testable import RelayServer

/// The hub's choice between sockets of one endpoint, here and on other relays.
@Suite("Stream hub")
struct StreamHubTests {
    /// Whether `connection` was told to close.
    static func closed(_ connection: StreamConnection) -> Bool {
        connection.take().0.contains { if case .close = $0 { true } else { false } }
    }

    static func connection(generation: Int64) -> StreamConnection {
        let connection = StreamConnection(capacity: 10)
        connection.generation.store(generation, ordering: .relaxed)
        return connection
    }

    @Test(
        "the newer connection of an endpoint wins, whichever attaches last; a socket attaching after another relay took the endpoint over closes"
    )
    func generations() async throws {
        try await StoreBackend.sqlite.with { storage in
            let hub = StreamHub(storage: storage, metrics: RelayMetrics())
            let (older, newer) = (Self.connection(generation: 1), Self.connection(generation: 2))
            hub.attach(older, endpointID: 7)
            hub.attach(newer, endpointID: 7)
            #expect(Self.closed(older) && !Self.closed(newer))
            // Two handshakes racing: the older one's attach comes last and loses.
            let late = Self.connection(generation: 1)
            hub.attach(late, endpointID: 7)
            #expect(Self.closed(late) && !Self.closed(newer))
            // Another relay attached endpoint 8 as connection 5; this relay's socket of connection 4
            // finished its handshake only after the notice.
            hub.takenOver(8, generation: 5)
            let stale = Self.connection(generation: 4)
            hub.attach(stale, endpointID: 8)
            #expect(Self.closed(stale))
            // The notice for an endpoint whose socket is here closes it.
            hub.takenOver(7, generation: 3)
            #expect(Self.closed(newer))
        }
    }
}
