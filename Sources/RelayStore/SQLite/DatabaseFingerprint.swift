import Foundation
import GRDB

/// Every row of every table of a database file, as one string: equal fingerprints mean nothing changed.
public func databaseFingerprint(_ path: String) throws -> String {
    let queue = try DatabaseQueue(
        path: path,
        configuration: {
            var configuration = Configuration()
            configuration.readonly = true
            return configuration
        }())
    return try queue.read { db in
        var text = ""
        let tables = try String.fetchAll(
            db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        for table in tables {
            text += "## \(table)\n"
            for row in try Row.fetchAll(db, sql: "SELECT * FROM \"\(table)\" ORDER BY rowid") {
                text += row.description + "\n"
            }
        }
        return text
    }
}
