import Foundation
import PrefixKit
import TestSupport
import Testing

/// The encoder-decoder engine against HF transformers 5.24 + PEFT 0.21 running the same tiny T5,
/// Flan-T5, mT5 and BART models with a SEQ_2_SEQ_LM prefix adapter in float64
/// (`fixtures/seq2seq`, made by `fixtures/generate_seq2seq.py`): every encoder and decoder
/// block, the encoder's output and the logits.
@Suite("Encoder-decoders against transformers + PEFT")
struct Seq2SeqEngineTests {
    static let root = Processes.repositoryRoot + "/fixtures/seq2seq"
    static let names = ["t5", "flan-t5", "mt5", "bart"]

    /// The fixture's stack under PEFT's layout, and PEFT's outputs (`reference`: the file's stem).
    static func fixture(_ name: String, reference file: String = "reference") throws -> (PrefixStack, ForwardInput, ActivationExchange) {
        let base = try HFModelDirectory(path: "\(root)/\(name)/base")
        let weights = try base.tensors.map { NamedTensor($0.name, try $0.load()) }
        let adapter = try PEFTAdapter(path: "\(root)/\(name)/adapter")
        var content = CheckpointContent(form: .kv, prefixLength: adapter.config.numVirtualTokens, layers: try adapter.layers())
        content.layout = adapter.config.layout
        let stack = try PrefixStack(config: base.config, weights: InMemoryTensors(weights), prefix: PrefixSource(content))
        let reference = try ActivationExchange.read(path: "\(root)/\(name)/\(file).npz")
        var input = try ForwardInput(ids: try #require(reference.inputIDs), mask: reference.attentionMask)
        try input.setDecoderIDs(try #require(reference.decoderInputIDs))
        return (stack, input, reference)
    }

    /// The references and their tolerances: PEFT's own outputs, where T5's norm takes its mean
    /// square in float32 (`norm_dtype`, ~1e-7), and for T5 the same run with that norm in
    /// float64, which leaves only float64 rounding.
    static let cases: [(name: String, reference: String, tolerance: Double)] =
        names.map { ($0, "reference", $0 == "bart" ? 1e-10 : 1e-6) }
        + names.filter { $0 != "bart" }.map { ($0, "reference_norm_f64", 1e-12) }

    @Test(
        "PEFT's layout: encoder blocks unprefixed, decoder block i from stored layer 2i mod L, every block and the logits (f64)",
        arguments: cases.map { "\($0.name)/\($0.reference)" })
    func matchesPEFT(fixture: String) throws {
        let entry = try #require(Self.cases.first { "\($0.name)/\($0.reference)" == fixture })
        let (name, tolerance) = (fixture, entry.tolerance)
        let (stack, input, reference) = try Self.fixture(entry.name, reference: entry.reference)
        #expect((reference.metaString("norm_dtype") == "f32") == (tolerance == 1e-6), "\(name): \(reference.meta ?? "")")
        #expect(stack.config.encoderLayers != nil)
        let result = try stack.forward(input, as: Double.self, options: ForwardOptions(logits: true))
        let encoder = try #require(result.encoder)
        let mask = input.mask
        let all: (Int, Int) -> Bool = { _, _ in true }
        let real: (Int, Int) -> Bool = { b, r in mask[b][r] }
        for l in 0..<(stack.config.encoderLayers ?? 0) {
            let label = layerLabel(l, layerCount: stack.config.encoderLayers ?? 0)
            let error = Closeness.relativeError(
                encoder.layerOutputs[l], try #require(reference.encoderLayerOutputs[l]), include: real)
            #expect(error <= tolerance, "\(name) encoder \(label): \(error)")
        }
        let encoded = Closeness.relativeError(encoder.final, try #require(reference.encoderFinal), include: real)
        #expect(encoded <= tolerance, "\(name) encoder output: \(encoded)")
        for l in 0..<stack.config.numLayers {
            let label = layerLabel(l, layerCount: stack.config.numLayers)
            let error = Closeness.relativeError(
                result.layerOutputs[l], try #require(reference.layerOutputs[l]), include: all)
            #expect(error <= tolerance, "\(name) decoder \(label): \(error)")
        }
        let logits = Closeness.relativeError(try #require(result.logits), try #require(reference.logits), include: all)
        #expect(logits <= tolerance, "\(name) logits: \(logits)")
    }
}
