/// Every interface and method the relay serves, with BIMserver's names, parameters and docs.
///
/// The dispatcher refuses any method not listed here, checks the parameter count and routes
/// writing methods to the write queue from this table, and `MetaInterface` describes the relay from
/// it: what a client discovers is exactly what is served.
public enum ServiceCatalog {
    /// The served interfaces, sorted by full name (as BIMserver's `getServiceInterfaces`).
    public static let interfaces: [CatalogInterface] = [
        CatalogInterface(.admin, methods: admin),
        CatalogInterface(.auth, methods: auth),
        CatalogInterface(.meta, methods: meta),
        CatalogInterface(.notificationRegistry, methods: notificationRegistry),
        CatalogInterface(.remoteService, methods: remoteService),
    ].sorted { $0.name < $1.name }

    private static let byInterface = Dictionary(uniqueKeysWithValues: interfaces.map { ($0.interface, $0) })

    /// The catalog entry of `interface`.
    public static func interface(_ interface: RelayInterface) -> CatalogInterface {
        byInterface[interface]!
    }

    /// The method `name` of `interface`, or nil when the relay does not serve it.
    public static func method(_ interface: RelayInterface, _ name: String) -> CatalogMethod? {
        byInterface[interface]?.methodsByName[name]
    }

    private static let admin: [CatalogMethod] = [
        .init(
            "getServerInfo", doc: "The relay's state and version, in BIMserver's SServerInfo shape. No token needed.",
            returnDoc: "SServerInfo with serverState RUNNING"),
        .init(
            "getVersion", doc: "The relay's version, in BIMserver's SVersion shape. No token needed.",
            returnDoc: "SVersion"),
    ]

    private static let auth: [CatalogMethod] = [
        .init(
            "getLoggedInUser", doc: "The user of the token given with the call, as an SUser.",
            returnDoc: "SUser built from the relay token"),
        .init(
            "login", doc: "Refused: the relay has no passwords. Tokens come from `bimrelay token issue`.",
            returnDoc: "never returns", parameters: [.init("username", .string), .init("password", .string)]),
        .init(
            "logout",
            doc: "Succeeds and changes nothing: a relay token stays valid until `bimrelay token revoke`, and "
                + "endpoints other clients share are kept."),
    ]

    private static let meta: [CatalogMethod] = [
        .init(
            "getServiceInterface", doc: "One served interface.", returnDoc: "SServiceInterface",
            parameters: [.init("serviceInterfaceName", .string, doc: "Full or simple interface name")]),
        .init("getServiceInterfaces", doc: "Every interface the relay serves.", returnDoc: "List of SServiceInterface"),
        .init(
            "getServiceMethod", doc: "One method of a served interface.", returnDoc: "SServiceMethod",
            parameters: [.init("serviceInterfaceName", .string), .init("methodName", .string)]),
        .init(
            "getServiceMethodParameters", doc: "The parameters of one method, in declaration order.",
            returnDoc: "List of SServiceParameter",
            parameters: [.init("serviceInterfaceName", .string), .init("serviceMethodName", .string)]),
        .init(
            "getServiceMethods", doc: "The methods of a served interface, by name.",
            returnDoc: "List of SServiceMethod",
            parameters: [.init("serviceInterfaceName", .string)]),
    ]

    private static let topicID = CatalogParameter("topicId", .long, doc: "A progress topic id")
    private static let endPointID = CatalogParameter("endPointId", .long, doc: "An endpoint id from /stream")
    private static let poid = CatalogParameter("poid", .long, doc: "A project oid")
    private static let roid = CatalogParameter("roid", .long, doc: "A revision oid")

    /// `register…`/`unregister…` pairs: the method suffix, its parameters and what it registers for.
    private static let registrations: [(suffix: String, parameters: [CatalogParameter], what: String)] = [
        ("ChangeProgressOnProject", [endPointID, poid], "new progress topics of a project"),
        ("ChangeProgressOnRevision", [endPointID, roid, poid], "new progress topics of a revision"),
        ("ChangeProgressOnServer", [endPointID], "new server-wide progress topics"),
        ("NewExtendedDataOnRevisionHandler", [endPointID, roid], "newExtendedData of a revision"),
        ("NewProjectHandler", [endPointID], "new projects (nothing from BIMserver feeds it)"),
        ("NewRevisionHandler", [endPointID], "newRevision of every project the token may see"),
        ("NewRevisionOnSpecificProjectHandler", [endPointID, poid], "newRevision of one project"),
        ("NewUserHandler", [endPointID], "new users (nothing from BIMserver feeds it)"),
        ("ProgressHandler", [topicID, endPointID], "progress of a topic; no state is pushed, call getProgress"),
    ]

