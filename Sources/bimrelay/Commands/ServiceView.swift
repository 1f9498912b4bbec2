import Foundation
import RelayCore
import RelayStore

/// A service as `service show|list --json` prints it.
struct ServiceView: Encodable {
    var identifier: String
    var name: String
    var url: String
    var deliveryUrl: String
    var triggers: [String]
    var description: String
    var providerName: String
    var companyUrl: String
    var tokenUrl: String
    var newProfileUrl: String
    var registerUrl: String
    var authorizeUrl: String
    var readRevision: Bool
    var readExtendedData: String
    var writeRevision: Bool
    var writeExtendedData: String
    var notificationInterface: String
    var userTokenSet: Bool
    var retrySchedule: String
    var timeout: String
    var maxInFlight: Int
    var ordered: Bool
    var exactUrl: Bool
    var enabled: Bool
    var disabledReason: String?
    var disabledAt: Date?
    var lastSuccessAt: Date?
    var failingSince: Date?
    var createdAt: Date
    var updatedAt: Date
    var secret: String?
    var profiles: [ProfileView]?

    init(_ service: ServiceRecord, showSecret: Bool) {
        identifier = service.identifier
        name = service.name
        url = service.url
        deliveryUrl = service.deliveryURL
        triggers = service.triggerList.map(\.rawValue)
        description = service.description
        providerName = service.providerName
        companyUrl = service.companyUrl
        tokenUrl = service.tokenUrl
        newProfileUrl = service.newProfileUrl
        registerUrl = service.registerUrl
        authorizeUrl = service.authorizeUrl
        readRevision = service.readRevision
        readExtendedData = service.readExtendedData
        writeRevision = service.writeRevision
        writeExtendedData = service.writeExtendedData
        notificationInterface = service.notificationInterface
        userTokenSet = !service.userToken.isEmpty
        retrySchedule = service.schedule.description
        timeout = DurationText.format(.milliseconds(service.timeoutMs))
        maxInFlight = service.maxInFlight
        ordered = service.ordered
        exactUrl = service.exactUrl
        enabled = service.enabled
        disabledReason = service.disabledReason
        disabledAt = service.disabledAt
        lastSuccessAt = service.lastSuccessAt
        failingSince = service.failingSince
        createdAt = service.createdAt
        updatedAt = service.updatedAt
        secret = showSecret ? service.signingSecret : nil
    }

    func printFields() {
        var pairs: [(String, String)] = [
            ("identifier", identifier), ("name", name), ("url", url), ("delivers to", deliveryUrl),
            ("triggers", triggers.joined(separator: ",")), ("enabled", enabled ? "yes" : "no"),
        ]
        if !enabled {
            pairs.append(("disabled", "\(Printer.cell(disabledAt)): \(disabledReason ?? "-")"))
        }
        pairs += [
            ("interface", notificationInterface), ("retry schedule", retrySchedule), ("timeout", timeout),
            ("max in flight", String(maxInFlight)), ("ordered", ordered ? "yes" : "no"),
            ("exact url", exactUrl ? "yes" : "no"), ("user token", userTokenSet ? "set" : "not set"),
            ("description", description), ("provider", providerName),
            ("read revision", readRevision ? "yes" : "no"), ("write revision", writeRevision ? "yes" : "no"),
            ("last success", Printer.cell(lastSuccessAt)), ("failing since", Printer.cell(failingSince)),
            ("created", Printer.cell(createdAt)),
        ]
        if let secret { pairs.append(("secret", secret)) }
        Printer.fields(pairs)
        if let profiles, !profiles.isEmpty {
            print("profiles:")
            for profile in profiles {
                print("  \(profile.identifier)  \(profile.name)\(profile.publicProfile ? "" : " (private)")")
            }
        }
    }
}

/// A profile as the CLI prints it.
struct ProfileView: Encodable {
    var identifier: String
    var name: String
    var description: String
    var publicProfile: Bool

    init(_ profile: ProfileRecord) {
        identifier = profile.identifier
        name = profile.name
        description = profile.description
        publicProfile = profile.publicProfile
    }
}
