import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP port on 127.0.0.1 that was free a moment ago, for programs that cannot bind port 0
/// themselves and report it (nginx in the deploy test).
public func freeLocalPort() throws -> Int {
    let socket = try boundLocalSocket()
    defer { close(socket.fd) }
    return socket.port
}

/// A TCP port on 127.0.0.1 that refuses connections for as long as this value lives: a socket is
/// bound to it and never listens, so no other server of the test run can take the port over
/// (a port that was merely free may be handed to the next server started, and answer).
public final class ClosedLocalPort: Sendable {
    /// The port.
    public let port: Int
    private let fd: Int32

    /// Binds a socket to a free port without listening.
    public init() throws {
        (fd, port) = try boundLocalSocket()
    }

    deinit { close(fd) }
}

/// A socket bound to 127.0.0.1 and a free port (not listening), and that port.
private func boundLocalSocket() throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw PollTimeout(what: "a socket") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    guard bound == 0 else {
        close(fd)
        throw PollTimeout(what: "a free port")
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}
