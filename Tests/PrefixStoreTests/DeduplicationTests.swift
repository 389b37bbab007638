import Foundation
import PrefixCore
import PrefixStore
import TestSupport
import Testing

@Suite("Deduplication")
struct DeduplicationTests {
    @Test("saving the same base twice writes nothing the second time")
    func sameBaseTwice() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let weights = Builders.tinyBase()
        let first = try store.saveBase(weights, provenance: Provenance(sourceFormat: "test"))
        let second = try store.saveBase(weights, provenance: Provenance(sourceFormat: "test"))
        #expect(first.created && !second.created)
        #expect(second.summary.bytesWritten == 0 && second.summary.tensorsWritten == 0)
        #expect(second.base.fingerprint == first.base.fingerprint)
        #expect(try store.bases().count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/s/blobs").count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/s/tmp").isEmpty)
    }

    @Test("a checkpoint on a stored base writes only its prefix tensors")
    func prefixOnly() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let base = try store.saveBase(Builders.tinyBase(), provenance: Provenance(sourceFormat: "test"))
        let content = Builders.hiddenPrefix()
        let saved = try store.saveCheckpoint(content, as: CheckpointSpec(name: "c", step: 1, base: base.base.fingerprint))
        let prefixBytes = content.layers.reduce(Int64(0)) { total, layer in
            total + layer.parts.reduce(Int64(0)) { $0 + Int64($1.tensor.byteCount) }
        }
        #expect(saved.summary.bytesWritten == prefixBytes)
        #expect(saved.summary.tensorsWritten == content.layers.count)
    }

    @Test("a tensor with the same digest, dtype and shape is stored once, across and within saves")
    func identicalTensors() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let base = try store.saveBase(Builders.tinyBase(), provenance: Provenance(sourceFormat: "test"))
        var content = Builders.hiddenPrefix()
        content.layers[1] = content.layers[0]
        let first = try store.saveCheckpoint(content, as: CheckpointSpec(name: "c", step: 1, base: base.base.fingerprint))
        #expect(first.summary.tensorsWritten == 1 && first.summary.tensorsReused == 1)
        let second = try store.saveCheckpoint(content, as: CheckpointSpec(name: "c", step: 2, base: base.base.fingerprint))
        #expect(second.summary.tensorsWritten == 0 && second.summary.blobPath == nil)
        // Same bytes but another shape is another tensor.
        var reshaped = content
        let kv = Builders.kvPrefix()
        reshaped = kv
        let third = try store.saveCheckpoint(reshaped, as: CheckpointSpec(name: "k", step: 1, base: base.base.fingerprint))
        #expect(third.summary.tensorsWritten == 4)
        #expect(try store.load(store.checkpoint("c@2"), verify: true).layers == content.layers)
    }
}
