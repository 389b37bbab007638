import Foundation
import PrefixCompute
import PrefixCore
import PrefixRuntime
import PrefixStore
import TestSupport
import Testing

/// A stored checkpoint as the engine runs it: the base's tensors and the prefix streamed from
/// the store give exactly the stack built from the same values in memory.
@Suite("A stored checkpoint as a runnable stack")
struct StoreTensorSourceTests {
    static func ids(_ values: [Int64], rows: Int) throws -> Tensor {
        try Tensor(
            dtype: .i64, shape: [rows, values.count / rows], bytes: values.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
    }

    @Test("stack(for:) on stored tensors computes what the in-memory stack computes, bit for bit", arguments: [false, true])
    func sameAsInMemory(keyValue: Bool) throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let base = Builders.tinyBase()
        let content = keyValue ? Builders.kvPrefix() : Builders.hiddenPrefix()
        let saved = try store.saveBase(base, provenance: Provenance(sourceFormat: "test"))
        let checkpoint = try store.saveCheckpoint(
            content, as: CheckpointSpec(name: "run", step: 1, base: saved.base.shortReference)
        ).checkpoint
        let input = try ForwardInput(ids: Self.ids([1, 5, 9, 2, 0, 0, 7, 3], rows: 2))
        let stored = try store.stack(for: checkpoint, verify: true).forward(input, as: Double.self, options: ForwardOptions(logits: true))
        let memory = try PrefixStack(config: base.config, weights: InMemoryTensors(base.tensors), prefix: PrefixSource(content))
            .forward(input, as: Double.self, options: ForwardOptions(logits: true))
        #expect(stored.final == memory.final)
        #expect(stored.logits == memory.logits && stored.logits != nil)
        #expect(stored.layerOutputs == memory.layerOutputs)
    }

    @Test("StoredBaseTensors lists the catalog's names and shapes and loads the stored bytes")
    func tensors() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let base = Builders.tinyBase()
        let info = try store.saveBase(base, provenance: Provenance(sourceFormat: "test")).base
        let source = try StoredBaseTensors(store: store, base: info, verify: true)
        let infos = try source.tensorInfos()
        #expect(infos.count == base.tensors.count)
        for named in base.tensors {
            #expect(infos[named.name]?.shape == named.tensor.shape.dimensions, "\(named.name)")
            #expect(try source.load(named.name) == named.tensor, "\(named.name)")
        }
        #expect(throws: (any Error).self) { try source.load("no.such.tensor") }
    }
}
