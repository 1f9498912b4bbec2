/// The interfaces the relay serves, whatever spelling the caller used.
public enum RelayInterface: String, Sendable, CaseIterable {
    case remoteService = "RemoteServiceInterface"
    case notificationRegistry = "NotificationRegistryInterface"
    case admin = "AdminInterface"
    case auth = "AuthInterface"
    case meta = "MetaInterface"

    /// Reads `X`, `org.bimserver.X`, `Bimsie1X` and `org.buildingsmart.bimsie1.Bimsie1X`.
    public init?(name: String) {
        var simple = name
        for prefix in ["org.bimserver.", "org.buildingsmart.bimsie1."] where simple.hasPrefix(prefix) {
            simple = String(simple.dropFirst(prefix.count))
        }
        if simple.hasPrefix("Bimsie1") { simple = String(simple.dropFirst("Bimsie1".count)) }
        self.init(rawValue: simple)
    }
}
