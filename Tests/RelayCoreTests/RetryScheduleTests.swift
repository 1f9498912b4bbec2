import Foundation
import RelayCore
import RelayTestSupport
import Testing

@Suite("Retry timing")
struct RetryScheduleTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func wait(_ decision: RetrySchedule.Decision) -> Double? {
        if case .retry(let at) = decision { return at.timeIntervalSince(now) }
        return nil
    }

    @Test("the standard schedule has ten attempts and Standard Webhooks' delays")
    func standardSchedule() {
        #expect(RetrySchedule.standard.maximumAttempts == 10)
        #expect(RetrySchedule.standard.description == "5s,5m,30m,2h,5h,10h,14h,20h,1d")
    }

    @Test("every delay stays within ±20 % of the schedule, and jitter really varies")
    func jitterBounds() {
        var random = SeededGenerator(seed: 42)
        let schedule = RetrySchedule.standard
        for (index, delay) in schedule.delays.enumerated() {
            let base = DurationText.seconds(delay)
            var seen = Set<Int>()
            for _ in 0..<200 {
                let waited = wait(
                    schedule.decide(afterFailedAttempt: index + 1, now: now, failure: .init(), using: &random))!
                #expect(waited >= base * 0.8 - 0.001 && waited <= base * 1.2 + 0.001)
                seen.insert(Int(waited / base * 1000))
            }
            #expect(seen.count > 50)
        }
    }

    @Test("after the last attempt the delivery is dead")
    func deadAfterLast() {
        var random = SeededGenerator(seed: 1)
        let schedule = try! RetrySchedule(parsing: "1s,2s")
        #expect(wait(schedule.decide(afterFailedAttempt: 2, now: now, failure: .init(), using: &random)) != nil)
        #expect(schedule.decide(afterFailedAttempt: 3, now: now, failure: .init(), using: &random) == .dead)
        #expect(
            RetrySchedule(delays: []).decide(afterFailedAttempt: 1, now: now, failure: .init(), using: &random) == .dead
        )
    }

    @Test("Retry-After on 429 and 503 is honoured and capped at 24 hours")
    func retryAfter() {
        var random = SeededGenerator(seed: 7)
        let schedule = try! RetrySchedule(parsing: "1s,1s,1s")
        let hinted = wait(
            schedule.decide(
                afterFailedAttempt: 1, now: now, failure: .init(statusCode: 503, retryAfter: .seconds(120)),
                using: &random))!
        #expect(hinted == 120)
        let capped = wait(
            schedule.decide(
                afterFailedAttempt: 1, now: now, failure: .init(statusCode: 429, retryAfter: .seconds(999_999)),
                using: &random))!
        #expect(capped == 86_400)
        // A 500 with Retry-After does not get to set the pace.
        let ignored = wait(
            schedule.decide(
                afterFailedAttempt: 1, now: now, failure: .init(statusCode: 500, retryAfter: .seconds(120)),
                using: &random))!
        #expect(ignored < 2)
    }

    @Test("429 and timeouts without a hint wait at least 60 s, unless the schedule is shorter")
    func throttleFloor() {
        var random = SeededGenerator(seed: 9)
        let long = RetrySchedule.standard
        let throttled = wait(
            long.decide(afterFailedAttempt: 1, now: now, failure: .init(statusCode: 429), using: &random))!
        #expect(throttled >= 60)
        let timedOut = wait(
            long.decide(afterFailedAttempt: 1, now: now, failure: .init(timedOut: true), using: &random))!
        #expect(timedOut >= 60)
        let short = try! RetrySchedule(parsing: "1s,2s")
        let quick = wait(
            short.decide(afterFailedAttempt: 1, now: now, failure: .init(statusCode: 429), using: &random))!
        #expect(quick >= 2 && quick < 60)
    }
}

@Suite("Wake-ups")
struct WakeupTests {
    @Test("a signal wakes every waiter, and a signal with no waiter is kept for the next wait")
    func signals() async throws {
        let wakeup = Wakeup()
        wakeup.signal()
        #expect(await wakeup.wait(timeout: .seconds(5)))
        #expect(await !wakeup.wait(timeout: .milliseconds(50)))
        async let first = wakeup.wait(timeout: .seconds(10))
        async let second = wakeup.wait(timeout: .seconds(10))
        try? await poll(until: "two waiters") { wakeup.waiting == 2 }
        wakeup.signal()
        let both = await (first, second)
        #expect(both == (true, true))
    }
}
