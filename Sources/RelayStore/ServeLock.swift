import Foundation
import RelayCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One `bimrelay serve` per database: an exclusive `flock` on `<database>.lock`, held for the
/// process's life, with the holder's pid written in it.
///
/// Two relays on one file would each release the other's leases at start and deliver twice. The
/// lock file is separate from the database because SQLite's own (fcntl) locks on the database
/// are dropped when any descriptor of that file closes in the process.
public final class ServeLock: Sendable {
    /// The lock file.
    public let path: String
    private let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    /// Takes the lock of `databasePath`, or fails naming the database and the process that holds it.
    public static func acquire(databasePath: String) throws(RelayError) -> ServeLock {
        let path = databasePath + ".lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw .database("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.holder(descriptor)
            close(descriptor)
            throw .conflict(
                "database \(databasePath) is already served by another bimrelay serve"
                    + (holder.map { " (pid \($0))" } ?? "") + "; stop it first, or give this one another --db")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pid.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        return ServeLock(path: path, descriptor: descriptor)
    }

    /// The pid written by the process holding the lock, if readable.
    private static func holder(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
