import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A child process started with `posix_spawn`: the part of Foundation's `Process` the tests and the
/// bench use, without `Process.run()`, which on Linux (Swift 6.3.1) now and then crashes the parent
/// (a 256-byte read past a `readdir` buffer in `findMaximumOpenFromProcSelfFD`,
/// swiftlang/swift-corelibs-foundation#5472, fixed after this toolchain).
///
/// The child gets the standard streams given (a `FileHandle`, a `Pipe`, or nil: this process's
/// own), no other descriptor of the parent, an empty signal mask and default signal handlers. The
/// parent closes its copy of a pipe's end handed to the child, as `Process` does, so reading the
/// other end sees the end of the output when the child exits.
public final class ChildProcess: @unchecked Sendable {
    /// How the child ended.
    public enum TerminationReason: Sendable, Equatable {
        case exit
        case uncaughtSignal
    }

    /// Failure to start.
    public struct SpawnError: Error, CustomStringConvertible {
        public let description: String
    }

    public var executableURL: URL?
    public var arguments: [String] = []
    /// The child's whole environment; nil: this process's.
    public var environment: [String: String]?
    public var currentDirectoryURL: URL?
    public var standardInput: Any?
    public var standardOutput: Any?
    public var standardError: Any?
    /// Called once, on a background thread, when the child has exited.
    public var terminationHandler: (@Sendable (ChildProcess) -> Void)?

    private struct State {
        var pid: pid_t = 0
        var status: Int32?
        var reason = TerminationReason.exit
    }

    private let state = Mutex(State())
    private let exited = DispatchGroup()

    public init() {}

    /// The child's process id (0 before ``run()``).
    public var processIdentifier: Int32 { state.withLock { $0.pid } }

    /// Whether the child was started and has not exited.
    public var isRunning: Bool { state.withLock { $0.pid != 0 && $0.status == nil } }

    /// The exit code, or the signal that ended the child (see ``terminationReason``).
    public var terminationStatus: Int32 { state.withLock { $0.status ?? 0 } }

    public var terminationReason: TerminationReason { state.withLock { $0.reason } }

    /// Starts the child.
    public func run() throws {
        guard let path = executableURL?.path else { throw SpawnError(description: "no executable") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, stream) in [(Int32(0), standardInput), (1, standardOutput), (2, standardError)] {
            guard let descriptor = Self.descriptor(stream, reading: target == 0) else { continue }
            posix_spawn_file_actions_adddup2(&actions, descriptor, target)
        }
        guard Self.closeFrom(&actions, 3) == 0 else { throw SpawnError(description: "closefrom refused") }
        if let directory = currentDirectoryURL?.path {
            guard Self.changeDirectory(&actions, directory) == 0 else {
                throw SpawnError(description: "chdir \(directory) refused")
            }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let environment = (self.environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw SpawnError(description: "\(path): \(String(cString: strerror(result)))")
        }
        // The child holds its ends of the pipes now; the parent's copies would keep them open.
        for (stream, reading) in [(standardInput, true), (standardOutput, false), (standardError, false)] {
            if let pipe = stream as? Pipe {
                try? (reading ? pipe.fileHandleForReading : pipe.fileHandleForWriting).close()
            }
        }
        state.withLock { $0.pid = pid }
        exited.enter()
        let child = pid
        let thread = Thread { [self] in
            var status: Int32 = 0
            while waitpid(child, &status, 0) == -1 && errno == EINTR {}
            // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import as functions.
            let signal = status & 0x7f
            state.withLock {
                $0.status = signal == 0 ? (status >> 8) & 0xff : signal
                $0.reason = signal == 0 ? .exit : .uncaughtSignal
            }
            terminationHandler?(self)
            exited.leave()
        }
        thread.start()
    }

    /// Sends SIGTERM.
    public func terminate() {
        let pid = processIdentifier
        if pid != 0, isRunning { kill(pid, SIGTERM) }
    }

    /// Blocks until the child has exited.
    public func waitUntilExit() {
        guard processIdentifier != 0 else { return }
        exited.wait()
    }

    private static func descriptor(_ stream: Any?, reading: Bool) -> Int32? {
        switch stream {
        case let handle as FileHandle: handle.fileDescriptor
        case let pipe as Pipe:
            reading ? pipe.fileHandleForReading.fileDescriptor : pipe.fileHandleForWriting.fileDescriptor
        default: nil
        }
    }

    // glibc's posix_spawn_file_actions_addclosefrom_np (2.34) and _addchdir_np (2.29), which the
    // Glibc module does not import.
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias ChangeDirectory =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    private static func closeFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ first: Int32)
        -> Int32
    {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else { return -1 }
        return unsafeBitCast(symbol, to: CloseFrom.self)(actions, first)
    }

    private static func changeDirectory(
        _ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: String
    ) -> Int32 {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np")
        else { return -1 }
        return path.withCString { unsafeBitCast(symbol, to: ChangeDirectory.self)(actions, $0) }
    }
}
