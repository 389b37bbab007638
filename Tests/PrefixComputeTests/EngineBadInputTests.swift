import Foundation
import PrefixCompute
import PrefixCore
import PrefixFormats
import TestSupport
import Testing

@Suite("Bad input to the engine")
struct EngineBadInputTests {
    let fixture: EngineFixture

    init() throws { fixture = try EngineFixture("gpt2-tiny", prefixLength: 4, inputLength: 4) }

    private func stack(weights: [NamedTensor]? = nil, prefix: CheckpointContent? = nil, config: ModelConfig? = nil) throws -> PrefixStack {
        try PrefixStack(
            config: config ?? fixture.config, weights: InMemoryTensors(weights ?? fixture.weights),
            prefix: PrefixSource(prefix ?? fixture.hidden))
    }

    @Test("a missing weight is named with its expected shape")
    func missingWeight() {
        let weights = fixture.weights.filter { $0.name != "h.1.mlp.c_fc.weight" }
        let error = #expect(throws: ComputeError.self) { try stack(weights: weights) }
        #expect(error?.code == .missingWeight)
        #expect(error?.description == "a weight the model needs is missing (tensor 'h.1.mlp.c_fc.weight'): expected [8, 32], found nothing")
    }

    @Test("an unused tensor is refused by name")
    func unusedWeight() {
        let weights = fixture.weights + [NamedTensor("h.0.attn.rotary.weight", Tensor(shape: [2], floats: [1, 2]))]
        let error = #expect(throws: ComputeError.self) { try stack(weights: weights) }
        #expect(error?.code == .unknownWeight && error?.tensor == "h.0.attn.rotary.weight")
    }

    @Test("a mis-shaped weight names the key and both shapes")
    func misShaped() throws {
        var weights = fixture.weights
        let index = try #require(weights.firstIndex { $0.name == "h.0.attn.c_attn.weight" })
        weights[index].tensor = Tensor(shape: [24, 8], floats: [Float](repeating: 0, count: 192))
        let error = #expect(throws: ComputeError.self) { try stack(weights: weights) }
        #expect(error?.code == .weightShape)
        #expect(error?.description.contains("expected [8, 24], found [24, 8]") == true)
    }

    @Test("known buffers are skipped and reported; the transformer. prefix is accepted")
    func knownBuffers() throws {
        var weights = fixture.weights.map { NamedTensor("transformer." + $0.name, $0.tensor) }
        weights.append(NamedTensor("transformer.h.0.attn.bias", Tensor(shape: [1], floats: [1])))
        weights.append(NamedTensor("transformer.h.1.attn.masked_bias", Tensor(shape: [1], floats: [-1e4])))
        let s = try stack(weights: weights)
        #expect(s.skippedWeights.sorted() == ["transformer.h.0.attn.bias", "transformer.h.1.attn.masked_bias"])
        let result = try s.forward(fixture.input(), as: Double.self)
        #expect(result.skippedWeights.count == 2)
        let mask = fixture.mask
        let expected = try #require(fixture.expectedHidden["final"], "the fixture has no 'final'")
        #expect(Closeness.relativeError(result.final, expected) { b, r in mask[b][r] } <= 1e-10)
    }

