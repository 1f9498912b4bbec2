import Foundation
import RelayHarness

/// The result of running the `bimrelay` executable once.
public struct CommandResult: Sendable, CustomStringConvertible {
    /// The exit status.
    public let status: Int32
    /// Everything written to standard output.
    public let stdout: String
    /// Everything written to standard error.
    public let stderr: String

    public var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }

    /// Standard output parsed as JSON.
    public func json() throws -> Any {
        try JSONSerialization.jsonObject(with: Data(stdout.utf8))
    }

    /// Standard output parsed as a JSON object.
    public func jsonObject() throws -> [String: Any] {
        guard let object = try json() as? [String: Any] else { throw CommandError.notAnObject(stdout) }
        return object
    }

    /// Why a result could not be read as expected.
    public enum CommandError: Error { case notAnObject(String) }
}

/// Finds and runs the built `bimrelay` executable (the test runner sits beside it in the build folder).
public enum RelayExecutable {
    /// The path of the `bimrelay` binary of this build.
    public static var path: String {
        if let override = ProcessInfo.processInfo.environment["BIMRELAY_BINARY"] { return override }
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = runner.deletingLastPathComponent()
        // On Linux the runner is `<build>/bimrelayPackageTests.xctest`; on Darwin it is inside the bundle.
        while !FileManager.default.isExecutableFile(atPath: folder.appendingPathComponent("bimrelay").path),
            folder.path != "/"
        {
            folder = folder.deletingLastPathComponent()
        }
        return folder.appendingPathComponent("bimrelay").path
    }

    /// Runs `bimrelay arguments…` to completion with `environment` added to a clean environment.
    public static func run(
        _ arguments: [String], environment: [String: String] = [:], currentDirectory: URL? = nil
    ) async throws -> CommandResult {
        try await Subprocess.run(
            path, arguments, environment: cleanEnvironment.merging(environment) { _, new in new },
            currentDirectory: currentDirectory)
    }

    /// The parent environment without `BIMRELAY_*` settings, so tests see only what they set.
    public static var cleanEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BIMRELAY_") }
    }
}

/// Runs any program to completion and collects its output.
public enum Subprocess {
    /// Runs `executable arguments…` with exactly `environment`, its input empty.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String], currentDirectory: URL? = nil
    ) async throws -> CommandResult {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes while the process runs, so a large output cannot block it, on Dispatch
        // threads: a blocking read must not hold one of the few threads of Swift's task pool.
        async let stdout = readToEnd(out.fileHandleForReading)
        async let stderr = readToEnd(err.fileHandleForReading)
        let (outData, errData) = await (stdout, stderr)
        process.waitUntilExit()
        return CommandResult(
            status: process.terminationStatus,
            stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    private static func readToEnd(_ handle: FileHandle) async -> Data {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: ProcessLaunch.readToEnd(handle)) }
        }
    }

    /// The full path of `program` on `PATH`, or nil when it is not installed.
    public static func find(_ program: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let folders = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"]
        return folders.map { "\($0)/\(program)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

extension RelayExecutable {
    /// Issues a token with the CLI and returns it.
    public static func issueToken(db: String, user: String, role: String) async throws -> String {
        let result = try await run(["token", "issue", "--user", user, "--role", role, "--db", db])
        guard result.status == 0 else { throw CommandResult.CommandError.notAnObject("token issue failed: \(result)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Creates `relay.sqlite` in `folder` with the CLI and issues a producer token (user `bim`).
    public static func prepareDatabase(in folder: TemporaryDirectory) async throws -> (db: String, producer: String) {
        let db = folder.path("relay.sqlite")
        let migrated = try await run(["migrate", "--db", db])
        guard migrated.status == 0 else { throw CommandResult.CommandError.notAnObject("migrate failed: \(migrated)") }
        return (db, try await issueToken(db: db, user: "bim", role: "producer"))
    }
}

/// Reading child processes' pipes safely from many tests at once.
public enum ProcessLaunch {
    /// Everything until end of file; a read interrupted by a signal is read again
    /// (`readDataToEndOfFile()` stops the process on EINTR, a child exiting meanwhile sends SIGCHLD).
    public static func readToEnd(_ handle: FileHandle) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                data.append(contentsOf: buffer[0..<count])
            } else if count == 0 || errno != EINTR {
                return data
            }
        }
    }
}
