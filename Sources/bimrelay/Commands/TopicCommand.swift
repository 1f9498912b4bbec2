import ArgumentParser
import Foundation
import RelayCore
import RelayStore

/// `bimrelay topic list|show`: progress topics.
struct TopicCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topic", abstract: "Inspect progress topics.", subcommands: [List.self, Show.self])

    /// `topic list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List progress topics, newest first.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "At most this many rows.") var limit = 50

        func run() async throws {
            let limit = self.limit
            let topics = try await database.open().read { tx in try tx.topics.list(limit: limit) }
            if output.json {
                try Printer.json(topics)
                return
            }
            Printer.table(
                ["ID", "TYPE", "SCOPE", "POID", "ROID", "SUBSCRIBERS", "UPDATED", "DESCRIPTION"],
                topics.map {
                    [
                        String($0.id), $0.type, $0.scope, Printer.cell($0.poid), Printer.cell($0.roid),
                        String($0.subscribers), Printer.cell($0.stateUpdatedAt), $0.description,
                    ]
                })
        }
    }

    /// `topic show ID`.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a topic and its latest state.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The topic id.") var id: Int64

        func run() async throws {
            let id = self.id
            let topic = try await database.open().read { tx in try tx.topics.show(id: id) }
            if output.json {
                try Printer.json(topic)
                return
            }
            Printer.fields([
                ("topic", String(topic.id)), ("type", topic.type), ("scope", topic.scope),
                ("poid", Printer.cell(topic.poid)), ("roid", Printer.cell(topic.roid)),
                ("description", topic.description), ("subscribers", String(topic.subscribers)),
                ("created", Printer.cell(topic.createdAt)), ("updated", Printer.cell(topic.stateUpdatedAt)),
                ("closed", Printer.cell(topic.closedAt)), ("latest state", topic.latestState ?? "-"),
            ])
        }
    }
}
