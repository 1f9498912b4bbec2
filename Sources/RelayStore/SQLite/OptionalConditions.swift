import GRDB

/// AND-ed SQL conditions, each kept only when its value is given: the optional filters of
/// `queue list`, `queue retry --dead` and the subscriber lookup.
struct OptionalConditions {
    private var clauses: [String]
    /// The arguments of the kept conditions, in order.
    private(set) var arguments: StatementArguments

    /// Starts with conditions that always apply.
    init(_ always: [String] = [], arguments: StatementArguments = []) {
        clauses = always
        self.arguments = arguments
    }

    /// Adds `clause` (with one `?`) when `value` is not nil.
    mutating func add(_ clause: String, _ value: (any DatabaseValueConvertible)?) {
        guard let value else { return }
        clauses.append(clause)
        arguments += [value]
    }

    /// Adds arguments for further `?` of the last condition added.
    mutating func append(arguments more: StatementArguments) {
        arguments += more
    }

    /// The conditions joined with AND; `1` when there are none.
    var sql: String { clauses.isEmpty ? "1" : clauses.joined(separator: " AND ") }
}
