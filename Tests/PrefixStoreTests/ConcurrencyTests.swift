import Foundation
import PrefixCore
import TestSupport
import Testing

@testable import PrefixStore

@Suite("Concurrent readers and writers")
struct ConcurrencyTests {
    @Test("a second writer waits up to its timeout, then fails with a clear message")
    func secondWriterTimesOut() async throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/s"
        let store = try Store.create(at: path)
        // Hold the writer lock the way a running save does (flock is per open file description,
        // so a second open in this process conflicts exactly as another process would).
        var holder: WriterLock? = try WriterLock(store: path, timeout: 1)
        let blocked = try Store.open(at: path, lockTimeout: 0.3)
        let started = Date()
        let error = #expect(throws: StorageError.self) {
            try blocked.saveBase(Builders.tinyBase(), provenance: Provenance(sourceFormat: "test"))
        }
        #expect(error?.code == .storeLocked)
        #expect(error?.description.contains("another writer") == true)
        #expect(Date().timeIntervalSince(started) >= 0.25)
        #expect(try store.bases().isEmpty)
        // Once the holder is gone, a patient writer succeeds.
        withExtendedLifetime(holder) {}
        holder = nil
        let patient = try Store.open(at: path, lockTimeout: 10)
        #expect(try patient.saveBase(Builders.tinyBase(), provenance: Provenance(sourceFormat: "test")).created)
    }

    @Test("readers listing and loading during saves see the old or the new state, never a half one")
    func readersDuringWrites() async throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/s"
        let store = try Store.create(at: path)
        let config = ModelConfig.gpt2(layers: 4, width: 64, heads: 4, vocabSize: 500, maxPositions: 128)
        try store.saveBase(SyntheticModel.gpt2Base(config, seed: 5), alias: "b", provenance: Provenance(sourceFormat: "test"))
        let steps = 12
        let writer = Task.detached {
            let writerStore = try Store.open(at: path)
            for step in 1...steps {
                try writerStore.saveCheckpoint(
                    SyntheticModel.hiddenPrefix(config, prefixLength: 16, seed: UInt64(step)),
                    as: CheckpointSpec(name: "run", step: step, base: "b"))
            }
        }
        var observations = 0
        var lastCount = 0
        let reader = try Store.open(at: path)
        while true {
            let listed = try reader.checkpoints()
            #expect(listed.count >= lastCount, "a reader saw checkpoints disappear")
            lastCount = listed.count
            for info in listed {
                // Every visible checkpoint is complete and intact.
                let content = try reader.load(info, verify: true)
                #expect(content.layers.count == 4)
                #expect(content == SyntheticModel.hiddenPrefix(config, prefixLength: 16, seed: UInt64(info.step)))
            }
            observations += 1
            if lastCount == steps { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        try await writer.value
        #expect(observations >= 1)
    }
}