    private static let notificationRegistry: [CatalogMethod] =
        registrations.flatMap { registration in
            [
                CatalogMethod(
                    "register\(registration.suffix)",
                    doc: "Sends \(registration.what) to the endpoint; kept across restarts.",
                    parameters: registration.parameters, writes: true),
                CatalogMethod(
                    "unregister\(registration.suffix)", doc: "Stops sending \(registration.what) to the endpoint.",
                    parameters: registration.parameters, writes: true),
            ]
        } + [
            .init(
                "getProgress", doc: "The latest stored state of a topic ({} before the first update).",
                returnDoc: "SLongActionState", parameters: [topicID]),
            .init(
                "getProgressTopicsOnProject", doc: "Topic ids of a project.", returnDoc: "List of Long",
                parameters: [poid]),
            .init(
                "getProgressTopicsOnRevision", doc: "Topic ids of a revision.", returnDoc: "List of Long",
                parameters: [poid, roid]),
            .init(
                "getProgressTopicsOnServer", doc: "Every topic id the token may see.", returnDoc: "List of Long"),
            .init(
                "registerProgressOnProjectTopic", doc: "Creates a progress topic of a project (producer token).",
                returnDoc: "The topicId",
                parameters: [.init("type", .progressTopicType), poid, .init("description", .string)], writes: true),
            .init(
                "registerProgressOnRevisionTopic", doc: "Creates a progress topic of a revision (producer token).",
                returnDoc: "The topicId",
                parameters: [.init("type", .progressTopicType), poid, roid, .init("description", .string)],
                writes: true),
            .init(
                "registerProgressTopic", doc: "Creates a server-wide progress topic (producer token).",
                returnDoc: "The topicId",
                parameters: [.init("type", .progressTopicType), .init("description", .string)], writes: true),
            .init(
                "unregisterProgressTopic", doc: "Closes a topic; it stays readable.", parameters: [topicID],
                writes: true),
            .init(
                "updateProgressTopic", doc: "Stores a topic's state and pushes it to every registered endpoint.",
                parameters: [topicID, .init("state", .longActionState)], writes: true),
        ]

    private static let remoteService: [CatalogMethod] =
        [
            .init(
                "getPrivateProfiles", doc: "The profiles of a service for a relay token.",
                returnDoc: "List of SProfileDescriptor",
                parameters: [.init("serviceIdentifier", .string), .init("token", .string)]),
            .init(
                "getPublicProfiles", doc: "The public profiles of a service.", returnDoc: "List of SProfileDescriptor",
                parameters: [.init("serviceIdentifier", .string)]),
            .init(
                "getService", doc: "The descriptor BIMserver stores when the relay is added to a project.",
                returnDoc: "SServiceDescriptor", parameters: [.init("serviceIdentifier", .string)]),
        ]
        + NotificationMethod.allCases.map { method in
            CatalogMethod(
                method.rawValue,
                doc: "Stores the notification, then delivers it to every subscribed service until it is taken.",
                parameters: method.parameterNames.map { name in
                    CatalogParameter(
                        name,
                        ["serviceIdentifier", "profileIdentifier", "userToken", "token", "apiUrl"]
                            .contains(name) ? .string : .long)
                }, writes: true)
        }
}

/// One served interface.
public struct CatalogInterface: Sendable {
    /// Which one.
    public let interface: RelayInterface
    /// `org.bimserver`.
    public let nameSpace: String
    /// `org.bimserver.X` (BIMserver's `SServiceInterface.name`).
    public let name: String
    /// Its methods, sorted by name (as BIMserver's `getServiceMethods`).
    public let methods: [CatalogMethod]
    fileprivate let methodsByName: [String: CatalogMethod]

    init(_ interface: RelayInterface, methods: [CatalogMethod]) {
        self.interface = interface
        nameSpace = "org.bimserver"
        name = "org.bimserver.\(interface.rawValue)"
        self.methods = methods.sorted { $0.name < $1.name }
        methodsByName = Dictionary(uniqueKeysWithValues: methods.map { ($0.name, $0) })
    }
}

/// One served method.
public struct CatalogMethod: Sendable {
    /// The method name.
    public let name: String
    /// What it does, as served by the relay.
    public let doc: String
    /// What it returns; nil for void.
    public let returnDoc: String?
    /// The parameters, in declaration order.
    public let parameters: [CatalogParameter]
    /// Whether it writes (it then runs in the group-commit write queue).
    public let writes: Bool

    init(
        _ name: String, doc: String, returnDoc: String? = nil, parameters: [CatalogParameter] = [],
        writes: Bool = false
    ) {
        self.name = name
        self.doc = doc
        self.returnDoc = returnDoc
        self.parameters = parameters
        self.writes = writes
    }
}

/// One parameter of a served method.
public struct CatalogParameter: Sendable {
    /// The JSON name.
    public let name: String
    /// Its type.
    public let type: CatalogType
    /// What it means.
    public let doc: String

    init(_ name: String, _ type: CatalogType, doc: String = "") {
        self.name = name
        self.type = type
        self.doc = doc
    }
}

/// A parameter type as BIMserver's `SServiceType` names it.
public struct CatalogType: Sendable {
    /// The Java class name (`java.lang.Long`).
    public let name: String
    /// The simple name (`Long`).
    public let simpleName: String
    /// BIMserver's `SServiceSimpleType`.
    public let simpleType: String

    static let long = CatalogType(name: "java.lang.Long", simpleName: "Long", simpleType: "LONG")
    static let string = CatalogType(name: "java.lang.String", simpleName: "String", simpleType: "STRING")
    static let progressTopicType = CatalogType(
        name: "org.bimserver.interfaces.objects.SProgressTopicType", simpleName: "SProgressTopicType",
        simpleType: "ENUM")
    static let longActionState = CatalogType(
        name: "org.bimserver.interfaces.objects.SLongActionState", simpleName: "SLongActionState",
        simpleType: "UNKNOWN")
}
