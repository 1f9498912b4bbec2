import Foundation
import RelayCore
import RelayHarness
import RelayTestSupport
import Testing

/// A client that stops reading is disconnected; everyone else keeps receiving, and nothing is lost.
@Suite("Slow consumers")
struct SlowConsumerTests {
    /// A raw WebSocket client in Python that does the handshake, prints its endpoint id, then never reads again.
    static let stalledClient = #"""
        import base64, os, re, socket, sys, time
        port, token = int(sys.argv[1]), sys.argv[2]
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
        buf = b""
        while b"welcome" not in buf:
            buf += s.recv(4096)
        payload = ('{"token":"%s"}' % token).encode()
        mask = os.urandom(4)
        s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        while not re.search(rb'"endpointid":(\d+)}', buf):
            buf += s.recv(4096)
        print(re.search(rb'"endpointid":(\d+)}', buf).group(1).decode(), flush=True)
        time.sleep(120)
        """#

    @Test("a client that stops reading is closed without holding up the others, and its frames stay stored")
    func stalledReader() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let script = folder.path("stalled.py")
        try Self.stalledClient.write(toFile: script, atomically: true, encoding: .utf8)
        try await withTestRelay(
            configure: { $0.streamBufferFrames = 100 },
            { relay in
                let producer = try await relay.issueToken(role: .producer, user: "bim")
                let viewer = try await relay.issueToken(role: .client, user: "viewer")
                let topic = try await StreamTests.createTopic(
                    relay, producer: producer, #""type":"DOWNLOAD","description":"big""#)

                let python = ChildProcess()
                python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                python.arguments = ["python3", script, String(relay.port), viewer]
                let out = Pipe()
                python.standardOutput = out
                try python.run()
                defer { kill(python.processIdentifier, SIGKILL) }
                let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
                let stalled = try #require(Int64(line.trimmingCharacters(in: .whitespacesAndNewlines)))

                let (healthy, endpoint, _) = try await StreamTests.handshake(relay, token: viewer)
                for id in [stalled, endpoint] {
                    try await StreamTests.registry(
                        relay, token: viewer, "registerProgressHandler", #""topicId":\#(topic),"endPointId":\#(id)"#)
                }
                let filler = String(repeating: "x", count: 20_000)
                let total = 1500
                for batch in stride(from: 0, to: total, by: 25) {
                    let calls = (batch..<batch + 25).map { step in
                        #"{"interface":"NotificationRegistryInterface","method":"updateProgressTopic","parameters":{"topicId":\#(topic),"state":{"__type":"SLongActionState","progress":\#(step),"title":"\#(filler)"}}}"#
                    }
                    let response = try await relay.json(
                        #"{"token":"\#(producer)","requests":[\#(calls.joined(separator: ","))]}"#)
                    #expect(response.status == 200)
                }
                var received = 0
                while received < total {
                    _ = try await healthy.next(timeout: .seconds(30))
                    received += 1
                }
                try await poll(until: "the stalled client is dropped", timeout: .seconds(30)) {
                    try await relay.count("endpoints", where: "id = \(stalled) AND connected = 0") == 1
                }
                #expect(try await relay.count("stream_messages", where: "endpoint_id = \(stalled)") == total)
                #expect(relay.runtime.streamHub.openEndpoints == 1)
                await healthy.close()
            })
    }
}
