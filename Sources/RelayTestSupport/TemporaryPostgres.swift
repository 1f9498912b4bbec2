import Foundation
import RelayHarness
import Synchronization

/// A PostgreSQL server of the tests' own: `initdb` into a temporary folder, started on 127.0.0.1
/// and a free port (Debian's binaries under `/usr/lib/postgresql/15/bin`), stopped at exit. One
/// server per test process; each test takes a fresh database on it.
public final class TemporaryPostgres: Sendable {
    /// Where Debian puts the server's programs.
    public static let binaries = "/usr/lib/postgresql/15/bin"

    /// Why PostgreSQL tests cannot run here, nil when they can.
    public static var unavailableReason: String? {
        FileManager.default.isExecutableFile(atPath: "\(binaries)/initdb")
            ? nil : "PostgreSQL 15 is not installed (scripts/install-deps installs it)"
    }

    /// The port the server listens on.
    public let port: Int
    private let folder: TemporaryDirectory
    private let counter = Atomic<Int>(0)

    private init(port: Int, folder: TemporaryDirectory) {
        self.port = port
        self.folder = folder
    }

    /// Started once per test process, by the first test that asks.
    private static let server = Task<TemporaryPostgres, any Error> { try await start() }
    /// The data folder of the server to stop when the process exits.
    static let stopAtExit = Mutex<String?>(nil)

    /// The tests' server, started on first use.
    public static func shared() async throws -> TemporaryPostgres {
        try await server.value
    }

    private static func start() async throws -> TemporaryPostgres {
        if let reason = unavailableReason { throw SetupError(reason) }
        let folder = try TemporaryDirectory()
        // The server refuses to run as root: as root, run it as the package's `postgres` user.
        _ = chmod(folder.url.path, 0o777)
        let port = try freeLocalPort()
        let data = folder.path("data")
        try await run(["\(binaries)/initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync"])
        // The server runs as a child of this process, not daemonized by pg_ctl: Foundation learns
        // that a child ended when every process holding its status pipe has, and a daemon would
        // hold it for ever.
        let postgres = process([
            "\(binaries)/postgres", "-D", data, "-k", folder.url.path, "-c", "listen_addresses=127.0.0.1", "-p",
            "\(port)", "-c", "fsync=off",
        ])
        FileManager.default.createFile(atPath: folder.path("server.log"), contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: folder.path("server.log")))
        postgres.standardOutput = log
        postgres.standardError = log
        try postgres.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while (try? await run(["\(binaries)/pg_isready", "-q", "-h", "127.0.0.1", "-p", "\(port)"])) == nil {
            guard ContinuousClock.now < deadline, postgres.isRunning else {
                let text = (try? String(contentsOfFile: folder.path("server.log"), encoding: .utf8)) ?? ""
                throw SetupError("PostgreSQL did not start: \(text)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let server = TemporaryPostgres(port: port, folder: folder)
        stopAtExit.withLock { $0 = data }
        atexit {
            guard let data = TemporaryPostgres.stopAtExit.withLock({ $0 }) else { return }
            // At exit, nothing else runs: wait for pg_ctl in place.
            let process = TemporaryPostgres.process([
                "\(TemporaryPostgres.binaries)/pg_ctl", "-D", data, "-m", "immediate", "stop",
            ])
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try? process.run()
            process.waitUntilExit()
        }
        return server
    }

    /// A new, empty database on the server; its URL.
    public func newDatabase() async throws -> String {
        let name = "relay_\(ProcessInfo.processInfo.processIdentifier)_\(counter.add(1, ordering: .relaxed).newValue)"
        try await Self.run([
            "/usr/bin/psql", "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-q", "-c",
            "CREATE DATABASE \(name)",
        ])
        return "postgres://postgres@127.0.0.1:\(port)/\(name)"
    }

    /// Drops a database `newDatabase()` made.
    public func dropDatabase(_ url: String) async {
        guard let name = url.split(separator: "/").last else { return }
        try? await Self.run([
            "/usr/bin/psql", "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-q", "-c",
            "DROP DATABASE IF EXISTS \(name) WITH (FORCE)",
        ])
    }

    /// A process for `arguments`, run as the `postgres` user when this process is root (the
    /// server refuses to run as root).
    static func process(_ arguments: [String]) -> ChildProcess {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: getuid() == 0 ? "/usr/sbin/runuser" : arguments[0])
        process.arguments = getuid() == 0 ? ["-u", "postgres", "--"] + arguments : Array(arguments.dropFirst())
        process.standardInput = FileHandle.nullDevice
        return process
    }

    /// Runs a command and waits for it without holding a thread; throws with its output on failure.
    static func run(_ arguments: [String]) async throws {
        let process = process(arguments)
        // Output to a file, not a pipe: the server pg_ctl starts inherits it and would hold a pipe
        // open, so reading it to its end would never return.
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("pg-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let output = try FileHandle(forWritingTo: log)
        defer { try? output.close() }
        process.standardOutput = output
        process.standardError = output
        let status = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<Int32, any Error>) in
            process.terminationHandler = { process in continuation.resume(returning: process.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        guard status == 0 else {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw SetupError("\(arguments[0]) failed: \(text)")
        }
    }

    /// PostgreSQL could not be set up.
    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
