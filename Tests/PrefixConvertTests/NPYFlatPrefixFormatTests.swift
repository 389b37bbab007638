import Foundation
import PrefixConvert
import PrefixCore
import PrefixFormats
import PrefixStore
import TestSupport
import Testing

/// A `.npy` of PEFT's flat prompt tensor (`get_prompt_embedding_to_save`, saved by `numpy.save`
/// from the gpt2-tiny adapter's own tensor) is one more import format: one file and one line in
/// the registry.
@Suite("Import of a .npy flat prompt tensor")
struct NPYFlatPrefixFormatTests {
    static let root = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny"

    /// A store with gpt2-tiny's base.
    static func store(_ dir: TemporaryDirectory) throws -> Store {
        let store = try Store.create(at: dir.path + "/s")
        _ = try Importer.run(store, source: root + "/base")
        return store
    }

    @Test("the .npy imports as exactly the adapter's keys and values")
    func sameAsAdapter() throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(dir)
        #expect(try CheckpointFormats.detect(Self.root + "/prompt_embeddings.npy").name == "npy")
        var options = ImportOptions()
        options.name = "npy"
        let report = try Importer.run(store, source: Self.root + "/prompt_embeddings.npy", options: options)
        #expect(report.detected.hasPrefix("NumPy .npy of PEFT's flat prompt tensor, Pn = 4, 2 layers"))
        options.name = "adapter"
        options.baseByShape = true
        let adapter = try Importer.run(store, source: Self.root + "/adapter", options: options)
        let fromNPY = try store.load(try #require(report.checkpoint)), fromAdapter = try store.load(try #require(adapter.checkpoint))
        #expect(fromNPY.form == .kv && fromNPY.prefixLength == 4 && fromNPY.layers == fromAdapter.layers)
    }

    @Test("a width no stored base's layers, heads and head size make is refused, and nothing is written")
    func wrongWidth() throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(dir)
        let path = dir.path + "/narrow.npy"
        try Self.write([Float](repeating: 0.5, count: 4 * 60), shape: [4, 60], to: path)
        #expect(throws: (any Error).self) { try Importer.run(store, source: path) }
        #expect(try store.checkpoints().isEmpty)
    }

    @Test("an array that is not [Pn, width] is refused as not PEFT's flat tensor")
    func notTwoDimensional() throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(dir)
        let path = dir.path + "/flat.npy"
        try Self.write([Float](repeating: 0.5, count: 256), shape: [256], to: path)
        let error = #expect(throws: FormatError.self) { try Importer.run(store, source: path) }
        #expect(error?.code == .inconsistent && error?.description.contains("flat prompt tensor") == true)
        #expect(try store.checkpoints().isEmpty)
    }

    /// An f32 `.npy` of `values` in `shape`.
    static func write(_ values: [Float], shape: [Int], to path: String) throws {
        try NPY.encode(Tensor(shape: try Shape(shape), floats: values)).write(to: URL(fileURLWithPath: path))
    }
}
