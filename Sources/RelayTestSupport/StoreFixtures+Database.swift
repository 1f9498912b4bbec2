import Foundation
import RelayStore

extension StoreFixtures {
    /// A migrated database in a fresh folder.
    public static func database() throws -> (RelayDatabase, TemporaryDirectory) {
        let folder = try TemporaryDirectory()
        return (try RelayDatabase.open(path: folder.path("relay.sqlite"), mode: .createAndMigrate), folder)
    }
}
