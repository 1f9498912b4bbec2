import Foundation
import RelayCore
import RelayTestSupport
import Testing

/// The documentation's shell examples run as written: every `sh` block of a file, in order, in one
/// bash script, against a real relay (`bimrelay serve` as a child process) and a real receiver.
@Suite("Documentation examples")
struct DocsTests {
    /// The repository (this file is `Tests/EndToEndTests/DocsTests.swift`).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The documents whose `sh` blocks run; `console` blocks (servers, systemd, Docker) do not.
    static let documents = ["README.md", "docs/operations.md", "docs/protocol.md"]

    /// The port and receiver the documents use, replaced by the test's own.
    static let documentedRelay = "127.0.0.1:8085"
    static let documentedReceiver = "127.0.0.1:9000"

    /// The bodies of the fenced blocks tagged `language`, in order.
    static func blocks(_ text: String, language: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        var inOtherBlock = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                if let lines = current {
                    blocks.append(lines.joined(separator: "\n"))
                    current = nil
                } else if inOtherBlock {
                    inOtherBlock = false
                } else if line.dropFirst(3) == language {
                    current = []
                } else {
                    inOtherBlock = true
                }
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    /// Runs the `sh` blocks of `document` with a relay in a fresh folder and returns the output.
    static func runShellBlocks(
        of document: String, receiver: TestReceiver
    ) async throws -> (result: CommandResult, folder: TemporaryDirectory) {
        let text = try String(contentsOf: root.appendingPathComponent(document), encoding: .utf8)
        let blocks = Self.blocks(text, language: "sh")
        #expect(!blocks.isEmpty, "\(document) has no sh blocks")
        let folder = try TemporaryDirectory()
        let relay = try await RelayProcess.start(database: folder.path("bimrelay.sqlite"))
        let script =
            """
            set -euo pipefail
            # `swift run bimrelay …` in the README is the built binary here.
            swift() { if [ "$1" = run ]; then shift; "$@"; else command swift "$@"; fi; }
            \(blocks.joined(separator: "\n"))
            """
            .replacingOccurrences(of: documentedRelay, with: "127.0.0.1:\(relay.port)")
            .replacingOccurrences(of: documentedReceiver, with: "127.0.0.1:\(receiver.port)")
        var environment = RelayExecutable.cleanEnvironment
        let binaries = URL(fileURLWithPath: RelayExecutable.path).deletingLastPathComponent().path
        environment["PATH"] = binaries + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        let result = try await Subprocess.run(
            "/usr/bin/timeout", ["120", "/bin/bash", "-c", script], environment: environment,
            currentDirectory: folder.url)
        let status = await relay.terminate()
        #expect(status == 0, "relay: \(relay.log)")
        return (result, folder)
    }

    @Test(
        "every sh block of the README and docs/ runs as written",
        .enabled(if: Subprocess.find("sqlite3") != nil && Subprocess.find("curl") != nil),
        arguments: documents)
    func shellBlocksRun(document: String) async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        let (result, folder) = try await Self.runShellBlocks(of: document, receiver: receiver)
        defer { folder.remove() }
        #expect(result.status == 0, "\(document): \(result)")
        switch document {
        case "docs/operations.md":
            // The walkthrough's notification reached the service; the recipes found it.
            #expect(receiver.received.count == 1)
            #expect(result.stdout.contains("delivered"))
            #expect(result.stdout.contains("65539"))
            #expect(result.stdout.contains("ok"))  // integrity_check of the backup
            #expect(result.stdout.contains("bimrelay_deliveries_total{outcome=\"delivered\"} 1"))
            #expect(FileManager.default.fileExists(atPath: folder.path("backup.sqlite")))
            #expect(!result.stdout.contains("\"exception\""), "\(result.stdout)")
        case "docs/protocol.md":
            #expect(result.stdout.contains(#""__type":"SServiceDescriptor""#))
            #expect(result.stdout.contains(#""progress":40"#))
            // The idempotent retry stored one event and answered twice the same.
            #expect(result.stdout.split(separator: "\n").contains("1"))
            #expect(
                result.stdout.contains(
                    #"{"response":{"exception":{"__type":"UserException","message":"Missing parameter: newRevision -> roid"}}}"#
                ))
        default:
            #expect(result.stdout.contains(#"{"response":{"result":{}}}"#))
            #expect(!result.stdout.contains("\"exception\""), "\(result.stdout)")
        }
    }

    @Test("every image the documents show is in the repository")
    func imagesExist() throws {
        var shown = 0
        for document in Self.documents {
            let text = try String(contentsOf: Self.root.appendingPathComponent(document), encoding: .utf8)
            let folder = Self.root.appendingPathComponent(document).deletingLastPathComponent()
            for match in text.matches(of: #/!\[[^\]]*\]\(([^)]+)\)/#) {
                shown += 1
                let path = folder.appendingPathComponent(String(match.1)).path
                #expect(FileManager.default.fileExists(atPath: path), "\(document) shows \(match.1), which is missing")
            }
        }
        #expect(shown >= 6, "the console's screenshots in docs/operations.md")
    }

    @Test("no curl or sqlite3 example hides in a block the tests do not run")
    func examplesAreRunnable() throws {
        for document in Self.documents {
            let text = try String(contentsOf: Self.root.appendingPathComponent(document), encoding: .utf8)
            for language in ["", "bash", "shell", "console"] {
                for block in Self.blocks(text, language: language) {
                    let commands = block.split(separator: "\n").filter { line in
                        line.firstMatch(of: #/(^|[|;&(]\s*)(curl|sqlite3) /#) != nil
                    }
                    #expect(commands.isEmpty, "\(document): a \(language) block runs curl or sqlite3: \(commands)")
                }
            }
        }
    }

    @Test("the SService docs/operations.md adds to a BIMserver project agrees with the relay's own descriptor")
    func documentedService() async throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        let block = try #require(Self.blocks(text, language: "json").first { $0.contains("addServiceToProject") })
        let service = try #require(try JSONValue.parse(block)["request"]?["parameters"]?["sService"])
        try await withTestRelay(
            configure: { $0.publicURL = "https://relay.example.org" },
            { relay in
                let reply = try JSONValue.parse(
                    try await relay.json(
                        #"{"request":{"interface":"RemoteServiceInterface","method":"getService","parameters":{"serviceIdentifier":"bimrelay"}}}"#
                    ).body)
                let descriptor = try #require(reply["response"]?["result"])
                #expect(service["__type"] == "SService")
                #expect(service["serviceIdentifier"] == descriptor["identifier"])
                #expect(service["serviceName"] == descriptor["name"])
                #expect(service["url"] == descriptor["url"])
                #expect(service["trigger"] == descriptor["trigger"])
                #expect(service["readRevision"] == descriptor["readRevision"])
                #expect(service["notificationProtocol"] == descriptor["notificationProtocol"])
                #expect(service["providerName"] == descriptor["providerName"])
                #expect(service["token"]?.stringValue?.hasPrefix("brt_") == true)
            })
    }

    @Test(
        "the Python verification snippet in docs/protocol.md accepts a real delivery and refuses a tampered one",
        .enabled(if: Subprocess.find("python3") != nil))
    func pythonVerification() async throws {
        let receiver = try await TestReceiver.start()
        defer { Task { await receiver.stop() } }
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/protocol.md"), encoding: .utf8)
        let snippet = try #require(Self.blocks(text, language: "python").first)
        try await withTestRelay { relay in
            let producer = try await relay.issueToken(role: .producer)
            let service = try await relay.addService("clash", url: receiver.url)
            try await relay.ingestNewRevision(producer: producer, roid: 65539)
            try await poll(until: "the delivery") { receiver.received.count == 1 }
            let delivery = receiver.received[0]
            let headers = ["webhook-id", "webhook-timestamp", "webhook-signature"].map { name in
                (name, JSONValue.string(delivery.header(name) ?? ""))
            }
            let input = JSONValue.object([
                ("secret", .string(service.signingSecret)), ("headers", .object(headers)),
                ("body", .string(delivery.body)),
            ])
            let path = relay.folder.path("delivery.json")
            try Data(input.serialized.utf8).write(to: URL(fileURLWithPath: path))
            let script =
                snippet + """

                    import json, sys
                    data = json.load(open(sys.argv[1]))
                    body = data["body"].encode()
                    print(verify(data["secret"], data["headers"], body),
                          verify(data["secret"], data["headers"], body.replace(b"65539", b"65540")))
                    """
            let python = try #require(Subprocess.find("python3"))
            let result = try await Subprocess.run(
                python, ["-c", script, path], environment: ProcessInfo.processInfo.environment)
            #expect(result.status == 0, "\(result)")
            #expect(result.stdout == "True False\n", "\(result)")
        }
    }
}
