import AsyncHTTPClient
import Foundation
import HTTPTypes
import Logging
import NIOCore
import RelayCore
import RelayStore

/// Answers BIMserver JSON API envelopes, for `POST /json` and for `"request"` frames on `/stream`.
///
/// An envelope with a writing call (or an `Idempotency-Key`) runs as one job of the group-commit
/// ``WriteQueue``: each call in its own savepoint, the reply built inside the transaction and sent
/// only after it commits. Read-only envelopes run on a read snapshot and never touch the writer.
public final class APIDispatcher: Sendable {
    /// An answer: the HTTP status and the JSON text.
    public struct Answer: Sendable {
        /// 200 for every application outcome, as BIMserver; 400/413 for unreadable requests.
        public let status: Int
        /// The reply envelope.
        public let body: String
        /// Gateway mode: BIMserver's reply to a request passed on whole, its body still to be
        /// streamed back (`status` and `body` are then not used).
        public var upstream: HTTPClientResponse? = nil
    }

    private let configuration: RelayConfiguration
    private let storage: any RelayStorage
    private let logger: Logger
    private let handlers: [RelayInterface: any InterfaceHandler]
    private let metrics: RelayMetrics
    /// What a request's time (stored as received, due and used times) is taken from.
    private let time: RelayTime
    /// Gateway mode: BIMserver behind the relay.
    let gateway: Gateway?

    /// A dispatcher over `storage` (whose signals wake the worker and carry frames to the hub).
    public init(
        configuration: RelayConfiguration, publicURL: PublicURL, storage: any RelayStorage,
        metrics: RelayMetrics, upstream: Upstream? = nil, logger: Logger, time: RelayTime = .system
    ) {
        self.time = time
        gateway = upstream.map { upstream in
            Gateway(
                upstream: upstream,
                identities: UpstreamIdentities(
                    upstream: upstream, cacheTime: configuration.upstreamAuthCache, storage: storage,
                    logger: logger))
        }
        self.metrics = metrics
        self.configuration = configuration
        self.storage = storage
        self.logger = logger
        handlers = [
            .remoteService: RemoteServiceHandler(configuration: configuration, publicURL: publicURL),
            .notificationRegistry: NotificationRegistryHandler(),
            .admin: AdminHandler(),
            .auth: AuthHandler(),
            .meta: MetaHandler(),
        ]
    }

    /// An `Idempotency-Key` and the hash of the body it came with.
    struct IdempotencyKey: Sendable {
        let value: String
        let bodyHash: String
    }

    /// The longest `Idempotency-Key` accepted, in bytes.
    public static let maxIdempotencyKeyBytes = 255

