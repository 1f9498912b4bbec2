import ArgumentParser
import Foundation
import RelayCore
import RelayStore

/// `bimrelay service profile add|list|remove`: the SProfileDescriptors a service offers BIMserver.
struct ProfileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile", abstract: "Manage a service's profiles.",
        subcommands: [Add.self, List.self, Remove.self])

    /// `profile add SERVICE --identifier --name`.
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a profile to a service.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The service identifier.") var service: String
        @Option(help: "BIMserver's profileIdentifier.") var identifier: String
        @Option(help: "Readable name.") var name: String
        @Option(help: "Description.") var description = ""
        @Flag(help: "Only offered to callers with a token (getPrivateProfiles).") var `private` = false

        func run() async throws {
            guard !identifier.isEmpty, !name.isEmpty else {
                throw RelayError.invalidArgument("--identifier and --name must not be empty")
            }
            let (service, identifier, name, description, isPublic) =
                (self.service, self.identifier, self.name, self.description, !self.private)
            let profile = try await database.open().write { tx in
                let owner = try tx.services.find(service)
                return try tx.services.addProfile(
                    ProfileRecord(
                        serviceId: owner.id ?? 0, identifier: identifier, name: name, description: description,
                        publicProfile: isPublic, createdAt: Date()))
            }
            if output.json {
                try Printer.json(ProfileView(profile))
            } else {
                print("added profile \(profile.identifier) to \(service)")
            }
        }
    }

    /// `profile list SERVICE`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a service's profiles.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The service identifier.") var service: String

        func run() async throws {
            let service = self.service
            let profiles = try await database.open().read { tx in
                try tx.services.profiles(serviceID: try tx.services.find(service).id ?? 0)
            }
            if output.json {
                try Printer.json(profiles.map(ProfileView.init))
                return
            }
            Printer.table(
                ["IDENTIFIER", "NAME", "PUBLIC", "DESCRIPTION"],
                profiles.map { [$0.identifier, $0.name, $0.publicProfile ? "yes" : "no", $0.description] })
        }
    }

    /// `profile remove SERVICE IDENTIFIER`.
    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a profile from a service.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The service identifier.") var service: String
        @Argument(help: "The profile identifier.") var identifier: String

        func run() async throws {
            let (service, identifier) = (self.service, self.identifier)
            try await database.open().write { tx in
                let owner = try tx.services.find(service)
                try tx.services.removeProfile(serviceID: owner.id ?? 0, identifier: identifier)
            }
            if output.json {
                try Printer.json(["service": service, "removed": identifier])
            } else {
                print("removed profile \(identifier) from \(service)")
            }
        }
    }
}
