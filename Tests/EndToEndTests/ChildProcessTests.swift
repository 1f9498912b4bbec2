import Foundation
import RelayHarness
import RelayTestSupport
import Synchronization
import Testing

/// The tests' and the bench's child processes (posix_spawn instead of Foundation's `Process.run()`,
/// which crashed the test process now and then: swiftlang/swift-corelibs-foundation#5472).
@Suite("Child processes")
struct ChildProcessTests {
    /// Runs `sh -c script` and returns its status and output.
    static func shell(
        _ script: String, environment: [String: String]? = nil, directory: URL? = nil
    ) throws -> (status: Int32, reason: ChildProcess.TerminationReason, output: String) {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        process.environment = environment
        process.currentDirectoryURL = directory
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = ProcessLaunch.readToEnd(output.fileHandleForReading)
        process.waitUntilExit()
        return (process.terminationStatus, process.terminationReason, String(decoding: data, as: UTF8.self))
    }

    @Test("exit status, output to the end, environment and working directory as given")
    func basics() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let run = try Self.shell(
            "echo \"$GREETING\"; pwd; exit 3", environment: ["GREETING": "hello"], directory: folder.url)
        #expect(run.status == 3 && run.reason == .exit)
        let realFolder = folder.url.resolvingSymlinksInPath().path
        #expect(run.output == "hello\n\(realFolder)\n" || run.output == "hello\n\(folder.url.path)\n", "\(run.output)")
    }

    @Test("a child killed by a signal says so; terminate() sends SIGTERM; the handler runs once")
    func signals() async throws {
        let killed = try Self.shell("kill -9 $$")
        #expect(killed.reason == .uncaughtSignal && killed.status == SIGKILL)
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["30"]
        let calls = Counter()
        process.terminationHandler = { _ in calls.add() }
        try process.run()
        #expect(process.isRunning && process.processIdentifier > 0)
        process.terminate()
        process.waitUntilExit()
        #expect(
            !process.isRunning && process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGTERM)
        try await poll(until: "the handler") { calls.value == 1 }
    }

    @Test("the child inherits no descriptor but its standard streams, so a pipe reaches its end when it exits")
    func noLeakedDescriptors() throws {
        let stray = Pipe()  // open in the parent, not close-on-exec
        defer { try? stray.fileHandleForWriting.close() }
        let run = try Self.shell("ls /proc/$$/fd")
        let descriptors = Set(run.output.split(separator: "\n").compactMap { Int($0) })
        #expect(!descriptors.contains(Int(stray.fileHandleForWriting.fileDescriptor)), "\(descriptors)")
        #expect(descriptors.isSuperset(of: [0, 1, 2]) && descriptors.count <= 4, "\(descriptors)")
    }

    @Test("hundreds of children, started from several tasks at once with many descriptors open")
    func many() async throws {
        let pipes = (0..<200).map { _ in Pipe() }  // a long /proc/self/fd, as in a busy test process
        defer { for pipe in pipes { try? pipe.fileHandleForWriting.close() } }
        try await withThrowingTaskGroup(of: Int32.self) { group in
            for index in 0..<300 {
                group.addTask { try Self.shell("exit \(index % 7)").status }
            }
            var total: Int32 = 0
            for try await status in group { total += status }
            #expect(total == (0..<300).reduce(0) { $0 + Int32($1 % 7) })
        }
    }
}

private final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
