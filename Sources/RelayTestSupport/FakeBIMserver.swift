import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import RelayCore
import ServiceLifecycle
import Synchronization

/// A BIMserver stand-in for gateway tests: a real HTTP and WebSocket server on 127.0.0.1 that
/// answers the calls the relay makes (and passes on) the way BIMserver does — `AuthInterface.login`,
/// `getLoggedInUser`, `logout`, `AdminInterface.getServerInfo`, `ServiceInterface.getAllProjects`,
/// `getProjectByPoid`, `getRevision` — and streams downloads over `/stream`
/// (`{"action":"download","topicId":N}` → binary messages `[topicId LE][0 LE][data]`, then
/// `[topicId LE][1 LE]`). Any other call is answered with an echo of itself, in a body whose
/// spacing no JSON serializer would reproduce, so that byte-identical forwarding can be checked;
/// any `GET` is answered `BIMserver served <path>`.
public final class FakeBIMserver: Sendable {
    /// A user account.
    public struct User: Sendable {
        public var password: String
        public var oid: Int64
        /// `ADMIN` or `USER`.
        public var userType: String
        /// Projects the user has rights on.
        public var projects: Set<Int64>
    }

    /// One call as it arrived.
    public struct Call: Sendable {
        public let interface: String
        public let method: String
        public let token: String?
        /// The HTTP headers of the request it came in (lowercased names).
        public let headers: [String: String]
    }

    private struct State {
        var users: [String: User] = [:]
        /// token → user name, and whether it is a service's callback token.
        var tokens: [String: (user: String, callback: Bool)] = [:]
        var projects: [Int64: String] = [:]
        /// Subproject → parent.
        var parents: [Int64: Int64] = [:]
        var revisions: [Int64: Int64] = [:]
        var calls: [Call] = []
        var downloads: [Int64: [ByteBuffer]] = [:]
        var failing: String?
        /// BIMserver's own endpoints (from 500, so they differ from the relay's), and what they hear.
        var nextEndpoint: Int64 = 499
        var endpoints: [Int64: AsyncStream<WebSocketOutboundWriter.OutboundFrame>.Continuation] = [:]
        var progressHandlers: [Int64: Set<Int64>] = [:]
    }

    private let state = Mutex(State())
    private let running = Mutex<(ServiceGroup, Task<Void, any Error>)?>(nil)
    /// The bound port.
    public private(set) nonisolated(unsafe) var port = 0

    /// `http://127.0.0.1:<port>`.
    public var url: String { "http://127.0.0.1:\(port)" }

    private init() {}

    /// Starts on a free port with `projects` (poid → name).
    public static func start(projects: [Int64: String] = [:]) async throws -> FakeBIMserver {
        let server = FakeBIMserver()
        server.state.withLock { $0.projects = projects }
        server.port = try await server.listen()
        return server
    }

    /// Adds a user with rights on `projects`.
    public func addUser(
        _ name: String, password: String, projects: Set<Int64> = [], admin: Bool = false
    ) {
        state.withLock { state in
            state.users[name] = User(
                password: password, oid: Int64(state.users.count + 1) * 65_539, userType: admin ? "ADMIN" : "USER",
                projects: projects)
        }
    }

    /// Adds a subproject of `parent`: rights on the parent reach it (as BIMserver's
    /// `hasRightsOnProjectOrSuperProjects`), but `getAllProjects` lists only projects a user was given.
    public func addProject(_ poid: Int64, name: String, parent: Int64) {
        state.withLock { state in
            state.projects[poid] = name
            state.parents[poid] = parent
        }
    }

    /// Adds revision `roid` to project `poid`.
    public func addRevision(_ roid: Int64, project poid: Int64) {
        state.withLock { $0.revisions[roid] = poid }
    }

    /// A token for `user`, as `login` would give.
    public func mintToken(for user: String) -> String {
        let token = Self.newToken()
        state.withLock { $0.tokens[token] = (user, false) }
        return token
    }

    /// A callback token for a service of `user`, as BIMserver puts in `newRevision`'s `token`:
    /// `getLoggedInUser` accepts it, `getAllProjects` refuses it.
    public func mintCallbackToken(for user: String) -> String {
        let token = Self.newToken()
        state.withLock { $0.tokens[token] = (user, true) }
        return token
    }

    /// Makes `token` invalid, as a logout or an expiry does.
    public func revoke(_ token: String) {
        _ = state.withLock { $0.tokens.removeValue(forKey: token) }
    }

    /// What `{"action":"download","topicId":topicID}` streams: each buffer after the 16-byte header.
    public func setDownload(topicID: Int64, parts: [[UInt8]]) {
        state.withLock { $0.downloads[topicID] = parts.map { ByteBuffer(bytes: $0) } }
    }