    /// Answers one request body.
    /// - Parameters:
    ///   - headerToken: the token from `Authorization: Bearer` or `Token`, used when the body has none.
    ///   - headers: the request's headers, passed on with calls forwarded to BIMserver (gateway mode).
    ///   - idempotencyKey: the `Idempotency-Key` header. It counts only on authenticated requests that
    ///     write, per token: the same key with the same body gets the first answer and writes
    ///     nothing; with another body it is refused.
    public func answer(
        body: [UInt8], headerToken: String?, idempotencyKey: String?, headers: HTTPFields = [:]
    ) async -> Answer {
        let read = Result { try APIRequest.parse(try JSONValue.parse(body)) }
        if let gateway {
            // What the relay does not own goes to BIMserver as it came; a body the relay cannot read
            // too (BIMserver's answer to it is the one the client would have had).
            let parsed = try? read.get()
            guard let parsed, parsed.calls.contains(where: { Gateway.owns($0) || Gateway.namesEndpoint($0) }) else {
                do {
                    let reply = try await gateway.upstream.forward(body: ByteBuffer(bytes: body), headers: headers)
                    return Answer(status: Int(reply.status.code), body: "", upstream: reply)
                } catch {
                    return Answer(
                        status: error.status, body: APIResponse.failure(id: parsed?.id, error.exception).serialized)
                }
            }
            if !parsed.calls.allSatisfy(Gateway.owns) {
                return await answerMixed(parsed, token: parsed.token ?? headerToken, headers: headers, gateway: gateway)
            }
        }
        let request: APIRequest
        do {
            request = try read.get()
        } catch let error as JSONParseError {
            logger.info("rejected request: invalid JSON", metadata: ["reason": "\(error)"])
            return Answer(status: 400, body: APIResponse.failure(.user("Invalid JSON: \(error)")).serialized)
        } catch let exception as APIException {
            logger.info("rejected request", metadata: ["reason": "\(exception.message)"])
            return Answer(status: 400, body: APIResponse.failure(exception).serialized)
        } catch {
            return Answer(status: 400, body: APIResponse.failure(.user("Unreadable request")).serialized)
        }
        var key: IdempotencyKey?
        if let idempotencyKey {
            guard idempotencyKey.utf8.count <= Self.maxIdempotencyKeyBytes else {
                logger.info("rejected request: Idempotency-Key too long")
                let exception = APIException.user("Idempotency-Key longer than \(Self.maxIdempotencyKeyBytes) bytes")
                return Answer(status: 400, body: APIResponse.failure(id: request.id, exception).serialized)
            }
            key = IdempotencyKey(value: idempotencyKey, bodyHash: Secrets.hash(bytes: body))
        }
        return await answer(request, token: request.token ?? headerToken, idempotencyKey: key)
    }

    /// Answers a `{"request"}` frame of `/stream`: in gateway mode, calls the relay does not own are
    /// BIMserver's (as on BIMserver's own `/stream`).
    func answerFrame(_ request: APIRequest) async -> String {
        if let gateway, !request.calls.allSatisfy(Gateway.owns) {
            return await answerMixed(request, token: request.token, headers: [:], gateway: gateway).body
        }
        return await answer(request, token: request.token).body
    }

    /// Gateway mode: an envelope with calls for BIMserver, alone or mixed with calls the relay owns.
    /// Consecutive calls of one side run together (the relay's in one transaction, BIMserver's in
    /// one envelope), in order, and the replies are joined in the calls' order.
    private func answerMixed(_ request: APIRequest, token: String?, headers: HTTPFields, gateway: Gateway) async
        -> Answer
    {
        var elements: [JSONValue] = []
        var start = 0
        while start < request.calls.count {
            let owned = Gateway.owns(request.calls[start])
            var end = start + 1
            while end < request.calls.count, Gateway.owns(request.calls[end]) == owned { end += 1 }
            let segment = Array(request.calls[start..<end])
            if owned {
                let part = APIRequest(id: nil, token: request.token, calls: segment, isMulti: true)
                let answer = await answer(part, token: token)
                let reply = try? JSONValue.parse(answer.body)
                elements +=
                    reply?["responses"]?.arrayValue
                    ?? Array(repeating: reply?["response"] ?? .emptyObject, count: segment.count)
            } else {
                let calls = segment.compactMap { try? $0.get() }
                elements += await gateway.forward(calls, token: request.token, caller: token, headers: headers)
            }
            start = end
        }
        let reply =
            request.isMulti
            ? APIResponse.multi(id: request.id, elements: elements)
            : APIResponse.single(id: request.id, element: elements.first ?? .emptyObject)
        return Answer(status: 200, body: reply.serialized)
    }

    /// The credential `token` stands for: a relay token, or (gateway mode) a BIMserver token that
    /// BIMserver confirms.
    func credential(for token: String) async throws -> TokenRecord? {
        let confirmed = try await gateway?.identities.prepare(token) ?? false
        return try await storage.read { tx in
            if confirmed { return try tx.tokens.upstream(hash: Secrets.hash(token: token)) }
            return try tx.tokens.authenticate(token: token)
        }
    }

    /// Gateway mode: BIMserver's word on the envelope's token, and on the projects its registrations name.
    private func upstreamRights(_ request: APIRequest, token: String?) async throws(Upstream.Failure) -> UpstreamRights
    {
        guard let gateway, let token else { return UpstreamRights() }
        return try await gateway.rights(for: request, token: token, storage: storage)
    }

