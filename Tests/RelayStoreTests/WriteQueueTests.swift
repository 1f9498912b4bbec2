import Dispatch
import Foundation
import Logging
import RelayCore
import RelayTestSupport
import Synchronization
import Testing

@testable import RelayStore

@Suite("Group-commit writer")
struct WriteQueueTests {
    @Test("shutdown finishes every job already submitted, then refuses new ones")
    func shutdownDrains() async throws {
        let (database, folder) = try StoreFixtures.database()
        defer { folder.remove() }
        let storage = SQLiteStorage(database: database, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        let writer = Task { try await storage.services[0].run() }
        // The first job holds the writer thread while the others queue behind it.
        let gate = DispatchSemaphore(value: 0)
        let entered = Atomic<Bool>(false)
        let first = Task {
            try await storage.write { tx in
                entered.store(true, ordering: .relaxed)
                gate.wait()
                return try tx.services.add(StoreConformanceTests.service("first")).identifier
            }
        }
        try await poll(until: "the first job runs") { entered.load(ordering: .relaxed) }
        let queued = (0..<10).map { n in
            Task {
                try await storage.write { tx in try tx.services.add(StoreConformanceTests.service("q\(n)")).identifier }
            }
        }
        try await poll(until: "ten jobs wait") { storage.waitingJobs == 10 }
        writer.cancel()  // what graceful shutdown does: stop accepting, finish what was submitted
        gate.signal()
        #expect(try await first.value == "first")
        for (n, job) in queued.enumerated() { #expect(try await job.value == "q\(n)") }
        _ = try? await writer.value
        await #expect(throws: RelayError.self) {
            try await storage.write { tx in try tx.services.add(StoreConformanceTests.service("late")) }
        }
        let names = try await storage.read { tx in try tx.services.list().map(\.identifier) }
        #expect(names.count == 11 && !names.contains("late"))
        #expect(storage.writeStatistics.jobs == 11)
    }
}
