import Foundation
import RelayCore

extension Date {
    /// This time as SQLite text (`Timestamp.format`), for statement arguments on hot paths: GRDB
    /// binds a `Date` through a `DateFormatter`, which costs more than the rest of a small insert.
    var sqlText: String { Timestamp.format(self) }
}
