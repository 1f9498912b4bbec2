/// Request bodies exactly as BIMserver sends them (reference/bimserver-protocol.md §5): no
/// top-level token, `parameters` in declaration order, the credential in `userToken`.
enum GoldenRequests {
    static func newRevision(userToken: String, serviceIdentifier: String = "bimrelay", poid: String = "131073")
        -> String
    {
        """
        {"request":{"interface":"RemoteServiceInterface","method":"newRevision","parameters":{\
        "poid":\(poid),"roid":65539,"soid":196609,"serviceIdentifier":"\(serviceIdentifier)",\
        "profileIdentifier":"default","userToken":"\(userToken)",\
        "token":"3a0e4b1c9d2f","apiUrl":"http://bimserver.example.org:8080"}}}
        """
    }

    static func newExtendedDataOnRevision(userToken: String, serviceIdentifier: String = "bimrelay") -> String {
        """
        {"request":{"interface":"RemoteServiceInterface","method":"newExtendedDataOnRevision","parameters":{\
        "poid":131073,"roid":65539,"edid":327681,"soid":-1,"serviceIdentifier":"\(serviceIdentifier)",\
        "profileIdentifier":"default","userToken":"\(userToken)",\
        "token":"3a0e4b1c9d2f","apiUrl":"http://bimserver.example.org:8080"}}}
        """
    }

    static func newExtendedDataOnProject(userToken: String) -> String {
        """
        {"request":{"interface":"RemoteServiceInterface","method":"newExtendedDataOnProject","parameters":{\
        "poid":131073,"edid":327682,"soid":196609,"serviceIdentifier":"bimrelay",\
        "profileIdentifier":"default","userToken":"\(userToken)",\
        "token":"3a0e4b1c9d2f","apiUrl":"http://bimserver.example.org:8080"}}}
        """
    }
}