    /// Pushes progress of one of BIMserver's own topics to the endpoints registered for it, as
    /// BIMserver's JsonWebsocketReflector does; returns how many endpoints it reached.
    @discardableResult
    public func pushProgress(topicID: Int64, progress: Int) -> Int {
        let targets = state.withLock { state in
            (state.progressHandlers[topicID] ?? []).compactMap { state.endpoints[$0] }
        }
        let frame =
            #"{"request":{"interface":"NotificationInterface","method":"progress","parameters":{"topicId":\#(topicID),"state":{"__type":"SLongActionState","progress":\#(progress),"state":"STARTED"}}}}"#
        for target in targets { target.yield(.text(frame)) }
        return targets.count
    }

    private func download(_ topicID: Int64, _ send: AsyncStream<WebSocketOutboundWriter.OutboundFrame>.Continuation) {
        for part in state.withLock({ $0.downloads[topicID] }) ?? [] {
            var buffer = ByteBuffer()
            buffer.writeInteger(topicID, endianness: .little)
            buffer.writeInteger(Int64(0), endianness: .little)
            buffer.writeImmutableBuffer(part)
            send.yield(.binary(buffer))
        }
        var end = ByteBuffer()
        end.writeInteger(topicID, endianness: .little)
        end.writeInteger(Int64(1), endianness: .little)
        send.yield(.binary(end))
    }

    /// Makes `method` fail with a `ServerException` (nil: nothing fails).
    public func fail(_ method: String?) {
        state.withLock { $0.failing = method }
    }

    /// Every call received, in order.
    public var calls: [Call] { state.withLock { $0.calls } }

    /// Calls of `method` received so far.
    public func count(_ method: String) -> Int {
        state.withLock { $0.calls.count { $0.method == method } }
    }

    /// Stops listening (connections are then refused).
    public func stop() async {
        guard
            let (group, task) = running.withLock({ running in
                defer { running = nil }
                return running
            })
        else {
            return
        }
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }

    private static func newToken() -> String {
        (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    private func listen() async throws -> Int {
        let router = Router()
        router.post("/json") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 16 << 20)
            let headers = Dictionary(
                request.headers.map { ($0.name.rawName.lowercased(), $0.value) },
                uniquingKeysWith: { first, _ in first })
            let reply = self.answer(Array(body.readableBytesView), headers: headers)
            return Response(
                status: .ok, headers: [.contentType: "application/json; charset=UTF-8", .setCookie: "JSESSIONID=fake"],
                body: .init(byteBuffer: ByteBuffer(string: reply)))
        }
        // BIMserver's servlets and static files (`/download`, BIMvie.ws): says which path it served.
        router.get("**") { request, _ -> String in "BIMserver served \(request.uri.path)" }
        let sockets = Router(context: BasicWebSocketRequestContext.self)
        sockets.ws("/stream") { inbound, outbound, _ in
            // One writer: replies, downloads and pushed progress all go through this stream.
            let (frames, send) = AsyncStream<WebSocketOutboundWriter.OutboundFrame>.makeStream()
            send.yield(.text(#"{"welcome":\#(Int64(Date().timeIntervalSince1970 * 1000))}"#))
            var endpoint: Int64?
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { for await frame in frames { try await outbound.write(frame) } }
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = message, let frame = try? JSONValue.parse(text) else { continue }
                    if frame["action"]?.stringValue == "download", let topicID = frame["topicId"]?.intValue {
                        self.download(topicID, send)
                    } else if let token = frame["token"]?.stringValue, endpoint == nil,
                        self.state.withLock({ $0.tokens[token] }) != nil
                    {
                        let id = self.state.withLock { state in
                            state.nextEndpoint += 1
                            state.endpoints[state.nextEndpoint] = send
                            return state.nextEndpoint
                        }
                        endpoint = id
                        send.yield(.text(#"{"type":"endpoint","payload":{"endpointid":\#(id)},"endpointid":\#(id)}"#))
                    }
                }
                if let endpoint { _ = self.state.withLock { $0.endpoints.removeValue(forKey: endpoint) } }
                send.finish()
                group.cancelAll()
            }
        }
        let logger = Logger(label: "fake-bimserver") { _ in SwiftLogNoOpLogHandler() }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: sockets, configuration: .init(maxFrameSize: 4 << 20)),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task { try await group.run() }
        running.withLock { $0 = (group, task) }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw PollTimeout(what: "the fake BIMserver to listen") }
        return bound
    }

