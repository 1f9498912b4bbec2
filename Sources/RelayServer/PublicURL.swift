import Synchronization

/// The relay's public URL: `--public-url` when set, else `http://host:<bound port>` once bound.
public final class PublicURL: Sendable {
    private let configured: String?
    private let host: String
    private let port = Mutex(0)

    init(configured: String?, host: String) {
        self.configured = configured
        self.host = host
    }

    func bound(port: Int) {
        self.port.withLock { $0 = port }
    }

    /// The URL BIMserver should post to (without `/json`).
    public var value: String {
        configured ?? "http://\(host):\(port.withLock { $0 })"
    }
}