    /// Answers a parsed envelope.
    func answer(_ request: APIRequest, token: String?, idempotencyKey: IdempotencyKey? = nil) async -> Answer {
        let rights: UpstreamRights
        do {
            rights = try await upstreamRights(request, token: token)
        } catch {
            return Answer(status: error.status, body: APIResponse.failure(id: request.id, error.exception).serialized)
        }
        let writes = request.calls.contains { call in
            guard case .success(let call) = call, let interface = RelayInterface(name: call.interface) else {
                return false
            }
            return ServiceCatalog.method(interface, call.method)?.writes ?? false
        }
        let now = time.now()
        do {
            if writes {
                // One call needs no savepoint of its own: the job's savepoint is the call's, and a
                // failed call is rolled back by throwing its reply out of the job.
                let single = !request.isMulti
                let write = { @Sendable () async throws -> (String, CallContext?) in
                    try await self.storage.write(ingest: true) { tx in
                        var context = try self.context(tx: tx, token: token, now: now, rights: rights)
                        // A key counts only for an authenticated caller, and only within its own keys.
                        let scope = try idempotencyKey.flatMap { _ in
                            try self.idempotencyScope(request, tx: tx, context: context)
                        }
                        if let idempotencyKey, let scope,
                            let first = try tx.ingest.idempotentResponse(tokenID: scope, key: idempotencyKey.value)
                        {
                            guard Secrets.constantTimeEquals(first.bodyHash, idempotencyKey.bodyHash) else {
                                throw FailedCall(
                                    body: APIResponse.failure(
                                        id: request.id,
                                        .user(
                                            "Idempotency-Key was first used with another request; nothing was written")
                                    ).serialized)
                            }
                            return (first.response, CallContext?.none)
                        }
                        let (reply, failed, succeeded) = try self.run(
                            request, tx: tx, context: &context, savepoints: !single)
                        let body = reply.serialized
                        if single && failed { throw FailedCall(body: body) }
                        // Only an answer that wrote something is worth replaying; a refused request stores nothing.
                        if let idempotencyKey, let scope, succeeded {
                            try tx.ingest.storeIdempotentResponse(
                                tokenID: scope, key: idempotencyKey.value, bodyHash: idempotencyKey.bodyHash,
                                response: body, now: now)
                        }
                        return (body, context)
                    }
                }
                // Two relays' transactions on a shared database can deadlock; the one PostgreSQL
                // gives up rolled back whole, and is written again (a few times at most).
                var attempt = 0
                var written: (String, CallContext?)?
                while written == nil {
                    do {
                        written = try await write()
                    } catch let error as RelayError where error.isContention && attempt < 3 {
                        attempt += 1
                        logger.notice(
                            "a write met another relay's transaction; trying again", metadata: ["attempt": "\(attempt)"]
                        )
                        try? await time.sleep(for: .milliseconds(10 * attempt))
                    }
                }
                let (body, effects) = written!
                if let effects {
                    for method in effects.ingested { metrics.eventIngested(method.rawValue) }
                }
                return Answer(status: 200, body: body)
            }
            let body = try await storage.read { tx in
                var context = try self.context(tx: tx, token: token, now: now, rights: rights)
                return try self.run(request, tx: tx, context: &context, savepoints: false).reply.serialized
            }
            return Answer(status: 200, body: body)
        } catch let failed as FailedCall {
            return Answer(status: 200, body: failed.body)
        } catch {
            logger.error("request failed in the database", metadata: ["error": "\(error)"])
            let failure = APIException.server("The relay could not store the request; nothing was accepted")
            return Answer(status: 500, body: APIResponse.failure(id: request.id, failure).serialized)
        }
    }

    private func context(
        tx: any StoreTransaction, token: String?, now: Date, rights: UpstreamRights
    ) throws -> CallContext {
        var context = CallContext(
            now: now, credential: nil, configuration: configuration, upstreamRights: rights)
        context.credential = try token.flatMap { try context.authenticate(tx, token: $0) }
        return context
    }

