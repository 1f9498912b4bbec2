import Dispatch
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import RelayCore
import Synchronization

/// One PostgreSQL connection on a thread of its own, running jobs one after another.
///
/// The stores are synchronous, so a transaction's statements are sent and waited for on this
/// thread (never on an event loop or the cooperative pool). A lost connection is opened again
/// before the next job.
final class PostgresSession: Sendable {
    private struct Job: Sendable {
        let run: @Sendable (PostgresConnection) -> Void
        let fail: @Sendable (any Error) -> Void
    }

    private struct State {
        var jobs: [Job] = []
        var accepting = true
        var idle = false
    }

    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let label: String
    /// Runs on each new connection before its first job (session state such as advisory locks).
    private let prepare: @Sendable (PostgresConnection) throws -> Void
    private let state = Mutex(State())
    private let arrived = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    /// Touched only by the session's thread.
    private nonisolated(unsafe) var connection: PostgresConnection?

    init(
        configuration: PostgresConnection.Configuration, label: String, logger: Logger,
        prepare: @escaping @Sendable (PostgresConnection) throws -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.label = label
        self.logger = logger
        self.prepare = prepare
        let thread = Thread { [self] in self.loop() }
        thread.name = "bimrelay-\(label)"
        thread.start()
    }

    /// Runs `body` on the session's thread with its connection; returns what it returns.
    func submit<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job = Job(
                run: { connection in continuation.resume(with: Result { try body(connection) }) },
                fail: { error in continuation.resume(throwing: error) })
            let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
                guard state.accepting else { return (false, false) }
                state.jobs.append(job)
                defer { state.idle = false }
                return (true, state.idle)
            }
            if wake { arrived.signal() }
            if !accepted { continuation.resume(throwing: RelayError.database("the relay is shutting down")) }
        }
    }

    /// Refuses new jobs, lets the submitted ones finish, closes the connection; returns when done.
    func stop() async {
        let wake = state.withLock { state -> Bool in
            state.accepting = false
            defer { state.idle = false }
            return state.idle
        }
        if wake { arrived.signal() }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.stopped.wait()
                self.stopped.signal()
                done.resume()
            }
        }
    }

    private func loop() {
        while true {
            enum Next {
                case run(Job)
                case sleep, stop
            }
            let next = state.withLock { state -> Next in
                if !state.jobs.isEmpty { return .run(state.jobs.removeFirst()) }
                guard state.accepting else { return .stop }
                state.idle = true
                return .sleep
            }
            switch next {
            case .run(let job):
                do {
                    job.run(try open())
                } catch {
                    logger.error(
                        "PostgreSQL connection failed", metadata: ["session": "\(label)", "error": "\(error)"])
                    job.fail(PostgresStorage.translate(error, location: "PostgreSQL"))
                }
            case .sleep: arrived.wait()
            case .stop:
                try? connection?.close().wait()
                connection = nil
                stopped.signal()
                return
            }
        }
    }

    /// The session's connection, opened (again) when there is none or it closed.
    private func open() throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        let opened = try PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 1, logger: logger
        ).wait()
        do {
            try prepare(opened)
        } catch {
            try? opened.close().wait()
            throw error
        }
        connection = opened
        return opened
    }
}
