import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import RelayCore
import RelayStore

extension DeliveryWorker {
    /// Sends one attempt and records its outcome.
    /// - Returns: the service's next due delivery, claimed in the same write (nil when none is due,
    ///   the service is ordered, or the worker is stopping).
    func attempt(_ delivery: ClaimedDelivery, client: HTTPClient) async -> ClaimedDelivery? {
        let started = settings.time.now()
        let clock = ContinuousClock.now
        let request = DeliveryRequest(delivery, now: started, apiURL: settings.apiURL?())
        let (outcome, body) =
            request.isSigned
            ? await send(request, timeout: .milliseconds(delivery.service.timeoutMs), client: client)
            : (
                DeliveryOutcome.misconfigured(
                    "the service's signing secret is not a valid whsec_ secret: set one with `bimrelay service update \(delivery.service.identifier) --signing-secret …`"
                ), []
            )
        let duration = ContinuousClock.now - clock
        let now = settings.time.now()
        var random = SystemRandomNumberGenerator()
        let transition = outcome.transition(
            attempt: delivery.attempt, schedule: delivery.service.schedule, ordered: delivery.service.ordered, now: now,
            using: &random)
        let next = AttemptResult.Next(transition)
        let result = AttemptResult(
            deliveryID: delivery.id, serviceID: delivery.service.id ?? 0, attempt: delivery.attempt, startedAt: started,
            durationMs: Double(DurationText.milliseconds(duration * 1000)) / 1000, statusCode: outcome.statusCode,
            errorClass: outcome.errorClass, error: outcome.error,
            responseBody: body.isEmpty ? nil : String(decoding: body.prefix(Self.storedResponseBytes), as: UTF8.self),
            next: next, disableReason: outcome.isGone ? "the service answered 410 Gone" : nil, lease: delivery.lease)
        // An ordered service has one delivery in flight, in event order: the claiming loop takes it.
        let continues = transition.slotContinues && !isStopping
        do {
            // Another relay's transaction can make the database give this one up (a deadlock on
            // a shared database), for this record or for the whole job: the same record, in a
            // new transaction, goes through.
            var recorded = AttemptRecorder.Outcome()
            for retry in 0...3 {
                let contention: Bool
                do {
                    recorded = try await recorder.record(
                        .init(result: result, now: now, continueWith: continues ? delivery.service : nil))
                    contention = (recorded.failure as? RelayError)?.isContention == true
                } catch let error as RelayError where error.isContention && retry < 3 {
                    contention = true
                }
                guard contention, retry < 3 else { break }
                logger.notice(
                    "recording an attempt met another relay's transaction; trying again",
                    metadata: ["delivery": "\(delivery.id)", "retry": "\(retry + 1)"])
                try? await settings.time.sleep(for: .milliseconds(10 * (retry + 1)))
            }
            if let failure = recorded.failure {
                // The lease will expire and the delivery is tried again: at least once, never lost.
                logger.error(
                    "could not record an attempt", metadata: ["delivery": "\(delivery.id)", "error": "\(failure)"])
                return nil
            }
            if recorded.stale {
                logger.warning(
                    "attempt finished after its lease was taken over; kept in attempts only",
                    metadata: ["delivery": "\(delivery.id)", "attempt": "\(delivery.attempt)"])
                return recorded.next
            }
            log(delivery, outcome: outcome, next: next, disabled: recorded.disabled)
            metrics.attempt(next.metricsOutcome, duration: duration)
            return recorded.next
        } catch {
            // The lease will expire and the delivery is tried again: at least once, never lost.
            logger.error(
                "could not record an attempt", metadata: ["delivery": "\(delivery.id)", "error": "\(error)"])
            return nil
        }
    }

    /// POSTs the request; never throws (a failure is an outcome). The service's timeout bounds the
    /// whole attempt, head and body: AsyncHTTPClient's deadline stops counting once the head has
    /// arrived, so a service that stalls or trickles its body is cut off here, and its slot freed.
    private func send(
        _ request: DeliveryRequest, timeout: Duration, client: HTTPClient
    ) async -> (DeliveryOutcome, [UInt8]) {
        var http = HTTPClientRequest(url: request.url)
        http.method = .POST
        for (name, value) in request.headers { http.headers.add(name: name, value: value) }
        http.body = .bytes(ByteBuffer(string: request.body))
        let deadline = NIODeadline.now() + .milliseconds(DurationText.milliseconds(timeout))
        let prepared = http
        let timedOut = (
            DeliveryOutcome.failure(timedOut: true, description: "no answer within \(DurationText.format(timeout))"),
            [UInt8]()
        )
        do {
            return try await withThrowingTaskGroup(of: (DeliveryOutcome, [UInt8])?.self) { group in
                group.addTask {
                    let response = try await client.execute(prepared, deadline: deadline)
                    var body: [UInt8] = []
                    for try await chunk in response.body {
                        body += chunk.readableBytesView.prefix(Self.readResponseBytes - body.count)
                        if body.count >= Self.readResponseBytes { break }
                    }
                    let outcome = DeliveryOutcome.response(
                        status: Int(response.status.code), retryAfter: response.headers.first(name: "Retry-After"),
                        body: body, now: self.settings.time.now())
                    return (outcome, body)
                }
                group.addTask {
                    try await self.settings.time.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                return try await group.next()! ?? timedOut
            }
        } catch let error as HTTPClientError
            where [.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout].contains(error)
        {
            return timedOut
        } catch {
            return (.failure(timedOut: false, description: String(describing: error)), [])
        }
    }

    private func log(_ delivery: ClaimedDelivery, outcome: DeliveryOutcome, next: AttemptResult.Next, disabled: String?)
    {
        var metadata: Logger.Metadata = [
            "delivery": "\(delivery.id)", "service": "\(delivery.service.identifier)",
            "attempt": "\(delivery.attempt)", "webhook_id": "\(delivery.webhookId)",
        ]
        if let status = outcome.statusCode { metadata["status"] = "\(status)" }
        if let error = outcome.errorClass { metadata["error"] = "\(error)" }
        switch next {
        case .delivered:
            logger.info("delivered", metadata: metadata)
        case .retry(let at):
            metadata["next_attempt_at"] = "\(Timestamp.format(at))"
            logger.notice("attempt failed, will retry", metadata: metadata)
        case .dead:
            logger.error("delivery dead: no attempts left", metadata: metadata)
            if delivery.service.ordered {
                logger.warning("ordered service moves on to its next delivery past a dead one", metadata: metadata)
            }
        }
        if let disabled {
            logger.error(
                "service disabled", metadata: ["service": "\(delivery.service.identifier)", "reason": "\(disabled)"])
        }
    }
}

extension AttemptResult.Next {
    /// The `outcome` label of `bimrelay_deliveries_total`.
    var metricsOutcome: RelayMetrics.Outcome {
        switch self {
        case .delivered: .delivered
        case .retry: .failed
        case .dead: .dead
        }
    }
}
