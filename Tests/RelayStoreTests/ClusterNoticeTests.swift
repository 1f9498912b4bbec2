import Foundation
import Testing

@testable import RelayStore

/// What one relay tells the others through `pg_notify`: small enough for PostgreSQL, read back whole.
@Suite("Cluster notices")
struct ClusterNoticeTests {
    @Test("a notice reads back as it was sent, and says nothing when it has nothing to say")
    func roundTrip() throws {
        #expect(ClusterNotice().payloads(from: "a").isEmpty)
        var notice = ClusterNotice()
        notice.due = true
        notice.tokens = true
        notice.frames = [FrameMark(endpointID: 12, seq: 7), FrameMark(endpointID: 13, seq: 1)]
        notice.takeovers = [.init(endpointID: 12, generation: 3)]
        let payloads = notice.payloads(from: "relay \"one\"")
        #expect(
            payloads == [
                #"{"node":"relay \"one\"","due":true,"tokens":true,"takeovers":[[12,3]],"frames":[[12,7],[13,1]]}"#
            ])
        let read = try #require(ClusterNotice(payload: payloads[0]))
        #expect(read.node == "relay \"one\"")
        #expect(
            read.signals == [
                .deliveriesDue, .tokensChanged,
                .framesStoredElsewhere([FrameMark(endpointID: 12, seq: 7), FrameMark(endpointID: 13, seq: 1)]),
                .endpointTakenOver(endpointID: 12, generation: 3),
            ])
        #expect(ClusterNotice(payload: "bimrelay_deliveries") == nil)
        #expect(ClusterNotice(payload: #"{"node":"a","frames":[[1]]}"#) == nil)
    }

    @Test("a fan-out to 10,000 endpoints elsewhere is split into payloads PostgreSQL accepts, every mark once")
    func largeFanOut() throws {
        var notice = ClusterNotice()
        notice.due = true
        notice.frames = (1...10_000).map { FrameMark(endpointID: Int64.max - $0, seq: Int64.max - $0) }
        let payloads = notice.payloads(from: String(repeating: "n", count: 63))
        #expect(payloads.count > 1)
        #expect(payloads.allSatisfy { $0.utf8.count <= ClusterNotice.payloadLimit })
        let read = try payloads.map { try #require(ClusterNotice(payload: $0)) }
        #expect(read.flatMap(\.frames) == notice.frames)
        #expect(read.filter(\.due).count == 1)
    }
}
