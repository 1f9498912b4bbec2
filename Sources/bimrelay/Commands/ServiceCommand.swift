import ArgumentParser
import Foundation
import RelayCore
import RelayStore

/// `bimrelay service …`: the services notifications are delivered to.
struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service", abstract: "Register and manage the services notifications go to.",
        subcommands: [
            Add.self, List.self, Show.self, Update.self, Enable.self, Disable.self, Remove.self,
            ProfileCommand.self,
        ])

    /// `service add`: prints the signing secret once.
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a service. Prints its signing secret (whsec_…) once.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "BIMserver's serviceIdentifier, unique.") var identifier: String
        @OptionGroup var fields: ServiceFields

        func run() async throws {
            let identifier = identifier.trimmingCharacters(in: .whitespaces)
            guard !identifier.isEmpty else { throw RelayError.invalidArgument("--identifier must not be empty") }
            for (flag, value) in [("--name", fields.name), ("--url", fields.url), ("--trigger", fields.trigger)]
            where value == nil {
                throw RelayError.invalidArgument("\(flag) is required")
            }
            let now = Date()
            var service = ServiceRecord(
                identifier: identifier, name: "", url: "", triggers: "",
                signingSecret: Secrets.newSigningSecret(), createdAt: now, updatedAt: now)
            try fields.apply(to: &service)
            let opened = try await database.open()
            let candidate = service
            let environment = ProcessInfo.processInfo.environment
            let fanOut = [
                environment["BIMRELAY_FANOUT_IDENTIFIER"] ?? RelayConfiguration.defaultFanOutIdentifier,
                environment["BIMRELAY_EXTENDED_DATA_FANOUT_IDENTIFIER"]
                    ?? RelayConfiguration.defaultExtendedDataFanOutIdentifier,
            ]
            guard !fanOut.contains(identifier) else {
                throw RelayError.conflict("'\(identifier)' is the relay's fan-out identifier; pick another")
            }
            let added = try await opened.write { tx in try tx.services.add(candidate) }
            if output.json {
                try Printer.json(ServiceView(added, showSecret: true))
            } else {
                print(added.signingSecret)
                FileHandle.standardError.write(
                    Data(
                        "service \(added.identifier) registered; its signing secret is above: store it now, it is not shown again\n"
                            .utf8))
            }
        }
    }

    /// `service list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List services.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let services = try await database.open().read { tx in try tx.services.list() }
            if output.json {
                try Printer.json(services.map { ServiceView($0, showSecret: false) })
                return
            }
            Printer.table(
                ["IDENTIFIER", "NAME", "TRIGGERS", "ENABLED", "URL"],
                services.map {
                    [
                        $0.identifier, $0.name, $0.triggers,
                        $0.enabled ? "yes" : "no (\($0.disabledReason ?? "disabled"))",
                        $0.deliveryURL,
                    ]
                })
        }
    }

    /// `service show ID`.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one service.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The service identifier.") var identifier: String
        @Flag(help: "Also print the signing secret.") var showSecret = false

        func run() async throws {
            let identifier = self.identifier
            let (service, profiles) = try await database.open().read { tx in
                let service = try tx.services.find(identifier)
                return (service, try tx.services.profiles(serviceID: service.id ?? 0))
            }
            var view = ServiceView(service, showSecret: showSecret)
            view.profiles = profiles.map(ProfileView.init)
            if output.json {
                try Printer.json(view)
            } else {
                view.printFields()
            }
        }
    }

    /// `service update ID`.
    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a service's settings.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The service identifier.") var identifier: String
        @OptionGroup var fields: ServiceFields

        func run() async throws {
            let identifier = self.identifier
            let fields = self.fields
            let updated = try await database.open().write { tx in
                var service = try tx.services.find(identifier)
                try fields.apply(to: &service)
                return try tx.services.update(service, now: Date())
            }
            if output.json {
                try Printer.json(ServiceView(updated, showSecret: false))
            } else {
                print("updated service \(updated.identifier)")
            }
        }
    }

    /// `service enable ID`.
    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a service; its paused deliveries resume.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The service identifier.") var identifier: String

        func run() async throws {
            let identifier = self.identifier
            let service = try await database.open().write { tx in try tx.services.enable(identifier, now: Date()) }
            if output.json {
                try Printer.json(ServiceView(service, showSecret: false))
            } else {
                print("enabled service \(service.identifier)")
            }
        }
    }

    /// `service disable ID`.
    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a service; its deliveries wait (paused).")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The service identifier.") var identifier: String
        @Option(help: "Why (shown in `service show`).") var reason = "disabled by an admin"

        func run() async throws {
            let (identifier, reason) = (self.identifier, self.reason)
            let service = try await database.open().write { tx in
                try tx.services.disable(identifier, reason: reason, now: Date())
            }
            if output.json {
                try Printer.json(ServiceView(service, showSecret: false))
            } else {
                print("disabled service \(service.identifier)")
            }
        }
    }

    /// `service remove ID`.
    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a service with its profiles, deliveries and attempts.")

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The service identifier.") var identifier: String

        func run() async throws {
            let identifier = self.identifier
            let removed = try await database.open().write { tx in try tx.services.remove(identifier) }
            if output.json {
                try Printer.json(["identifier": identifier, "deliveries_removed": String(removed)])
            } else {
                print("removed service \(identifier) and \(removed) deliveries")
            }
        }
    }
}
