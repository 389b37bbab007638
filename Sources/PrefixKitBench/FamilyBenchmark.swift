import Foundation
import PrefixKit

/// Every registered family's forward at one size (L=4, d=768, 12 heads, N=128, Pn=20, f32, KV
/// prefix), in GFLOP/s of the work its recipe defines, beside LLaMA's: what each family's extra
/// parts (fused layouts, ALiBi, soft caps, norms) cost per FLOP.
struct FamilyBenchmark {
    var options: BenchOptions

    /// A `config.json` per family at the benchmark's size.
    static func configs(small: Bool) -> [(String, String)] {
        let (l, d, ff, v) = small ? (1, 256, 512, 1000) : (4, 768, 2048, 32000)
        let h = d / 64
        let llama =
            #""num_hidden_layers": \#(l), "hidden_size": \#(d), "num_attention_heads": \#(h), "num_key_value_heads": \#(h / 3), "intermediate_size": \#(ff), "max_position_embeddings": 2048, "vocab_size": \#(v)"#
        let plain =
            #""num_hidden_layers": \#(l), "hidden_size": \#(d), "num_attention_heads": \#(h), "intermediate_size": \#(ff), "max_position_embeddings": 2048, "vocab_size": \#(v)"#
        return [
            ("llama", "{\"model_type\": \"llama\", \(llama)}"),
            ("qwen3", "{\"model_type\": \"qwen3\", \(llama), \"head_dim\": 64}"),
            (
                "gemma2",
                "{\"model_type\": \"gemma2\", \(llama), \"head_dim\": 64, \"query_pre_attn_scalar\": 64, \"sliding_window\": 64, \"layer_types\": [\(Array(repeating: "\"sliding_attention\", \"full_attention\"", count: max(l / 2, 1)).joined(separator: ", "))]}"
            ),
            ("phi3", "{\"model_type\": \"phi3\", \(llama)}"),
            ("olmo2", "{\"model_type\": \"olmo2\", \(llama)}"),
            (
                "gpt2",
                #"{"model_type": "gpt2", "n_layer": \#(l), "n_embd": \#(d), "n_head": \#(h), "n_positions": 2048, "vocab_size": \#(v)}"#
            ),
            ("gpt_neox", "{\"model_type\": \"gpt_neox\", \(plain)}"),
            (
                "gptj",
                #"{"model_type": "gptj", "n_layer": \#(l), "n_embd": \#(d), "n_head": \#(h), "rotary_dim": 32, "n_positions": 2048, "vocab_size": \#(v)}"#
            ),
            ("phi", "{\"model_type\": \"phi\", \(plain), \"partial_rotary_factor\": 0.5}"),
            ("starcoder2", "{\"model_type\": \"starcoder2\", \(llama)}"),
            (
                "opt",
                #"{"model_type": "opt", "num_hidden_layers": \#(l), "hidden_size": \#(d), "num_attention_heads": \#(h), "ffn_dim": \#(ff), "max_position_embeddings": 2048, "vocab_size": \#(v)}"#
            ),
            ("bloom", #"{"model_type": "bloom", "n_layer": \#(l), "hidden_size": \#(d), "n_head": \#(h), "vocab_size": \#(v)}"#),
            (
                "mpt",
                #"{"model_type": "mpt", "n_layers": \#(l), "d_model": \#(d), "n_heads": \#(h), "max_seq_len": 2048, "vocab_size": \#(v)}"#
            ),
            ("falcon", "{\"model_type\": \"falcon\", \(plain), \"new_decoder_architecture\": true, \"num_kv_heads\": \(h / 3)}"),
        ]
    }

    /// The FLOPs of a KV-prefix forward without logits, from the recipe: every linear map on N
    /// rows, attention over Pn + N keys.
    static func flops(_ recipe: ModelRecipe, layers: Int, pn: Int, n: Int) -> Double {
        (0..<layers).reduce(0.0) { total, l in
            let layer = recipe.layer(l)
            let maps = (layer.qkv.parts + [layer.output] + layer.mlp.parts).reduce(0.0) { $0 + 2 * Double(n * $1.inputs * $1.outputs) }
            return total + maps + 2 * 2 * Double(n * (pn + n) * recipe.heads * recipe.headDim)
        }
    }

    func run() throws {
        let pn = 20, n = options.small ? 32 : 128
        var rows: [[String]] = [["family", "time", "GFLOP", "GFLOP/s", "vs LLaMA per FLOP"]]
        var llamaRate = 0.0
        for (name, json) in Self.configs(small: options.small) {
            let config = try HFConfig.parse(Data(json.utf8))
            let recipe = try Architectures.recipe(for: config)
            let weights = try SyntheticModel.base(config, seed: 51, prefix: "")
            var random = SeededRandom(seed: 52)
            let shape = config.prefixShape(.kv, prefixLength: pn)
            let count = shape.reduce(1, *)
            let layers = (0..<config.numLayers).map { _ in
                LayerPrefix.kv(
                    key: Tensor(shape: (try? Shape(shape)) ?? [], floats: random.normals(count, scale: 0.5)),
                    value: Tensor(shape: (try? Shape(shape)) ?? [], floats: random.normals(count, scale: 0.5)))
            }
            var content = CheckpointContent(form: .kv, prefixLength: pn, layers: layers)
            content.positions = .standard(prefixLength: pn)
            let stack = try PrefixStack(config: config, weights: InMemoryTensors(weights.tensors), prefix: PrefixSource(content))
            let ids = (0..<n).map { _ in Int64(random.next() % UInt64(config.vocabSize)) }
            let input = try ForwardInput(
                ids: try Tensor(dtype: .i64, shape: [1, n], bytes: ids.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }))
            _ = try stack.forward(input, as: Float.self)
            var times: [Double] = []
            for _ in 0..<options.rounds * 2 + 1 { times.append(try Measure.seconds { _ = try stack.forward(input, as: Float.self) }) }
            let time = Measure.median(times), flops = Self.flops(recipe, layers: config.numLayers, pn: pn, n: n)
            let rate = flops / time / 1e9
            if name == "llama" { llamaRate = rate }
            rows.append([
                name, Measure.ms(time), String(format: "%.2f", flops / 1e9), String(format: "%.1f", rate),
                llamaRate > 0 ? Measure.ratio(rate / llamaRate) : "",
            ])
        }
        print(
            "\nforward per family (L=\(options.small ? 1 : 4), d=\(options.small ? 256 : 768), Pn=\(pn), N=\(n), B=1, f32, KV prefix, no logits), "
                + "OPENBLAS_NUM_THREADS=\(ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "unset")")
        print(Format.table(rows))
    }
}
