import Foundation
import PrefixCore
import PrefixFormats
import Testing

/// Each family's `config.json`: what it reads, and every feature it can set that the engine does
/// not compute, refused at import by name (one case each).
@Suite("Family config.json reading and refusals")
struct FamilyConfigTests {
    static let llama =
        #""model_type": "llama", "num_hidden_layers": 1, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16, "vocab_size": 8"#
    static let opt =
        #""model_type": "opt", "num_hidden_layers": 1, "hidden_size": 8, "num_attention_heads": 2, "ffn_dim": 8, "max_position_embeddings": 16, "vocab_size": 8"#
    static let mpt = #""model_type": "mpt", "n_layers": 1, "d_model": 8, "n_heads": 2, "max_seq_len": 16, "vocab_size": 8"#
    static let bloom = #""model_type": "bloom", "n_layer": 1, "hidden_size": 8, "n_head": 2, "vocab_size": 8"#
    static let falcon = #""model_type": "falcon", "num_hidden_layers": 1, "hidden_size": 8, "num_attention_heads": 2, "vocab_size": 8"#
    static let phi =
        #""model_type": "phi", "num_hidden_layers": 1, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16, "vocab_size": 8"#
    static let starcoder2 =
        #""model_type": "starcoder2", "num_hidden_layers": 1, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16, "vocab_size": 8"#
    static let neox =
        #""model_type": "gpt_neox", "num_hidden_layers": 1, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16, "vocab_size": 8"#

    static func json(_ base: String, _ extra: String) -> String { "{\(base), \(extra)}" }

