import Foundation

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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = cleanEnvironment.merging(environment) { _, new in new }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes while the process runs, so a large output cannot block it.
        async let stdout = Task.detached { out.fileHandleForReading.readDataToEndOfFile() }.value
        async let stderr = Task.detached { err.fileHandleForReading.readDataToEndOfFile() }.value
        let (outData, errData) = await (stdout, stderr)
        process.waitUntilExit()
        return CommandResult(
            status: process.terminationStatus,
            stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    /// The parent environment without `BIMRELAY_*` settings, so tests see only what they set.
    static var cleanEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BIMRELAY_") }
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
