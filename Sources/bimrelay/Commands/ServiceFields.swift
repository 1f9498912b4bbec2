import ArgumentParser
import Foundation
import RelayCore
import RelayStore

/// The service settings `service add` and `service update` share; every one is optional here,
/// `add` checks that the required ones are given.
struct ServiceFields: ParsableArguments {
    @Option(help: "Readable name.") var name: String?
    @Option(help: "Base URL; deliveries go to <url>/json (http or https).") var url: String?
    @Option(help: "NEW_REVISION, NEW_EXTENDED_DATA, or both comma-separated.") var trigger: String?
    @Option(help: "Description shown in BIMserver.") var description: String?
    @Option(help: "Provider name.") var providerName: String?
    @Option(help: "Company URL.") var companyUrl: String?
    @Option(help: "URL where a user gets a token for this service.") var tokenUrl: String?
    @Option(help: "URL where a user creates a profile.") var newProfileUrl: String?
    @Option(help: "OAuth register URL.") var registerUrl: String?
    @Option(help: "OAuth authorize URL.") var authorizeUrl: String?
    @Flag(inversion: .prefixedNo, help: "The service reads the revision.") var readRevision: Bool?
    @Option(help: "Extended data schema namespace the service reads.") var readExtendedData: String?
    @Flag(inversion: .prefixedNo, help: "The service checks in revisions.") var writeRevision: Bool?
    @Option(help: "Extended data schema namespace the service writes.") var writeExtendedData: String?
    @Option(help: "RemoteServiceInterface, or Bimsie1RemoteServiceInterface for pre-2016 services.")
    var interface: String?
    @Option(help: "The userToken forwarded to the service in every notification.") var userToken: String?
    @Option(
        help:
            "A whsec_… signing secret (base64 of 24 to 64 bytes) to use instead of a generated one, e.g. when moving a service from another system."
    )
    var signingSecret: String?
    @Option(help: "Delays before attempts 2, 3, … e.g. 5s,5m,30m (default: Standard Webhooks' schedule).")
    var retrySchedule: String?
    @Option(help: "Whole-request timeout, e.g. 15s.") var timeout: String?
    @Option(help: "Deliveries in flight at once to this service.") var maxInFlight: Int?
    @Flag(inversion: .prefixedNo, help: "Deliver strictly in event order, one at a time.") var ordered: Bool?
    @Flag(inversion: .prefixedNo, help: "POST to the URL as given, not <url>/json.") var exactUrl: Bool?

    /// Writes the given fields into `service`, checking each.
    func apply(to service: inout ServiceRecord) throws {
        if let name {
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw RelayError.invalidArgument("--name must not be empty")
            }
            service.name = name
        }
        if let url { service.url = try Self.checkedURL(url, flag: "--url") }
        if let trigger {
            let triggers = try Trigger.parseList(trigger)
            // BIMserver never notifies external services of new projects: nothing would ever arrive.
            guard !triggers.contains(.newProject) else {
                throw RelayError.invalidArgument(
                    "--trigger NEW_PROJECT is not accepted: BIMserver sends external services no notification "
                        + "for new projects (only WebSocket clients hear of them), so such a service would never "
                        + "receive anything; use NEW_REVISION or NEW_EXTENDED_DATA")
            }
            service.triggers = Trigger.listText(triggers)
        }
        if let description { service.description = description }
        if let providerName { service.providerName = providerName }
        if let companyUrl {
            service.companyUrl = try Self.checkedURL(companyUrl, flag: "--company-url", allowEmpty: true)
        }
        if let tokenUrl { service.tokenUrl = try Self.checkedURL(tokenUrl, flag: "--token-url", allowEmpty: true) }
        if let newProfileUrl {
            service.newProfileUrl = try Self.checkedURL(newProfileUrl, flag: "--new-profile-url", allowEmpty: true)
        }
        if let registerUrl {
            service.registerUrl = try Self.checkedURL(registerUrl, flag: "--register-url", allowEmpty: true)
        }
        if let authorizeUrl {
            service.authorizeUrl = try Self.checkedURL(authorizeUrl, flag: "--authorize-url", allowEmpty: true)
        }
        if let readRevision { service.readRevision = readRevision }
        if let readExtendedData { service.readExtendedData = readExtendedData }
        if let writeRevision { service.writeRevision = writeRevision }
        if let writeExtendedData { service.writeExtendedData = writeExtendedData }
        if let interface {
            let known = ["RemoteServiceInterface", "Bimsie1RemoteServiceInterface"]
            guard let match = known.first(where: { $0.caseInsensitiveCompare(interface) == .orderedSame }) else {
                throw RelayError.invalidArgument(
                    "unknown interface '\(interface)' (known: \(known.joined(separator: ", ")))")
            }
            service.notificationInterface = match
        }
        if let userToken { service.userToken = userToken }
        if let signingSecret {
            guard signingSecret.hasPrefix(Secrets.signingSecretPrefix), Secrets.signingKey(signingSecret) != nil else {
                throw RelayError.invalidArgument(
                    "--signing-secret must be whsec_ followed by the base64 of 24 to 64 bytes")
            }
            service.signingSecret = signingSecret
        }
        if let retrySchedule {
            service.retrySchedule = try RetrySchedule(parsing: retrySchedule).description
        }
        if let timeout {
            let duration = try DurationText.parse(timeout)
            guard duration > .zero, duration <= .seconds(3600) else {
                throw RelayError.invalidArgument("--timeout must be between 1ms and 1h")
            }
            service.timeoutMs = DurationText.milliseconds(duration)
        }
        if let maxInFlight {
            guard maxInFlight > 0, maxInFlight <= 10_000 else {
                throw RelayError.invalidArgument("--max-in-flight must be between 1 and 10000")
            }
            service.maxInFlight = maxInFlight
        }
        if let ordered { service.ordered = ordered }
        if let exactUrl { service.exactUrl = exactUrl }
    }

    /// An absolute http(s) URL with a host, or (with `allowEmpty`) the empty string.
    static func checkedURL(_ text: String, flag: String, allowEmpty: Bool = false) throws -> String {
        if allowEmpty && text.isEmpty { return text }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
        else {
            throw RelayError.invalidArgument("\(flag): '\(text)' is not an http(s) URL with a host")
        }
        return text
    }
}
