import ArgumentParser
import Foundation
import RelayCore
import RelayStore

/// `bimrelay token issue|list|revoke`.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Issue, list and revoke relay tokens.",
        subcommands: [Issue.self, List.self, Revoke.self])

    /// `token issue`: prints the new token once.
    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a token. It is printed once; only its SHA-256 is stored.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "Who the token is for.") var user: String
        @Option(help: "producer (BIMserver, services publishing), client (WebSocket clients) or admin.")
        var role: String
        @Option(help: "Limit to these BIMserver project oids, comma-separated (default: every project).")
        var projects: String?

        func run() async throws {
            guard let role = TokenRole(rawValue: role.lowercased()) else {
                throw RelayError.invalidArgument("unknown role '\(role)' (known: producer, client, admin)")
            }
            let projectIDs = try projects.map(Self.parseProjects)
            let opened = try await database.open()
            let user = self.user
            let (record, token) = try await opened.write { tx in
                try tx.tokens.issue(user: user, role: role, projects: projectIDs, now: Date())
            }
            if output.json {
                try Printer.json(
                    IssuedToken(
                        id: record.id ?? 0, token: token, user: record.user,
                        role: record.role.rawValue, projects: record.projectIDs))
            } else {
                print(token)
                FileHandle.standardError.write(
                    Data(
                        "token \(record.id ?? 0) for \(record.user) (\(record.role.rawValue)): store it now, it is not shown again\n"
                            .utf8))
            }
        }

        static func parseProjects(_ text: String) throws -> [Int64] {
            let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let ids = parts.compactMap { Int64($0) }
            guard !parts.isEmpty, ids.count == parts.count else {
                throw RelayError.invalidArgument(
                    "--projects takes project oids separated by commas, e.g. 131073,196609")
            }
            return ids
        }

        struct IssuedToken: Encodable {
            let id: Int64
            let token: String
            let user: String
            let role: String
            let projects: [Int64]?
        }
    }

    /// `token list`: never shows tokens, only their prefixes.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (prefixes only).")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let tokens = try await database.open().read { tx in try tx.tokens.list() }
            if output.json {
                try Printer.json(tokens.map(ListedToken.init))
                return
            }
            Printer.table(
                ["ID", "PREFIX", "USER", "ROLE", "ORIGIN", "PROJECTS", "CREATED", "LAST USED", "REVOKED"],
                tokens.map {
                    [
                        String($0.id ?? 0), $0.prefix + "…", $0.user, $0.role.rawValue, $0.origin.rawValue,
                        $0.projects ?? "all",
                        Printer.cell($0.createdAt), Printer.cell($0.lastUsedAt), Printer.cell($0.revokedAt),
                    ]
                })
        }

        struct ListedToken: Encodable {
            let id: Int64
            let prefix: String
            let user: String
            let role: String
            /// `relay`, or `bimserver` / `callback` for BIMserver's tokens seen in gateway mode.
            let origin: String
            let projects: [Int64]?
            let createdAt: Date
            let lastUsedAt: Date?
            let revokedAt: Date?
            let revoked: Bool

            init(_ record: TokenRecord) {
                id = record.id ?? 0
                prefix = record.prefix
                user = record.user
                role = record.role.rawValue
                origin = record.origin.rawValue
                projects = record.projectIDs
                createdAt = record.createdAt
                lastUsedAt = record.lastUsedAt
                revokedAt = record.revokedAt
                revoked = record.revokedAt != nil
            }
        }
    }

    /// `token revoke ID|PREFIX`.
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by id or prefix.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The token's id or its prefix as `token list` shows it.") var token: String

        func run() async throws {
            let key = token.hasSuffix("…") ? String(token.dropLast()) : token
            let record = try await database.open().write { tx in try tx.tokens.revoke(idOrPrefix: key, now: Date()) }
            if output.json {
                try Printer.json(List.ListedToken(record))
            } else {
                print("revoked token \(record.id ?? 0) (\(record.prefix)…) of \(record.user)")
            }
        }
    }
}
