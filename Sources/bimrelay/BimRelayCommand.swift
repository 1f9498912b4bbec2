import ArgumentParser
import RelayCore

/// `bimrelay`: the relay and its admin commands.
@main
struct BimRelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bimrelay",
        abstract: "A durable notification relay for BIMserver.",
        version: RelayVersion.current,
        subcommands: [
            ServeCommand.self, MigrateCommand.self, TokenCommand.self, ServiceCommand.self,
            QueueCommand.self, TopicCommand.self, BenchCommand.self, BenchClientsCommand.self,
        ]
    )
}
