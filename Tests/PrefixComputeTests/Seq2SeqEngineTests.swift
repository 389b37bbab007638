import Foundation
import PrefixCompute
import PrefixCore
import PrefixFormats
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

/// The paper's semantics against the independent NumPy reference, block by block, and the
/// engine's refusals on encoder-decoders.
@Suite("Encoder-decoders against the NumPy reference")
struct Seq2SeqReferenceTests {
    static let root = Seq2SeqEngineTests.root

    /// The fixture's stack with the paper's three sections (`paper/prefix.safetensors`).
    static func paper(_ name: String) throws -> (PrefixStack, ForwardInput, ActivationExchange) {
        let base = try HFModelDirectory(path: "\(root)/\(name)/base")
        let weights = try base.tensors.map { NamedTensor($0.name, try $0.load()) }
        let config = base.config
        let file = "\(root)/\(name)/paper/prefix.safetensors"
        let content = try PrefixFile.content(
            try PrefixFile.read(path: file), path: file, flat: false, tensor: nil, layers: config.numLayers,
            kvHeads: config.prefixKVHeads, headDim: config.headDim, encoderLayers: config.encoderLayers)
        let stack = try PrefixStack(config: config, weights: InMemoryTensors(weights), prefix: PrefixSource(content))
        let reference = try ActivationExchange.read(path: "\(root)/\(name)/paper/numpy_expected.npz")
        var input = try ForwardInput(ids: try #require(reference.inputIDs), mask: reference.attentionMask)
        try input.setDecoderIDs(try #require(reference.decoderInputIDs))
        return (stack, input, reference)
    }

    @Test(
        "the paper's semantics: every encoder and decoder block teacher-forced, and end to end, agree with NumPy to 1e-12 (f64)",
        arguments: Seq2SeqEngineTests.names)
    func paperPerLayer(name: String) throws {
        let (stack, input, reference) = try Self.paper(name)
        let mask = input.mask
        let real: (Int, Int) -> Bool = { b, r in mask[b][r] }
        let encoderFinal = try #require(reference.encoderFinal)
        for l in 0..<stack.encoderLayers {
            let run = try stack.runLayer(
                l, rows: try #require(reference.encoderLayerInputs[l]), mask: mask, prefix: try stack.prefix.encoderLayer?(l),
                context: .encoder, as: Double.self)
            let error = Closeness.relativeError(run.output, try #require(reference.encoderLayerOutputs[l]), include: real)
            #expect(error <= 1e-12, "\(name) encoder \(l): \(error)")
        }
        let t = try #require(reference.decoderInputIDs).shape[1]
        let decoderMask = Array(repeating: Array(repeating: true, count: t), count: mask.count)
        for l in 0..<stack.config.numLayers {
            let context = LayerContext.decoder(encoderStates: encoderFinal, encoderMask: mask, crossPrefix: try stack.prefix.crossLayer?(l))
            let run = try stack.runLayer(
                l, rows: try #require(reference.layerInputs[l]), mask: decoderMask, prefix: try stack.prefix.layer(l), context: context,
                as: Double.self)
            let error = Closeness.relativeError(run.output, try #require(reference.layerOutputs[l]))
            #expect(error <= 1e-12, "\(name) decoder \(l): \(error)")
        }
        let result = try stack.forward(input, as: Double.self, options: ForwardOptions(logits: true))
        #expect(Closeness.relativeError(result.final, try #require(reference.final)) <= 1e-12)
        #expect(Closeness.relativeError(try #require(result.logits), try #require(reference.logits)) <= 1e-12)
        #expect(Closeness.relativeError(try #require(result.encoder?.final), encoderFinal, include: real) <= 1e-12)
    }

    @Test("an encoder-decoder's forward without decoder ids is refused, naming decoder_input_ids")
    func noDecoderIDs() throws {
        let (stack, input, _) = try Self.paper("bart")
        var encoderOnly = input
        encoderOnly.decoderIDs = nil
        #expect(throws: ComputeError.self) { try stack.forward(encoderOnly, as: Double.self) }
        do { _ = try stack.forward(encoderOnly, as: Double.self) } catch {
            #expect(error.tensor == "decoder_input_ids" && error.message.contains("needs decoder input ids"), "\(error)")
        }
    }

    @Test("a teacher-forced decoder block without the encoder's rows is refused")
    func decoderBlockWithoutEncoder() throws {
        let (stack, _, reference) = try Self.paper("t5")
        let rows = try #require(reference.layerInputs[0])
        let mask = Array(repeating: Array(repeating: true, count: rows.shape[1]), count: rows.shape[0])
        let prefix = try stack.prefix.layer(0)
        do {
            _ = try stack.runLayer(0, rows: rows, mask: mask, prefix: prefix, as: Double.self)
            Issue.record("ran a decoder block without cross-attention input")
        } catch {
            #expect(error.message.contains("needs the encoder's final rows"), "\(error)")
        }
    }

    @Test("a hidden-form cross-attention prefix in a key/value checkpoint is refused, naming the section's layer")
    func hiddenCrossPrefix() throws {
        let (stack, input, _) = try Self.paper("bart")
        var source = stack.prefix
        source.crossLayer = { _ in .hidden(Tensor(shape: [3, 16], doubles: Array(repeating: 0.1, count: 48))) }
        let broken = try PrefixStack(config: stack.config, weights: stack.weightSource, prefix: source)
        do {
            _ = try broken.forward(input, as: Double.self)
            Issue.record("ran a hidden-form cross-attention prefix")
        } catch {
            // Caught where every layer is checked against the checkpoint's form, naming the section.
            #expect(error.tensor == "cross.layer_00" && error.message.contains("hidden form, expected kv"), "\(error)")
        }
    }
}
