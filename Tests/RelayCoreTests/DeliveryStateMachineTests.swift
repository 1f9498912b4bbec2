import Foundation
import RelayCore
import RelayTestSupport
import Testing

@Suite("Delivery state machine")
struct DeliveryStateMachineTests {
    typealias Machine = DeliveryStateMachine
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    /// The expected answer for every (state, event) pair, for an enabled, unordered service on the
    /// standard schedule at attempt 1: the state, whether it is due now ("now"), later ("later"),
    /// or kept (nil), and the stamps. A missing row means the pair does not apply.
    static let table: [String: (DeliveryState, String?, Machine.Stamps)] = [
        "pending claim": (.inFlight, nil, .lease),
        "pending serviceDisabled": (.paused, nil, []),
        "pending requeue": (.pending, "now", [.clearLease, .resetAttempts]),
        "in_flight attemptSucceeded": (.delivered, nil, [.clearLease, .deliveredAt, .lastOutcome]),
        "in_flight attemptFailed(500)": (.pending, "later", [.clearLease, .lastOutcome]),
        "in_flight attemptFailed(410)": (.paused, "later", [.clearLease, .lastOutcome]),
        "in_flight leaseReleased": (.pending, "now", .clearLease),
        "delivered requeue": (.pending, "now", [.clearLease, .resetAttempts]),
        "dead requeue": (.pending, "now", [.clearLease, .resetAttempts]),
        "paused serviceEnabled": (.pending, "now", []),
        "paused requeue": (.pending, "now", [.clearLease, .resetAttempts]),
    ]

    static func name(_ event: Machine.Event) -> String {
        switch event {
        case .claim: "claim"
        case .attemptSucceeded: "attemptSucceeded"
        case .attemptFailed(let hint, _): "attemptFailed(\(hint.statusCode ?? 0))"
        case .leaseReleased: "leaseReleased"
        case .serviceDisabled: "serviceDisabled"
        case .serviceEnabled: "serviceEnabled"
        case .requeue: "requeue"
        }
    }

    @Test("every (state, event) pair gives the table's state, due time and stamps, or no change")
    func everyPair() {
        var random = SeededGenerator(seed: 7)
        var seen = 0
        for state in DeliveryState.allCases {
            for event in Machine.Event.all {
                let key = "\(state.rawValue) \(Self.name(event))"
                let transition = Machine.transition(
                    from: state, on: event, facts: .init(now: Self.now), random: &random)
                guard let expected = Self.table[key] else {
                    #expect(transition == nil, "\(key) should not apply")
                    continue
                }
                seen += 1
                #expect(transition?.state == expected.0, "\(key)")
                #expect(transition?.stamps == expected.2, "\(key)")
                switch expected.1 {
                case "now": #expect(transition?.due == Self.now, "\(key)")
                case "later": #expect((transition?.due ?? .distantPast) > Self.now, "\(key)")
                default: #expect(transition?.due == nil, "\(key)")
                }
            }
        }
        #expect(seen == Self.table.count)
        #expect(DeliveryState.allCases.count * Machine.Event.all.count == 40)
    }

    @Test("a disabled service's deliveries wait paused: new, released, retried and requeued alike")
    func disabledServiceWaitsPaused() {
        let facts = Machine.Facts(serviceEnabled: false, now: Self.now)
        #expect(Machine.initial(serviceEnabled: false) == .paused)
        #expect(Machine.initial(serviceEnabled: true) == .pending)
        #expect(Machine.transition(from: .inFlight, on: .leaseReleased, facts: facts)?.state == .paused)
        #expect(Machine.transition(from: .dead, on: .requeue, facts: facts)?.state == .paused)
        let failed = Machine.transition(from: .inFlight, on: .attemptFailed(.init(statusCode: 503)), facts: facts)
        #expect(failed?.state == .paused && failed?.slotContinues == false)
        #expect(Machine.targets(from: .inFlight, on: .leaseReleased, now: Self.now)! == (.pending, .paused))
    }

    @Test("the last attempt's failure is dead; an ordered service's slot never continues")
    func deadAndOrdered() {
        let last = RetrySchedule.standard.delays.count + 1  // one attempt more than there are waits
        let dead = Machine.transition(
            from: .inFlight, on: .attemptFailed(.init(statusCode: 500)),
            facts: .init(attempt: last, now: Self.now))
        #expect(
            dead == Machine.Transition(state: .dead, stamps: [.clearLease, .deadAt, .lastOutcome], slotContinues: true))
        let ordered = Machine.Facts(ordered: true, now: Self.now)
        #expect(Machine.transition(from: .inFlight, on: .attemptSucceeded, facts: ordered)?.slotContinues == false)
        #expect(
            Machine.transition(from: .inFlight, on: .attemptSucceeded, facts: .init(now: Self.now))?.slotContinues
                == true)
        // A 410 disables the service: the delivery waits paused and the slot stops.
        let gone = Machine.transition(
            from: .inFlight, on: .attemptFailed(.init(statusCode: 410), gone: true), facts: .init(now: Self.now))
        #expect(gone?.state == .paused && gone?.slotContinues == false)
    }

    @Test("Retry-After on a 503 sets the due time, within the 24-hour cap")
    func retryAfterSetsDue() {
        var random = SeededGenerator(seed: 1)
        let transition = Machine.transition(
            from: .inFlight, on: .attemptFailed(.init(statusCode: 503, retryAfter: .seconds(3_600))),
            facts: .init(now: Self.now), random: &random)
        #expect(transition?.due == Self.now.addingTimeInterval(3_600))
    }
}
