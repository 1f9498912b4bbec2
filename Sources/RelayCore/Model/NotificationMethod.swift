/// The RemoteServiceInterface calls that become events, with BIMserver's parameter order.
public enum NotificationMethod: String, Sendable, CaseIterable, Codable {
    case newRevision
    case newExtendedDataOnRevision
    case newExtendedDataOnProject

    /// The parameters in BIMserver's declaration order (RemoteServiceInterface.java).
    public var parameterNames: [String] {
        switch self {
        case .newRevision:
            ["poid", "roid", "soid", "serviceIdentifier", "profileIdentifier", "userToken", "token", "apiUrl"]
        case .newExtendedDataOnRevision:
            ["poid", "roid", "edid", "soid", "serviceIdentifier", "profileIdentifier", "userToken", "token", "apiUrl"]
        case .newExtendedDataOnProject:
            ["poid", "edid", "soid", "serviceIdentifier", "profileIdentifier", "userToken", "token", "apiUrl"]
        }
    }

    /// The trigger a service subscribes to for this call.
    public var trigger: Trigger {
        self == .newRevision ? .newRevision : .newExtendedData
    }
}

/// One accepted RemoteServiceInterface notification, as received.
public struct IncomingEvent: Sendable, Equatable {
    public var method: NotificationMethod
    public var poid: Int64?
    public var roid: Int64?
    public var edid: Int64?
    public var soid: Int64?
    /// A registered identifier or the relay's fan-out identifier.
    public var serviceIdentifier: String
    public var profileIdentifier: String?
    /// BIMserver's API token for the service to call back with.
    public var token: String?
    public var apiUrl: String?

    /// An event as BIMserver sent it.
    public init(
        method: NotificationMethod, poid: Int64?, roid: Int64?, edid: Int64?, soid: Int64?, serviceIdentifier: String,
        profileIdentifier: String?, token: String?, apiUrl: String?
    ) {
        self.method = method
        self.poid = poid
        self.roid = roid
        self.edid = edid
        self.soid = soid
        self.serviceIdentifier = serviceIdentifier
        self.profileIdentifier = profileIdentifier
        self.token = token
        self.apiUrl = apiUrl
    }
}
