import Foundation
import PrefixCore
import PrefixFormats
import PrefixStore
import TestSupport
import Testing

/// An encoder-decoder checkpoint's sections in the store: saved under `/prefix/<section>/...`
/// with their rows in the catalog, read back equal, and one refusal per way content can be wrong.
@Suite("Store: encoder-decoder sections")
struct StoreSectionTests {
    /// A store holding the T5 fixture's base (L = 4 encoder and decoder blocks, 3 heads of 6).
    static func t5Store(_ dir: TemporaryDirectory) throws -> (Store, String) {
        let directory = try HFModelDirectory(path: Processes.repositoryRoot + "/fixtures/seq2seq/t5/base")
        let tensors = try directory.tensors.map { NamedTensor($0.name, try $0.load()) }
        let store = try Store.create(at: dir.path + "/s")
        let base = try store.saveBase(
            BaseWeights(config: directory.config, configJSON: directory.configJSON, tensors: tensors),
            provenance: Provenance(sourceFormat: "test"))
        return (store, base.base.fingerprint)
    }

    static func layers(_ count: Int, seed: UInt64, pn: Int = 2) -> [LayerPrefix] {
        var random = SeededRandom(seed: seed)
        return (0..<count).map { _ in
            .kv(
                key: Tensor(shape: [3, pn, 6], floats: random.normals(3 * pn * 6, scale: 1)),
                value: Tensor(shape: [3, pn, 6], floats: random.normals(3 * pn * 6, scale: 1)))
        }
    }

    /// The paper's three sections on the T5 base.
    static func paper() -> CheckpointContent {
        var content = CheckpointContent(form: .kv, prefixLength: 2, layers: layers(4, seed: 1))
        content.encoderLayers = layers(4, seed: 2)
        content.crossLayers = layers(4, seed: 3)
        content.encoderPositions = PositionConvention(prefixStart: 0, inputStart: 2)
        return content
    }

    /// The message of the error saving `content` on `base` throws.
    static func refusal(_ store: Store, _ content: CheckpointContent, base: String) -> String {
        do {
            _ = try store.saveCheckpoint(content, as: CheckpointSpec(name: "c", step: 1, base: base))
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test("three sections are saved under their blob paths and catalog rows, and load back equal")
    func roundTrip() throws {
        let dir = TemporaryDirectory()
        let (store, base) = try Self.t5Store(dir)
        let content = Self.paper()
        let saved = try store.saveCheckpoint(content, as: CheckpointSpec(name: "paper", step: 1, base: base))
        let info = try store.checkpoint("paper")
        #expect(info.encoderLayers == 4 && info.crossLayers == 4 && info.layout == .direct && saved.summary.tensorsWritten == 24)
        let back = try store.load(info, verify: true)
        #expect(back.layers == content.layers && back.encoderLayers == content.encoderLayers && back.crossLayers == content.crossLayers)
        #expect(back.encoderPositions == content.encoderPositions)
        let sections = try Processes.run(
            "/usr/bin/sqlite3",
            [dir.path + "/s/catalog.sqlite", "SELECT section, count(*) FROM checkpoint_tensor GROUP BY section ORDER BY section"]
        ).stdout
        #expect(sections == "cross|8\ndecoder|8\nencoder|8\n", "\(sections)")
        let paths = try Set(store.tensorEntries(of: info).map(\.dataset))
        #expect(paths.contains("/prefix/encoder/layer_00/key") && paths.contains("/prefix/cross/layer_03/value"), "\(paths.sorted())")
    }

    @Test("sections on a one-stack base are refused")
    func oneStack() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let base = try store.saveBase(Builders.tinyBase(), provenance: Provenance(sourceFormat: "test"))
        var content = Builders.kvPrefix()
        content.crossLayers = content.layers
        #expect(Self.refusal(store, content, base: base.base.fingerprint).contains("has one stack"))
    }

    @Test("an encoder section of another length than the base's encoder is refused")
    func encoderLength() throws {
        let dir = TemporaryDirectory()
        let (store, base) = try Self.t5Store(dir)
        var content = Self.paper()
        content.encoderLayers.removeLast()
        let message = Self.refusal(store, content, base: base)
        #expect(message.contains("the base's encoder has 4 blocks but the encoder section holds 3"), "\(message)")
    }

    @Test("a cross section of another length than the decoder is refused")
    func crossLength() throws {
        let dir = TemporaryDirectory()
        let (store, base) = try Self.t5Store(dir)
        var content = Self.paper()
        content.crossLayers += Self.layers(1, seed: 9)
        let message = Self.refusal(store, content, base: base)
        #expect(message.contains("the cross section holds 5"), "\(message)")
    }

    @Test("a hidden-form checkpoint with a cross section is refused")
    func hiddenCross() throws {
        let dir = TemporaryDirectory()
        let (store, base) = try Self.t5Store(dir)
        var random = SeededRandom(seed: 4)
        var content = CheckpointContent(
            form: .hidden, prefixLength: 2,
            layers: (0..<4).map { _ in .hidden(Tensor(shape: [2, 16], floats: random.normals(32, scale: 1))) })
        content.crossLayers = Self.layers(4, seed: 5)
        let message = Self.refusal(store, content, base: base)
        #expect(message.contains("a hidden-form checkpoint cannot hold one"), "\(message)")
    }

    @Test("PEFT's layout with an encoder section is refused")
    func peftWithEncoder() throws {
        let dir = TemporaryDirectory()
        let (store, base) = try Self.t5Store(dir)
        var content = Self.paper()
        content.layout = .peftSeq2Seq
        content.crossLayers = []
        let message = Self.refusal(store, content, base: base)
        #expect(message.contains("it holds no encoder or cross-attention section"), "\(message)")
    }

    @Test("negative encoder positions are refused")
    func negativePositions() throws {
        let dir = TemporaryDirectory()
        let (store, base) = try Self.t5Store(dir)
        var content = Self.paper()
        content.encoderPositions = PositionConvention(prefixStart: -1, inputStart: 0)
        #expect(Self.refusal(store, content, base: base).contains("encoder positions must be non-negative"))
    }
}
