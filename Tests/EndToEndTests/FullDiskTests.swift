import Foundation
import GRDB
import RelayCore
import RelayStore
import RelayTestSupport
import Testing

/// The database's disk fills up under a real `serve`: requests are refused clearly, nothing
/// acknowledged is lost, and the relay recovers when space returns.
@Suite("Full disk")
struct FullDiskTests {
    /// A small tmpfs mounted for one test (needs root, as on CI and the developers' machines).
    final class SmallDisk: @unchecked Sendable {
        let folder: TemporaryDirectory
        let mountPoint: String

        init(megabytes: Int) async throws {
            folder = try TemporaryDirectory()
            mountPoint = folder.path("disk")
            try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
            let mount = try await Subprocess.run(
                try #require(Subprocess.find("mount")),
                ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", mountPoint],
                environment: [:])
            guard mount.status == 0 else { throw MountFailed(message: mount.stderr) }
        }

        /// Fills what is left of the disk with one file.
        func fill() async throws -> String {
            let filler = mountPoint + "/filler"
            _ = try await Subprocess.run(
                "/bin/sh", ["-c", "head -c 100000000 /dev/zero > '\(filler)'"], environment: [:])
            return filler
        }

        func remove() async {
            _ = try? await Subprocess.run("/bin/umount", ["-l", mountPoint], environment: [:])
            folder.remove()
        }
    }

    struct MountFailed: Error {
        let message: String
    }

    static var canMount: Bool { getuid() == 0 && Subprocess.find("mount") != nil }

    @Test(
        "on a full disk ingest is refused with a ServerException, nothing acknowledged is lost, and it recovers",
        .enabled(if: canMount))
    func fullDisk() async throws {
        let disk = try await SmallDisk(megabytes: 4)
        let receiver = try await TestReceiver.start()
        do {
            let db = disk.mountPoint + "/relay.sqlite"
            #expect(try await RelayExecutable.run(["migrate", "--db", db]).status == 0)
            let producer = try await RelayExecutable.issueToken(db: db, user: "bim", role: "producer")
            let added = try await RelayExecutable.run(
                [
                    "service", "add", "--identifier", "svc", "--name", "S", "--url", receiver.url, "--trigger",
                    "NEW_REVISION", "--db", db,
                ])
            #expect(added.status == 0, "\(added)")
            let relay = try await RelayProcess.start(database: db)
            var acknowledged = Set<Int64>()
            func ingest(_ roid: Int64) async throws -> Bool {
                let response = try await TestHTTP.request(
                    "\(relay.baseURL)/json", method: "POST",
                    body: BIMserverRequests.newRevision(
                        userToken: producer, poid: 1, roid: roid, serviceIdentifier: "bimrelay"))
                if response.body == #"{"response":{"result":{}}}"# {
                    acknowledged.insert(roid)
                    return true
                }
                #expect(response.status == 500 && response.body.contains("ServerException"), "\(response.body)")
                return false
            }
            for roid: Int64 in 1...5 { #expect(try await ingest(roid)) }
            try await poll(until: "the first five delivered") { receiver.received.count == 5 }

            let filler = try await disk.fill()
            var refused = 0
            for roid: Int64 in 6...40 where try await !ingest(roid) { refused += 1 }
            #expect(refused > 0, "the disk never filled up")

            try FileManager.default.removeItem(atPath: filler)
            try await poll(until: "ingest accepted again") { try await ingest(1000) }
            #expect(try await TestHTTP.request("\(relay.baseURL)/health").status == 200)
            // Every acknowledged event reaches the service (at least once; none is lost).
            func delivered() throws -> Set<Int64> {
                Set(
                    try receiver.received.compactMap { received -> Int64? in
                        guard
                            case .int(let roid)? = try JSONValue.parse(received.body)["request"]?["parameters"]?["roid"]
                        else { return nil }
                        return roid
                    })
            }
            try await poll(until: "every acknowledged event delivered", timeout: .seconds(30)) {
                try acknowledged.isSubset(of: delivered())
            }
            #expect(try delivered() == acknowledged)
            #expect(await relay.terminate() == 0, "\(relay.log)")
            #expect(!relay.wasSignalled)
        } catch {
            await receiver.stop()
            await disk.remove()
            throw error
        }
        await receiver.stop()
        await disk.remove()
    }
}
