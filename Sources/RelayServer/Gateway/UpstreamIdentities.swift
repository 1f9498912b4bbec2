import Foundation
import Logging
import RelayCore
import RelayStore
import Synchronization

/// Gateway mode: BIMserver's tokens accepted wherever a relay token is, with BIMserver as the
/// judge. A token that is not a relay token is sent to BIMserver (`AuthInterface.getLoggedInUser`);
/// its answer is trusted for `--upstream-auth-cache`, then asked again, so a token BIMserver
/// stops accepting is refused within that time.
///
/// A confirmed token gets a `tokens` row (origin `bimserver` or `callback`, stored as its SHA-256
/// like every token) that gives it an id and a project scope: a user's scope is the projects
/// BIMserver lists for it (`ServiceInterface.getAllProjects`), a callback token's the project of
/// the notification it came with. Before a BIMserver user is registered for a project's or a
/// revision's notifications, BIMserver is asked whether the user may read it.
final class UpstreamIdentities: Sendable {
    /// What BIMserver said about one token, and until when it holds.
    private struct Entry {
        enum Verdict {
            /// A relay token: nothing to ask BIMserver (the database still checks revocation).
            case relay
            /// BIMserver accepts it.
            case confirmed
            /// BIMserver refused it.
            case refused
        }

        let verdict: Verdict
        let until: ContinuousClock.Instant
        /// Projects BIMserver said the token may read (nil) or not (the exception), checked within `until`.
        var projects: [Int64: APIException?] = [:]
        /// The project of a revision, or why BIMserver would not say.
        var revisions: [Int64: Result<Int64, APIException>] = [:]
    }

    /// The exception types with which BIMserver refuses a token (`AuthenticationException` is its
    /// usual one); any other (a `ServerException`) is BIMserver failing, not a verdict.
    static let refusals: Set<String> = ["AuthenticationException", "UserException", "InvalidTokenException"]

    /// Entries kept before the cache starts over.
    static let capacity = 10_000

    let upstream: Upstream
    private let cacheTime: Duration
    private let storage: any RelayStorage
    private let logger: Logger
    private let entries = Mutex<[String: Entry]>([:])
    /// Questions under way, by token hash: callers asking about the same token at once share one.
    private let asking = Mutex<[String: Task<Bool, any Error>]>([:])

    init(upstream: Upstream, cacheTime: Duration, storage: any RelayStorage, logger: Logger) {
        self.upstream = upstream
        self.cacheTime = cacheTime
        self.storage = storage
        self.logger = logger
    }

    private func fresh(_ hash: String) -> Entry? {
        entries.withLock { entries in
            guard let entry = entries[hash], entry.until > .now else { return nil }
            return entry
        }
    }