    @Test("Pn + N beyond the model's positions is refused")
    func positionsExceeded() throws {
        var config = fixture.config
        config.maxPositions = 7
        var weights = fixture.weights
        let index = try #require(weights.firstIndex { $0.name == "wpe.weight" })
        weights[index].tensor = Tensor(shape: [7, 8], floats: [Float](repeating: 0, count: 56))
        let error = #expect(throws: ComputeError.self) {
            try stack(weights: weights, config: config).forward(fixture.input(), as: Float.self)
        }
        #expect(error?.code == .positionsExceeded)
        #expect(error?.description.contains("4 + 4") == true)
    }

    @Test("inputs of the wrong dtype, rank or width, and token ids out of range")
    func badInputs() throws {
        let floatIDs = #expect(throws: ComputeError.self) { try ForwardInput(ids: Tensor(shape: [4], floats: [1, 2, 3, 4])) }
        #expect(floatIDs?.code == .invalidInput)
        let intEmbeds = #expect(throws: ComputeError.self) { try ForwardInput(embeddings: Builders.randomTensor(.i32, [2, 8], seed: 1)) }
        #expect(intEmbeds?.code == .invalidInput)
        let narrow = try ForwardInput(embeddings: Tensor(shape: [3, 5], floats: [Float](repeating: 0.1, count: 15)))
        let width = #expect(throws: ComputeError.self) { try stack().forward(narrow, as: Float.self) }
        #expect(width?.description.contains("[B, N, 8]") == true)
        let ids = try Tensor(
            dtype: .i64, shape: [2], bytes: [Int64(3), Int64(99)].flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
        let range = #expect(throws: ComputeError.self) { try stack().forward(ForwardInput(ids: ids), as: Float.self) }
        #expect(range?.description.contains("0 ..< 32") == true)
        let mask = #expect(throws: ComputeError.self) { try ForwardInput(ids: ids, mask: Builders.randomTensor(.i64, [3], seed: 2)) }
        #expect(mask?.tensor == "attention_mask")
    }

    @Test("a prefix of the wrong shape or layer count")
    func badPrefix() throws {
        var prefix = fixture.hidden
        prefix.layers[1] = .hidden(Tensor(shape: [4, 9], floats: [Float](repeating: 0, count: 36)))
        let shape = #expect(throws: ComputeError.self) { try stack(prefix: prefix).forward(fixture.input(), as: Float.self) }
        #expect(shape?.code == .prefixShape && shape?.tensor == "layer_01")
        var short = fixture.hidden
        short.layers.removeLast()
        let count = #expect(throws: ComputeError.self) { try stack(prefix: short).forward(fixture.input(), as: Float.self) }
        #expect(count?.code == .prefixShape)
    }

    @Test("KV -> hidden is refused with the reason")
    func notInvertible() throws {
        let error = #expect(throws: ComputeError.self) { try PrefixStack.hiddenPrefix(fromKeyValue: fixture.kv) }
        #expect(error?.code == .notInvertible && error?.description.contains("not unique under grouped-query attention") == true)
        let kvStack = try stack(prefix: fixture.kv)
        #expect(throws: ComputeError.self) { try kvStack.keyValuePrefix() }
    }

    @Test(
        "unimplemented config features are refused by name",
        arguments: [
            (#"{"model_type": "xlnet", "d_model": 8}"#, "model_type 'xlnet'"),
            (
                #"{"model_type": "llama", "num_hidden_layers": 1, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16, "vocab_size": 8, "rope_scaling": {"type": "longrope", "factor": 2.0}}"#,
                "rope_scaling type 'longrope'"
            ),
            (
                #"{"model_type": "llama", "num_hidden_layers": 1, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16, "vocab_size": 8, "partial_rotary_factor": 0.5}"#,
                "partial_rotary_factor"
            ),
            (
                #"{"model_type": "qwen3", "num_hidden_layers": 1, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16, "vocab_size": 8, "sliding_window": 4, "layer_types": ["chunked_attention"]}"#,
                "layer type 'chunked_attention'"
            ),
            (
                #"{"model_type": "gpt2", "n_layer": 1, "n_embd": 8, "n_head": 2, "n_positions": 16, "vocab_size": 8, "activation_function": "mish"}"#,
                "activation 'mish'"
            ),
            (#"[1, 2]"#, "not a JSON object"),
            (#"{"model_type": "gpt2", "n_layer": 1}"#, "lacks 'n_embd'"),
        ])
    func unsupportedConfigs(json: String, mention: String) {
        let error = #expect(throws: FormatError.self) { try HFConfig.parse(Data(json.utf8)) }
        #expect(error?.description.contains(mention) == true, "\(String(describing: error))")
    }

    @Test("an activation the engine does not compute is refused")
    func unsupportedActivation() {
        var config = fixture.config
        config.activation = "mish"
        let error = #expect(throws: ComputeError.self) { try stack(config: config) }
        #expect(error?.code == .unsupported && error?.description.contains("mish") == true)
    }
}

@Suite("Prefix MLP")
struct PrefixMLPTests {
    @Test("the MLP materialises to the keys and values NumPy computes with PEFT's reshape")
    func materialise() throws {
        let fixture = try EngineFixture("gpt2-tiny", prefixLength: 4, inputLength: 4)
        let entries = try NPZ.read(path: EngineFixture.root + "/gpt2-tiny/mlp.npz")
        let mlp = entries.filter { $0.name.hasPrefix("mlp.") }.compactMap { e in
            e.value.tensor.map { NamedTensor(String(e.name.dropFirst(4)), $0) }
        }
        let expected = Dictionary(uniqueKeysWithValues: entries.compactMap { e in e.value.tensor.map { (e.name, $0) } })
        let content = try PrefixMLP.keyValues(mlp, config: fixture.config, dtype: .f64)
        #expect(content.prefixLength == 4 && content.mlp.count == 5)
        for (l, layer) in content.layers.enumerated() {
            guard case .kv(let k, let v) = layer else { Issue.record("not KV"); continue }
            let rk = try #require(expected["prefix.layer_0\(l).key"]), rv = try #require(expected["prefix.layer_0\(l).value"])
            #expect(k.shape == rk.shape)
            #expect(zip(k.doubles(), rk.doubles()).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) })
            #expect(zip(v.doubles(), rv.doubles()).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) })
        }
        let missing = #expect(throws: ComputeError.self) { try PrefixMLP.keyValues(Array(mlp.dropFirst()), config: fixture.config) }
        #expect(missing?.code == .missingWeight)
    }
}
