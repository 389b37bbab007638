import Foundation
import PrefixKit
import TestSupport
import Testing

/// The encoder-decoder fixtures (`fixtures/seq2seq`: T5, Flan-T5, mT5, BART with PEFT
/// SEQ_2_SEQ_LM adapters) through the command line: import, forward, export.
@Suite("Encoder-decoders through the command line")
struct Seq2SeqFixtureTests {
    static let root = Processes.repositoryRoot + "/fixtures/seq2seq"
    static let names = ["t5", "flan-t5", "mt5", "bart"]

    /// A store with the fixture's base and adapter (`adapter@0`).
    static func store(_ name: String, _ dir: TemporaryDirectory) throws -> String {
        let store = dir.path + "/s"
        let run = try Processes.prefixkit(["import", store, "\(root)/\(name)/adapter", "--base", "\(root)/\(name)/base"])
        #expect(run.status == 0, "\(name): \(run.stderr)")
        return store
    }

    @Test("a PEFT SEQ_2_SEQ_LM adapter imports, and forward gives PEFT's logits and both stacks' blocks", arguments: names)
    func forward(name: String) throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(name, dir)
        let reference = "\(Self.root)/\(name)/reference.npz"
        let run = try Processes.prefixkit([
            "forward", store, "adapter", "--input", reference, "--dtype", "f64", "--logits", "--out", dir.path + "/o.npz",
        ])
        #expect(run.status == 0, "\(name): \(run.stderr)")
        let ours = try ActivationExchange.read(path: dir.path + "/o.npz"), theirs = try ActivationExchange.read(path: reference)
        // T5's norm takes its mean square in float32 in transformers (meta norm_dtype).
        let tolerance = theirs.metaString("norm_dtype") == "f32" ? 1e-6 : 1e-10
        let all: (Int, Int) -> Bool = { _, _ in true }
        let logits = Closeness.relativeError(try #require(ours.logits), try #require(theirs.logits), include: all)
        #expect(logits <= tolerance, "\(name): logits differ from PEFT's by \(logits)")
        #expect(ours.metaString("prefix_layout") == "peft-seq2seq", "\(name): \(ours.meta ?? "")")
        #expect(ours.decoderInputIDs == theirs.decoderInputIDs)
        #expect(ours.encoderLayerCount == theirs.encoderLayerCount && ours.layerCount == theirs.layerCount)
        for l in 0..<theirs.layerCount {
            let mine = try #require(ours.layerOutputs[l], "\(name): no decoder block \(l) in forward's output")
            let error = Closeness.relativeError(mine, try #require(theirs.layerOutputs[l]), include: all)
            #expect(error <= tolerance, "\(name) decoder block \(l): \(error)")
        }
    }

    @Test("export --format peft writes PEFT's prompt_embeddings bit-identically, with num_transformer_submodules 2", arguments: names)
    func export(name: String) throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(name, dir)
        let out = dir.path + "/peft"
        let run = try Processes.prefixkit(["export", store, "adapter", "--format", "peft", "--out", out])
        #expect(run.status == 0, "\(name): \(run.stderr)")
        let original = try SafetensorsFile(path: "\(Self.root)/\(name)/adapter/adapter_model.safetensors")
        let exported = try SafetensorsFile(path: out + "/adapter_model.safetensors")
        let a = try original.tensor(try #require(original.entry("prompt_embeddings")))
        let b = try exported.tensor(try #require(exported.entry("prompt_embeddings")))
        #expect(a == b, "\(name): prompt_embeddings differ")
        let config = try String(contentsOfFile: out + "/adapter_config.json", encoding: .utf8)
        #expect(config.contains("\"num_transformer_submodules\": 2") && config.contains("\"task_type\": \"SEQ_2_SEQ_LM\""), "\(config)")
    }

    @Test("an encoder-decoder adapter on a one-stack base, and a one-stack adapter on an encoder-decoder, are refused by name")
    func mismatchedSubmodules() throws {
        let dir = TemporaryDirectory()
        let adapter = dir.path + "/one-stack"
        try FileManager.default.copyItem(atPath: "\(Self.root)/t5/adapter", toPath: adapter)
        let path = adapter + "/adapter_config.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "\"num_transformer_submodules\": 2", with: "\"num_transformer_submodules\": 1")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let run = try Processes.prefixkit(["import", dir.path + "/s", adapter, "--base", "\(Self.root)/t5/base"])
        #expect(
            run.status != 0 && run.stderr.contains("num_transformer_submodules is 1") && run.stderr.contains("encoder-decoder"),
            "\(run.stderr)")
        let gpt2 = try Processes.prefixkit([
            "import", dir.path + "/g", "\(Self.root)/t5/adapter", "--base", Processes.repositoryRoot + "/fixtures/families/gpt2-flags/base",
        ])
        #expect(gpt2.status != 0 && gpt2.stderr.contains("num_transformer_submodules is 2"), "\(gpt2.stderr)")
    }

    @Test("a PEFT seq2seq adapter whose num_layers is not the decoder's block count is refused, saying why")
    func numLayersMismatch() throws {
        let dir = TemporaryDirectory()
        // Flan-T5's adapter (3 layers, 3 heads of 6) on T5's base (4 blocks, 3 heads of 6).
        let run = try Processes.prefixkit(["import", dir.path + "/s", "\(Self.root)/flan-t5/adapter", "--base", "\(Self.root)/t5/base"])
        #expect(
            run.status == 2 && run.stderr.contains("num_layers is 3 but the base's decoder has 4 blocks")
                && run.stderr.contains("2i mod num_layers"), "\(run.status) \(run.stderr)")
        // Nothing written: neither the base nor a checkpoint.
        if FileManager.default.fileExists(atPath: dir.path + "/s/catalog.sqlite") {
            let list = try Processes.prefixkit(["list", dir.path + "/s"])
            #expect(!list.stdout.contains("adapter") && !list.stdout.contains("t5 L=4"), "\(list.stdout)")
        }
    }
}
