import Foundation
import PrefixCompute
import PrefixCore
import PrefixFormats
import TestSupport
import Testing

/// The KV-form engine against outputs computed by HF transformers + PEFT themselves
/// (fixtures/peft, made by fixtures/generate_peft.py in float64 from the saved float32 values).
@Suite("KV form against HF transformers + PEFT")
struct PEFTReferenceTests {
    @Test("GPT-2 and LLaMA-GQA prefix-tuned outputs match PEFT's, every layer, in f64 and f32", arguments: ["gpt2-tiny", "llama-gqa-tiny"])
    func matchesPEFT(model: String) throws {
        let dir = Processes.repositoryRoot + "/fixtures/peft/\(model)"
        let config = try HFConfig.read(path: dir + "/base/config.json").config
        let weights = try NPZ.read(path: dir + "/state_dict.npz").compactMap { e in e.value.tensor.map { NamedTensor(e.name, $0) } }
        let adapter =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/adapter/adapter_config.json")))
            as? [String: Any]
        let heads = try #require(adapter?["num_attention_heads"] as? Int), tokenDim = try #require(adapter?["token_dim"] as? Int)
        let pn = try #require(adapter?["num_virtual_tokens"] as? Int)
        #expect(heads == config.numKVHeads && tokenDim == config.tokenDim)
        let flat = try #require(try NPY.read(path: dir + "/prompt_embeddings.npy").tensor)
        let layers = try FlatKVLayout.split(flat, layers: config.numLayers, kvHeads: heads, headDim: tokenDim / heads)
        let content = CheckpointContent(form: .kv, prefixLength: pn, layers: layers)
        let expected = try ActivationExchange.read(path: dir + "/expected.npz")
        let input = try ForwardInput(ids: try #require(expected.inputIDs), mask: expected.attentionMask)
        let stack = try PrefixStack(config: config, weights: InMemoryTensors(weights), prefix: PrefixSource(content))
        let mask = input.mask
        // HF computes RoPE cos/sin in float32 even in a float64 model (LlamaRotaryEmbedding.forward
        // casts positions and inv_freq with .float()), so against HF a RoPE model's f64 path can
        // only agree to float32 angle precision (measured 3.4e-9 per layer); GPT-2 has no such term.
        let f64Layer = config.positionScheme == .rope ? 1e-7 : 1e-12, f64End = config.positionScheme == .rope ? 1e-6 : 1e-10
        for (precision, layerTolerance, endTolerance) in [("f64", f64Layer, f64End), ("f32", 1e-5, 1e-4)] {
            let result =
                precision == "f64"
                ? try stack.forward(input, as: Double.self, options: ForwardOptions(logits: true))
                : try stack.forward(input, as: Float.self, options: ForwardOptions(logits: true))
            for l in 0..<config.numLayers {
                if let reference = expected.layerInputs[l] {
                    let error = Closeness.relativeError(result.layerInputs[l], reference) { b, r in mask[b][r] }
                    #expect(error <= layerTolerance, "\(precision) layer \(l) input: \(error)")
                }
                if let reference = expected.layerOutputs[l] {
                    let error = Closeness.relativeError(result.layerOutputs[l], reference) { b, r in mask[b][r] }
                    #expect(error <= layerTolerance, "\(precision) layer \(l) output: \(error)")
                }
            }
            let final = Closeness.relativeError(result.final, try #require(expected.final)) { b, r in mask[b][r] }
            let logits = Closeness.relativeError(try #require(result.logits), try #require(expected.logits)) { b, r in mask[b][r] }
            #expect(final <= endTolerance && logits <= endTolerance, "\(precision): final \(final), logits \(logits)")
        }
    }
}
