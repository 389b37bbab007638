import Foundation
import PrefixCompute
import PrefixConvert
import PrefixCore
import PrefixFormats
import TestSupport
import Testing

@Suite("Activation exchange format")
struct ActivationExchangeTests {
    @Test("a forward pass written as an exchange reads back equal, and NumPy sees the documented keys")
    func roundTrip() throws {
        let fixture = try EngineFixture("gpt2-tiny", prefixLength: 4, inputLength: 4)
        let stack = try PrefixStack(config: fixture.config, weights: InMemoryTensors(fixture.weights), prefix: PrefixSource(fixture.hidden))
        let input = try fixture.input()
        let exchange = try ActivationExchange(
            result: try stack.forward(input, as: Float.self, options: ForwardOptions(logits: true)), input: input)
        let dir = TemporaryDirectory()
        try exchange.write(to: dir.path + "/x.npz")
        #expect(try ActivationExchange.read(path: dir.path + "/x.npz") == exchange)
        let keys = try Processes.python(
            """
            import numpy as np, sys, json
            z = np.load(sys.argv[1])
            print(" ".join(f"{k}:{list(z[k].shape)}" for k in z.keys() if k != "meta"), json.loads(str(z["meta"]))["form"])
            """, [dir.path + "/x.npz"])
        #expect(
            keys.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                == "input_ids:[2, 4] attention_mask:[2, 4] layer_00.input:[2, 8, 8] layer_00.output:[2, 4, 8] layer_01.input:[2, 8, 8] layer_01.output:[2, 4, 8] final:[2, 4, 8] logits:[2, 4, 32] hidden"
        )
    }

    @Test("the reference fixtures parse as exchanges")
    func fixturesParse() throws {
        let exchange = try ActivationExchange.read(path: EngineFixture.root + "/llama-gqa-tiny/pn20-n128/expected_hidden.npz")
        #expect(exchange.layerCount == 2 && exchange.layerInputs[1]?.shape == [2, 148, 16] && exchange.final?.shape == [2, 128, 16])
        #expect(exchange.meta?.contains("\"form\": \"hidden\"") == true)
    }

    @Test("inconsistent exchanges are refused")
    func inconsistent() {
        let both = #expect(throws: FormatError.self) {
            try ActivationExchange(entries: [
                ("input_ids", .tensor(Builders.randomTensor(.i64, [1, 2], seed: 1))),
                ("inputs_embeds", .tensor(Builders.randomTensor(.f32, [1, 2, 4], seed: 2))),
            ])
        }
        #expect(both?.code == .inconsistent)
        let rank = #expect(throws: FormatError.self) {
            try ActivationExchange(entries: [("layer_00.output", .tensor(Builders.randomTensor(.f32, [2, 4], seed: 3)))])
        }
        #expect(rank?.member == "layer_00.output")
        let meta = #expect(throws: FormatError.self) {
            try ActivationExchange(entries: [("meta", .tensor(Builders.randomTensor(.f32, [1], seed: 4)))])
        }
        #expect(meta?.code == .inconsistent)
    }
}

@Suite("Activation exchange format: encoder-decoders")
struct Seq2SeqExchangeTests {
    static let reference = Processes.repositoryRoot + "/fixtures/seq2seq/t5/reference.npz"

    @Test("an encoder-decoder's exchange reads each stack into its place and writes the same keys back")
    func sections() throws {
        let exchange = try ActivationExchange.read(path: Self.reference)
        #expect(exchange.isEncoderDecoder && exchange.encoderLayerCount == 4 && exchange.layerCount == 4)
        #expect(exchange.decoderInputIDs?.shape == [3, 4] && exchange.encoderFinal?.shape == [3, 6, 16])
        #expect(exchange.layerInputs[0]?.shape == [3, 4, 16] && exchange.encoderLayerInputs[0]?.shape == [3, 6, 16])
        #expect(exchange.other.isEmpty, "\(exchange.other.keys.sorted())")
        let names = exchange.entries().map(\.name)
        #expect(Set(names) == Set(try NPZ.read(path: Self.reference).map(\.name)))
        let dir = TemporaryDirectory()
        try exchange.write(to: dir.path + "/x.npz")
        #expect(try ActivationExchange.read(path: dir.path + "/x.npz") == exchange)
    }

    @Test("mixing one-stack layer keys with an encoder-decoder's is refused")
    func mixed() throws {
        var entries = try NPZ.read(path: Self.reference)
        let tensor = try #require(entries.first { $0.name == "decoder.layer_00.input" }?.value)
        entries.append(("layer_00.input", tensor))
        #expect(throws: FormatError.self) { try ActivationExchange(entries: entries) }
        entries.removeAll { $0.name.hasPrefix("decoder.") }
        do {
            _ = try ActivationExchange(entries: entries)
            Issue.record("accepted a plain layer key in an encoder-decoder's exchange")
        } catch {
            #expect("\(error)".contains("name decoder blocks decoder.layer_NN"), "\(error)")
        }
    }

    @Test("decoder ids longer than the model's positions, or of another batch, are refused from the header")
    func decoderBounds() throws {
        let entries = try NPZ.read(path: Self.reference)
        let dir = TemporaryDirectory()
        let ids = try Tensor(dtype: .i64, shape: [2, 4], bytes: Array(repeating: 0, count: 64))
        try NPZ.write(entries.filter { $0.name != "decoder_input_ids" } + [("decoder_input_ids", .tensor(ids))], to: dir.path + "/x.npz")
        let bounds = ExchangeBounds(layers: 4, hiddenSize: 16, vocabSize: 64, prefixLength: 3, maxPositions: 64)
        do {
            _ = try ActivationExchange.read(path: dir.path + "/x.npz", bounds: bounds)
            Issue.record("accepted decoder ids of another batch")
        } catch {
            #expect("\(error)".contains("'decoder_input_ids' has shape [2, 4]; expected [3, T]"), "\(error)")
        }
        let ok = try ActivationExchange.read(path: Self.reference, bounds: bounds)
        #expect(ok.decoderInputIDs?.shape == [3, 4])
    }
}