    /// BIMserver's reply to one `/json` body.
    private func answer(_ body: [UInt8], headers: [String: String]) -> String {
        guard let json = try? JSONValue.parse(body), let request = try? APIRequest.parse(json) else {
            return #"{"response":{"exception":{"__type":"UserException","message":"Unreadable request"}}}"#
        }
        let elements = request.calls.map { call -> String in
            guard case .success(let call) = call else {
                return #"{"exception":{"__type":"UserException","message":"Bad request"}}"#
            }
            state.withLock {
                $0.calls.append(
                    Call(interface: call.interface, method: call.method, token: request.token, headers: headers))
            }
            return element(call, token: request.token)
        }
        if request.isMulti { return #"{"responses":[\#(elements.joined(separator: ","))]}"# }
        // Odd spacing on purpose: a reply re-serialized by the relay would lose it.
        return #"{ "response" :  \#(elements[0]) }"#
    }

    /// Rights on the project or one of its ancestors.
    private func mayRead(_ user: User, _ poid: Int64) -> Bool {
        if user.userType == "ADMIN" { return true }
        var current: Int64? = poid
        while let project = current {
            if user.projects.contains(project) { return true }
            current = state.withLock { $0.parents[project] }
        }
        return false
    }

    private func element(_ call: APICall, token: String?) -> String {
        func result(_ value: JSONValue) -> String { JSONValue.object([("result", value)]).serialized }
        func exception(_ type: String, _ message: String) -> String {
            JSONValue.object([
                ("exception", .object([("__type", .string(type)), ("message", .string(message))]))
            ]).serialized
        }
        let interface = call.interface.split(separator: ".").last.map(String.init) ?? call.interface
        let parameters = call.parameters ?? .emptyObject
        if state.withLock({ $0.failing }) == call.method { return exception("ServerException", "Database error") }
        switch (interface, call.method) {
        case ("AdminInterface", "getServerInfo"):
            return result(.object([("__type", "SServerInfo"), ("serverState", "RUNNING")]))
        case ("AuthInterface", "login"):
            let name = parameters["username"]?.stringValue ?? ""
            let password = parameters["password"]?.stringValue ?? ""
            guard let user = state.withLock({ $0.users[name] }), user.password == password else {
                return exception("UserException", "Invalid username/password combination")
            }
            return result(.string(mintToken(for: name)))
        default:
            break
        }
        // Everything else needs a valid token.
        guard let token, let (name, callback) = state.withLock({ $0.tokens[token] }),
            let user = state.withLock({ $0.users[name] })
        else {
            return exception("AuthenticationException", "Invalid token")
        }
        switch (interface, call.method) {
        case ("AuthInterface", "getLoggedInUser"):
            return result(
                .object([
                    ("__type", "SUser"), ("oid", .int(user.oid)), ("name", .string(name)),
                    ("username", .string(name)), ("userType", .string(user.userType)), ("state", "ACTIVE"),
                ]))
        case ("AuthInterface", "logout"):
            revoke(token)
            return result(.emptyObject)
        case ("ServiceInterface", "getAllProjects"):
            guard !callback else {
                return exception(
                    "UserException", "Real authentication required (this session has token authentication)")
            }
            let projects = state.withLock { $0.projects }.filter {
                user.userType == "ADMIN" || user.projects.contains($0.key)
            }
            return result(
                .array(
                    projects.sorted { $0.key < $1.key }.map { poid, projectName in
                        .object([
                            ("__type", "SProject"), ("oid", .int(poid)), ("name", .string(projectName)),
                            ("parentId", -1),
                        ])
                    }))
        case ("ServiceInterface", "getProjectByPoid"):
            let poid = parameters["poid"]?.intValue ?? -1
            guard let projectName = state.withLock({ $0.projects[poid] }) else {
                return exception("UserException", "Project with oid \(poid) does not exist")
            }
            guard mayRead(user, poid) else {
                return exception("UserException", "User '\(name)' has no rights on this project")
            }
            return result(.object([("__type", "SProject"), ("oid", .int(poid)), ("name", .string(projectName))]))
        case ("NotificationRegistryInterface", "registerProgressHandler"):
            let topicID = parameters["topicId"]?.intValue ?? -1
            let endpoint = parameters["endPointId"]?.intValue ?? -1
            guard state.withLock({ $0.endpoints[endpoint] }) != nil else {
                return exception("UserException", "Endpoint not found")
            }
            state.withLock { _ = $0.progressHandlers[topicID, default: []].insert(endpoint) }
            return result(.emptyObject)
        case ("ServiceInterface", "getRevision"):
            let roid = parameters["roid"]?.intValue ?? -1
            guard let poid = state.withLock({ $0.revisions[roid] }) else {
                return exception("UserException", "Revision with oid \(roid) not found")
            }
            guard mayRead(user, poid) else {
                return exception("UserException", "User '\(name)' has no rights on this project")
            }
            return result(.object([("__type", "SRevision"), ("oid", .int(roid)), ("projectId", .int(poid))]))
        default:
            return #"{"result" : {"echo":\#(call.json.serialized), "user":\#(JSONValue.string(name).serialized)}}"#
        }
    }
}