    private func store(_ hash: String, _ entry: Entry) {
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[hash] = entry
        }
    }

    /// Makes sure BIMserver's word on `token` is recent: a relay token needs none; any other is
    /// asked about now unless it was within the cache time. A token BIMserver refuses is remembered
    /// as refused for the same time.
    /// - Returns: whether BIMserver accepts the token (false for relay tokens).
    @discardableResult
    func prepare(_ token: String) async throws(Upstream.Failure) -> Bool {
        let hash = Secrets.hash(token: token)
        if let entry = fresh(hash) { return entry.verdict == .confirmed }
        let question = asking.withLock { asking in
            if let running = asking[hash] { return running }
            let task = Task {
                defer { _ = self.asking.withLock { $0.removeValue(forKey: hash) } }
                return try await self.ask(token, hash: hash)
            }
            asking[hash] = task
            return task
        }
        do {
            return try await question.value
        } catch let failure as Upstream.Failure {
            throw failure
        } catch {
            throw Upstream.Failure(reason: "\(error)", timedOut: false)
        }
    }

    /// Asks BIMserver about `token` and records the answer.
    private func ask(_ token: String, hash: String) async throws(Upstream.Failure) -> Bool {
        let isRelayToken =
            (try? await storage.read { tx in try tx.tokens.authenticate(token: token) }) != nil
        let until = ContinuousClock.now.advanced(by: cacheTime)
        if isRelayToken {
            store(hash, Entry(verdict: .relay, until: until))
            return false
        }
        let user: JSONValue
        switch try await upstream.call("AuthInterface", "getLoggedInUser", [], token: token) {
        case .success(let answer):
            user = answer
        case .failure(let exception) where Self.refusals.contains(exception.type):
            logger.info("BIMserver refused a token", metadata: ["token": "\(hash.prefix(Secrets.visiblePrefixLength))"])
            store(hash, Entry(verdict: .refused, until: until))
            return false
        case .failure(let exception):
            // BIMserver failed (a ServerException): no verdict on the token, nothing cached.
            throw Upstream.Failure(reason: "getLoggedInUser failed with \(exception.type)", timedOut: false)
        }
        guard let username = user["username"]?.stringValue ?? user["name"]?.stringValue, !username.isEmpty else {
            throw Upstream.Failure(reason: "getLoggedInUser answered no user name", timedOut: false)
        }
        let known = try? await storage.read { tx in try tx.tokens.upstream(hash: hash) }
        // A user's scope is always an explicit list (BIMserver lists every project for its admins),
        // never "all": a token whose callback row is gone must not become a token for everything.
        // Callback tokens may not list projects ("Real authentication required"): theirs is the
        // notification's project, stored when it was ingested, and kept.
        let projects = known?.origin == .callback ? [] : try await scope(token, previous: known?.projectIDs ?? [])
        do {
            try await storage.write { [projects] tx in
                try tx.tokens.recordUpstream(hash: hash, user: username, projects: projects, now: Date())
            }
        } catch {
            logger.error("could not record a BIMserver identity", metadata: ["error": "\(error)"])
            throw Upstream.Failure(reason: "the relay could not record the identity", timedOut: false)
        }
        store(hash, Entry(verdict: .confirmed, until: until))
        return true
    }

    /// The projects a BIMserver user may read: those BIMserver lists (with their direct
    /// subprojects, which rights on a parent reach), and those of `previous` that BIMserver still
    /// allows (projects it allowed at a registration without listing them).
    private func scope(_ token: String, previous: [Int64]) async throws(Upstream.Failure) -> [Int64] {
        let listed = try await upstream.call(
            "ServiceInterface", "getAllProjects", [("onlyTopLevel", false), ("onlyActive", true)], token: token)
        var scope = Set<Int64>()
        for project in (try? listed.get())?.arrayValue ?? [] {
            if let oid = project["oid"]?.intValue { scope.insert(oid) }
            scope.formUnion(project["subProjects"]?.arrayValue?.compactMap(\.intValue) ?? [])
        }
        for poid in Set(previous).subtracting(scope).sorted().prefix(Self.maxRecheckedProjects) {
            if try await refusal(token, project: poid) == nil { scope.insert(poid) }
        }
        return scope.sorted()
    }

    /// Projects of a user's previous scope asked about again at most, per check.
    static let maxRecheckedProjects = 100

    /// The refusal, if any, for `token` reading project `poid` (`ServiceInterface.getProjectByPoid`).
    func refusal(_ token: String, project poid: Int64) async throws(Upstream.Failure) -> APIException? {
        let hash = Secrets.hash(token: token)
        if let entry = fresh(hash), let known = entry.projects[poid] { return known }
        let answer = try await upstream.call(
            "ServiceInterface", "getProjectByPoid", [("poid", .int(poid))], token: token)
        let refusal: APIException? =
            switch answer {
            case .success: nil
            case .failure(let exception): APIException.user(exception.message)
            }
        entries.withLock { entries in entries[hash]?.projects[poid] = refusal }
        return refusal
    }

    /// The project of revision `roid` as `token` may see it (`ServiceInterface.getRevision`), or the refusal.
    func project(_ token: String, revision roid: Int64) async throws(Upstream.Failure) -> Result<Int64, APIException> {
        let hash = Secrets.hash(token: token)
        if let entry = fresh(hash), let known = entry.revisions[roid] { return known }
        let answer = try await upstream.call("ServiceInterface", "getRevision", [("roid", .int(roid))], token: token)
        let project: Result<Int64, APIException> =
            switch answer {
            case .success(let revision):
                revision["projectId"]?.intValue.map { .success($0) }
                    ?? .failure(.user("BIMserver did not say which project revision \(roid) is in"))
            case .failure(let exception): .failure(.user(exception.message))
            }
        entries.withLock { entries in entries[hash]?.revisions[roid] = project }
        return project
    }
}