    /// The reply of a single call that failed, thrown out of its write job so that the job's
    /// savepoint rolls back whatever the call wrote before it failed.
    private struct FailedCall: Error {
        let body: String
    }

    /// The token whose `Idempotency-Key`s a request uses: the envelope's, or else the one `userToken`
    /// its RemoteServiceInterface calls carry (BIMserver's credential); nil when unauthenticated.
    private func idempotencyScope(_ request: APIRequest, tx: any StoreTransaction, context: CallContext) throws
        -> Int64?
    {
        if let credential = context.credential { return credential.id }
        let userTokens = Set(
            request.calls.compactMap { call -> String? in
                guard case .success(let call) = call, RelayInterface(name: call.interface) == .remoteService else {
                    return nil
                }
                return call.parameters?["userToken"]?.stringValue
            })
        guard userTokens.count == 1, let token = userTokens.first, !token.isEmpty else { return nil }
        return try context.authenticate(tx, token: token)?.id
    }

    /// Runs every call and builds the reply; an invalid envelope token fails every call.
    /// - Returns: the reply, whether any call failed, and whether any succeeded.
    /// Runs the request's calls; a call's error becomes its exception reply, except a database
    /// contention (``RelayError/isContention``), which fails the whole request so that it can be
    /// written again in a new transaction.
    private func run(
        _ request: APIRequest, tx: any StoreTransaction, context: inout CallContext, savepoints: Bool
    ) throws(RelayError) -> (reply: JSONValue, failed: Bool, succeeded: Bool) {
        let tokenRefused = request.token != nil && context.credential == nil
        var outcomes: [Result<JSONValue, APIException>] = []
        for call in request.calls {
            if tokenRefused {
                outcomes.append(.failure(.invalidToken()))
                continue
            }
            switch call {
            case .success(let call):
                outcomes.append(try perform(call, tx: tx, context: &context, savepoint: savepoints))
            case .failure(let exception): outcomes.append(.failure(exception))
            }
        }
        let reply =
            request.isMulti
            ? APIResponse.multi(id: request.id, outcomes) : APIResponse.single(id: request.id, outcomes[0])
        let failures = outcomes.count { if case .failure = $0 { true } else { false } }
        return (reply, failures > 0, failures < outcomes.count)
    }

    private func perform(
        _ call: APICall, tx: any StoreTransaction, context: inout CallContext, savepoint: Bool
    ) throws(RelayError) -> Result<JSONValue, APIException> {
        guard let interface = RelayInterface(name: call.interface) else {
            return .failure(.user("No service found with name \(call.interface)"))
        }
        guard let method = ServiceCatalog.method(interface, call.method), let handler = handlers[interface] else {
            return .failure(.user("Method \(call.method) not found on \(interface.rawValue)"))
        }
        do {
            try Parameters(call).requireObject(count: method.parameters.count)
            var result = JSONValue.null
            if savepoint {
                var inner = context
                try tx.nested {
                    result = try handler.handle(call, tx: tx, context: &inner)
                }
                context = inner
            } else {
                result = try handler.handle(call, tx: tx, context: &context)
            }
            return .success(result)
        } catch let exception as APIException {
            logger.info("call refused", metadata: ["method": "\(call.method)", "reason": "\(exception.message)"])
            return .failure(exception)
        } catch let error as RelayError where error.isContention {
            throw error
        } catch let error as RelayError {
            logger.info("call refused", metadata: ["method": "\(call.method)", "reason": "\(error.message)"])
            return .failure(
                error.isInvalidToken
                    ? .invalidToken(error.message)
                    : error.isEndpointNotFound
                        ? APIException(message: error.message, errorCode: .endpointNotFound) : .user(error.message))
        } catch {
            logger.error("call failed", metadata: ["method": "\(call.method)", "error": "\(error)"])
            return .failure(.server("Internal error while running \(call.method)"))
        }
    }
}
