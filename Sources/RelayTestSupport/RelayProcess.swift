import Foundation
import RelayHarness

/// A real `bimrelay serve` child process on 127.0.0.1 and a free port, for end-to-end and crash tests.
public final class RelayProcess: @unchecked Sendable {
    /// The child process.
    public let process: ChildProcess
    /// The port it listens on.
    public let port: Int
    /// Where its standard error goes (read it after it stops).
    public let logPath: String

    /// `http://127.0.0.1:<port>`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(process: ChildProcess, port: Int, logPath: String) {
        self.process = process
        self.port = port
        self.logPath = logPath
    }

    /// A test that failed before stopping its relay does not leave it running.
    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }

    /// Starts `bimrelay serve --db database --port 0 extraArguments…` and waits until it listens.
    public static func start(
        database: String, arguments extraArguments: [String] = [], environment: [String: String] = [:],
        timeout: Duration = .seconds(30)
    ) async throws -> RelayProcess {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: RelayExecutable.path)
        process.arguments = ["serve", "--db", database, "--host", "127.0.0.1", "--port", "0"] + extraArguments
        process.environment = RelayExecutable.cleanEnvironment.merging(environment) { _, new in new }
        // Next to an SQLite file; in the temporary folder for a PostgreSQL URL.
        let logBase =
            database.contains("://")
            ? FileManager.default.temporaryDirectory.appendingPathComponent("relay").path : database
        let logPath = logBase + ".\(UUID().uuidString.prefix(8)).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let out = Pipe()
        process.standardOutput = out
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()

        let reader = LineReader(handle: out.fileHandleForReading)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let line = try await reader.nextLine(until: deadline) else { break }
            if let range = line.range(of: "listening on http://127.0.0.1:"), let port = Int(line[range.upperBound...]) {
                reader.drainInBackground()
                return RelayProcess(process: process, port: port, logPath: logPath)
            }
        }
        process.terminate()
        let logText = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        throw StartError(message: "bimrelay serve did not start: \(logText)")
    }

    /// Sends SIGTERM and waits for the exit status.
    public func terminate() async -> Int32 {
        await stop(signal: SIGTERM)
    }

    /// Sends SIGKILL (a crash) and waits for it to die.
    public func kill() async {
        _ = await stop(signal: SIGKILL)
    }

    private func stop(signal: Int32) async -> Int32 {
        if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
        while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        return process.terminationStatus
    }

    /// Whether the process stopped because of a signal (not an exit).
    public var wasSignalled: Bool { process.terminationReason == .uncaughtSignal }

    /// What the process logged.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Why the relay did not start.
    public struct StartError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }
}

/// Reads lines from a pipe without blocking the cooperative pool.
final class LineReader: @unchecked Sendable {
    private let handle: FileHandle
    private var buffer = Data()
    private let lock = NSLock()
    private var lines: [String] = []
    private var finished = false

    init(handle: FileHandle) {
        self.handle = handle
        handle.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.append(data)
        }
    }

    private func append(_ data: Data) {
        lock.lock()
        defer { lock.unlock() }
        if data.isEmpty {
            finished = true
            handle.readabilityHandler = nil
            return
        }
        buffer.append(data)
        while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
            buffer.removeSubrange(buffer.startIndex...newline)
        }
    }

    func nextLine(until deadline: ContinuousClock.Instant) async throws -> String? {
        while ContinuousClock.now < deadline {
            let (line, done) = takeLine()
            if let line { return line }
            if done { return nil }
            try await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    private func takeLine() -> (String?, Bool) {
        lock.withLock { (lines.isEmpty ? nil : lines.removeFirst(), finished) }
    }

    /// Keeps reading (and dropping) output so the child never blocks on a full pipe.
    func drainInBackground() {
        lock.withLock { lines.removeAll() }
    }
}
