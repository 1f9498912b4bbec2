import Foundation
import Hummingbird
import Logging
import RelayCore
import RelayStore

/// Builds the relay's HTTP application: the routes over one database.
public enum RelayApplication {
    /// The Hummingbird application for `configuration`, serving from `database`.
    /// - Parameter onServerRunning: called with the bound port once the server listens (port 0
    ///   in the configuration picks a free one).
    public static func make(
        configuration: RelayConfiguration,
        database: RelayDatabase,
        logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        HealthController(database: database).addRoutes(to: router)
        return Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port),
                serverName: "bimrelay"
            ),
            onServerRunning: { channel in
                await onServerRunning(channel.localAddress?.port ?? configuration.port)
            },
            logger: logger
        )
    }
}
