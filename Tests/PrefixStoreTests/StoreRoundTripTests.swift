import Foundation
import PrefixCore
import PrefixStore
import TestSupport
import Testing

@Suite("Saving and loading")
struct StoreRoundTripTests {
    @Test("base, hidden and KV checkpoints load back byte-exact", arguments: [Compression.none, .gzip(level: 4)])
    func roundTrip(compression: Compression) throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.file("store"), compression: compression)
        let weights = Builders.tinyBase()
        let base = try store.saveBase(weights, alias: "tiny", provenance: Provenance(sourceFormat: "test"))
        #expect(base.created)
        let hidden = Builders.hiddenPrefix()
        let kv = Builders.kvPrefix()
        try store.saveCheckpoint(hidden, as: CheckpointSpec(name: "h", step: 1, base: "tiny"))
        try store.saveCheckpoint(kv, as: CheckpointSpec(name: "k", step: 7, base: base.base.shortReference, parent: "h", tags: ["x", "y"]))

        let reopened = try Store.open(at: dir.file("store"))
        #expect(reopened.compression == compression)
        let loadedBase = try reopened.load(reopened.base("tiny"), verify: true)
        #expect(loadedBase.tensors.count == weights.tensors.count)
        let original = Dictionary(uniqueKeysWithValues: weights.tensors.map { ($0.name, $0.tensor) })
        for item in loadedBase.tensors { #expect(original[item.name] == item.tensor, "\(item.name)") }
        #expect(loadedBase.config == weights.config)
        #expect(loadedBase.configJSON == weights.configJSON)

        #expect(try reopened.load(reopened.checkpoint("h@1"), verify: true).layers == hidden.layers)
        let k = try reopened.checkpoint("k")
        #expect(k.step == 7 && k.parent == "h@1" && k.tags == ["x", "y"] && k.form == .kv)
        #expect(try reopened.load(k, verify: true).layers == kv.layers)
        #expect(k.positions == PositionConvention(prefixStart: 0, inputStart: 4))
    }

    @Test("every dtype, 0-rank and zero-size tensors round-trip through MLP and probe", arguments: [Compression.none, .gzip(level: 1)])
    func everyDType(compression: Compression) throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.file("s"), compression: compression)
        let base = try store.saveBase(Builders.tinyBase(), provenance: Provenance(sourceFormat: "test"))
        var content = Builders.hiddenPrefix()
        content.mlp = DType.allCases.enumerated().map { i, dtype in
            NamedTensor("t_\(dtype.rawValue)", Builders.randomTensor(dtype, [3, 5], seed: UInt64(i)))
        }
        content.probe = [
            NamedTensor("scalar", Builders.randomTensor(.f64, [], seed: 99)),
            NamedTensor("empty", Builders.randomTensor(.f32, [0, 8], seed: 98)),
            NamedTensor("input_ids", Builders.randomTensor(.i64, [2, 4], seed: 97)),
        ]
        content.probeMeta = #"{"form": "hidden"}"#
        try store.saveCheckpoint(content, as: CheckpointSpec(name: "all", step: 0, base: base.base.fingerprint))
        let loaded = try Store.open(at: dir.file("s")).load(store.checkpoint("all"), verify: true)
        #expect(loaded == content)
    }

    @Test("f16 and bf16 prefixes keep their bits")
    func halfPrefixes() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let base = try store.saveBase(Builders.tinyBase(), provenance: Provenance(sourceFormat: "test"))
        for dtype in [DType.f16, .bf16] {
            var content = Builders.hiddenPrefix()
            content.layers = content.layers.map { layer in
                guard case .hidden(let p) = layer else { return layer }
                return .hidden(p.converted(to: dtype))
            }
            try store.saveCheckpoint(content, as: CheckpointSpec(name: dtype.rawValue, step: 1, base: base.base.fingerprint))
            #expect(try store.load(store.checkpoint(dtype.rawValue), verify: true) == content)
        }
    }

    @Test("loading one layer reads only that layer's tensors, never the base")
    func lazyLayerLoad() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let base = try store.saveBase(Builders.tinyBase(), provenance: Provenance(sourceFormat: "test"))
        let content = Builders.hiddenPrefix()
        try store.saveCheckpoint(content, as: CheckpointSpec(name: "c", step: 1, base: base.base.fingerprint))
        // Destroy the base's blob: a per-layer load must not notice.
        let baseBlob = try store.tensorEntries(of: base.base)[0].blobPath
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: "\(store.directory)/\(baseBlob)"))
        let info = try store.checkpoint("c")
        #expect(try store.prefix(of: info, layer: 1, verify: true) == content.layers[1])
        #expect(throws: StorageError.self) { try store.prefix(of: info, layer: 2) }
    }

    @Test("references: NAME is the latest step, base:FP prefixes of 8+ digits, aliases")
    func references() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let base = try store.saveBase(Builders.tinyBase(), alias: "b", provenance: Provenance(sourceFormat: "test"))
        for step in [3, 10, 2] {
            try store.saveCheckpoint(Builders.hiddenPrefix(seed: UInt64(step)), as: CheckpointSpec(name: "run", step: step, base: "b"))
        }
        #expect(try store.checkpoint("run").step == 10)
        #expect(try store.checkpoint("run@2").step == 2)
        #expect(try store.base("base:" + base.base.fingerprint.prefix(8)).fingerprint == base.base.fingerprint)
        #expect(try store.base(String(base.base.fingerprint.prefix(10))).alias == "b")
        let short = #expect(throws: StorageError.self) { try store.base("base:" + base.base.fingerprint.prefix(7)) }
        #expect(short?.code == .notFound)
        let missing = #expect(throws: StorageError.self) { try store.checkpoint("run@4") }
        #expect(missing?.code == .notFound)
        let list = try store.checkpoints()
        #expect(list.map(\.step) == [2, 3, 10])
    }
}