    @Test(
        "unimplemented features of listed families are refused by name",
        arguments: [
            (json(llama, #""partial_rotary_factor": 0.5"#), "partial_rotary_factor"),
            (json(llama, #""rope_scaling": {"rope_type": "longrope", "factor": 2.0}"#), "rope_scaling type 'longrope'"),
            (json(llama, #""rope_scaling": {"rope_type": "llama3", "factor": 8.0}"#), "needs low_freq_factor"),
            (json(llama, #""use_bidirectional_attention": true"#), "use_bidirectional_attention"),
            (
                json(
                    llama.replacingOccurrences(of: "llama", with: "phi3"),
                    #""rope_scaling": {"type": "longrope", "factor": 2.0, "short_factor": [1], "long_factor": [1]}"#),
                "rope_scaling type 'longrope'"
            ),
            (
                json(llama.replacingOccurrences(of: "llama", with: "qwen3"), #""sliding_window": 4, "layer_types": ["chunked_attention"]"#),
                "layer type 'chunked_attention'"
            ),
            (
                json(llama.replacingOccurrences(of: "llama", with: "gemma2"), #""query_pre_attn_scalar": 0"#),
                "query_pre_attn_scalar must be positive"
            ),
            (json(llama.replacingOccurrences(of: "llama", with: "gemma"), #""hidden_act": "mish""#), "activation 'mish'"),
            (json(phi, #""qk_layernorm": true"#), "qk_layernorm"),
            (json(starcoder2, #""partial_rotary_factor": 0.5"#), "partial_rotary_factor"),
            (json(neox, #""rotary_pct": 0.3"#), "partial_rotary_factor 0.3 gives 1 rotated dimensions"),
            (json(opt, #""do_layer_norm_before": false"#), "do_layer_norm_before=false"),
            (json(opt, #""word_embed_proj_dim": 4"#), "word_embed_proj_dim"),
            (json(opt, #""layer_norm_elementwise_affine": false"#), "layer_norm_elementwise_affine=false"),
            (json(opt, #""_remove_final_layer_norm": true"#), "_remove_final_layer_norm"),
            (json(bloom, #""apply_residual_connection_post_layernorm": true"#), "apply_residual_connection_post_layernorm"),
            (json(bloom, #""slow_but_exact": true, "pretraining_tp": 2"#), "slow_but_exact"),
            (json(mpt, #""attn_config": {"alibi": false}"#), "attn_config.alibi=false"),
            (json(mpt, #""attn_config": {"qk_ln": true}"#), "attn_config.qk_ln"),
            (json(mpt, #""attn_config": {"prefix_lm": true}"#), "attn_config.prefix_lm"),
            (json(mpt, #""attn_config": {"attn_uses_sequence_id": true}"#), "attn_config.attn_uses_sequence_id"),
            (json(mpt, #""no_bias": false"#), "no_bias=false"),
            (json(falcon, #""alibi": true"#), "alibi"),
            (json(falcon, #""partial_rotary_factor": 0.5"#), "partial_rotary_factor"),
            (
                #"{"model_type": "gptj", "n_layer": 1, "n_embd": 8, "n_head": 2, "n_positions": 16, "vocab_size": 8, "rotary_dim": null}"#,
                "rotary_dim=null"
            ),
            (
                #"{"model_type": "gpt2", "n_layer": 1, "n_embd": 8, "n_head": 2, "n_positions": 16, "vocab_size": 8, "activation_function": "mish"}"#,
                "activation 'mish'"
            ),
            (#"{"model_type": "xlnet", "d_model": 8}"#, "model_type 'xlnet' is not supported"),
        ])
    func refused(json: String, mention: String) {
        let error = #expect(throws: FormatError.self) { try HFConfig.parse(Data(json.utf8)) }
        #expect(error?.description.contains(mention) == true, "\(String(describing: error))")
    }

    @Test("a sliding-layer list of the wrong length, or a window that is not positive, is refused when the blocks are built")
    func slidingLayersChecked() throws {
        var config = try HFConfig.parse(
            Data(
                Self.json(
                    Self.llama.replacingOccurrences(of: "llama", with: "qwen3"),
                    #""sliding_window": 4, "layer_types": ["sliding_attention"]"#
                ).utf8))
        var options = try #require(config.options(as: LlamaOptions.self))
        #expect(options.slidingLayers == [true] && options.slidingWindow == 4)
        options.slidingLayers = [true, false]
        config.options = options
        let length = #expect(throws: ConfigError.self) { try Architectures.recipe(for: config) }
        #expect(length?.description.contains("layer_types lists 2 layers, the model has 1") == true)
        options.slidingLayers = nil
        options.slidingWindow = 0
        config.options = options
        let window = #expect(throws: ConfigError.self) { try Architectures.recipe(for: config) }
        #expect(window?.description.contains("sliding_window must be positive") == true)
    }

    @Test("the refusal of an unknown model_type lists every registered family")
    func unknownFamilyListsRegistry() throws {
        let error = #expect(throws: FormatError.self) { try HFConfig.parse(Data(#"{"model_type": "mamba"}"#.utf8)) }
        for architecture in Architectures.all {
            #expect(error?.description.contains(architecture.modelTypes[0]) == true, "\(architecture.family)")
        }
    }

    @Test("spellings: GPT-NeoX's rotary_pct and rotary_emb_base, Falcon's three layouts, MPT's attn_config")
    func spellings() throws {
        let neox = try HFConfig.parse(
            Data(Self.json(Self.neox, #""rotary_pct": 0.5, "rotary_emb_base": 500.0, "use_parallel_residual": false"#).utf8))
        let neoxOptions = neox.options(as: GPTNeoXOptions.self)
        #expect(neoxOptions?.partialRotaryFactor == 0.5 && neox.ropeTheta == 500 && neoxOptions?.parallelResidual == nil)
        let wide = Self.neox.replacingOccurrences(of: #""hidden_size": 8"#, with: #""hidden_size": 32"#)
        let neoxDefault = try HFConfig.parse(Data(Self.json(wide, #""use_parallel_residual": true"#).utf8))
        let defaultOptions = neoxDefault.options(as: GPTNeoXOptions.self)
        #expect(defaultOptions?.partialRotaryFactor == 0.25 && defaultOptions?.parallelResidual == .separate)
        let multiQuery = try HFConfig.parse(Data(Self.json(Self.falcon, #""multi_query": true"#).utf8))
        #expect(
            multiQuery.numKVHeads == 1 && multiQuery.prefixKVHeads == 1
                && multiQuery.options(as: FalconOptions.self)?.falconLayout == .multiQuery)
        let grouped = try HFConfig.parse(Data(Self.json(Self.falcon, #""new_decoder_architecture": true, "num_kv_heads": 1"#).utf8))
        #expect(
            grouped.numKVHeads == 1 && grouped.prefixKVHeads == 2 && grouped.options(as: FalconOptions.self)?.falconLayout == .grouped2LN)
        #expect(grouped.prefixShape(.kv, prefixLength: 3) == [2, 3, 4])
        let mpt = try HFConfig.parse(
            Data(Self.json(Self.mpt, #""attn_config": {"alibi": true, "clip_qkv": 6.0, "alibi_bias_max": 16}"#).utf8))
        let mptOptions = mpt.options(as: MPTOptions.self)
        #expect(mptOptions?.clipQKV == 6 && mptOptions?.alibiBiasMax == 16 && mpt.positionScheme == .alibi && mpt.intermediateSize == 32)
    }

    @Test("ALiBi slopes: BLOOM's for 4 and 6 heads, MPT's interleaving for 6")
    func slopes() {
        #expect(BloomArchitecture.slopes(heads: 4) == [0.25, 0.0625, 0.015625, 0.00390625])
        #expect(BloomArchitecture.slopes(heads: 6) == [0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125])
        let mpt = MPTArchitecture.slopes(heads: 6, biasMax: 8)
        // Eight slopes 2^-1 ... 2^-8, odd indices then even, first six.
        #expect(mpt == [0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125])
    }

    @Test("configs that use none of the newer features encode exactly as before them (the fingerprint's text)")
    func canonicalEncodingUnchanged() throws {
        let config = try HFConfig.parse(Data(Self.json(Self.llama, #""rope_theta": 500000.0"#).utf8))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(config), as: UTF8.self)
        #expect(
            text
                == #"{"activation":"silu","attentionBias":false,"family":"llama","headDim":4,"hiddenSize":8,"intermediateSize":8,"maxPositions":16,"normEps":1e-06,"normKind":"rmsnorm","numHeads":2,"numKVHeads":2,"numLayers":1,"positionScheme":"rope","ropeTheta":500000,"tieWordEmbeddings":false,"vocabSize":8}"#,
            "\(text)")
    }
}
