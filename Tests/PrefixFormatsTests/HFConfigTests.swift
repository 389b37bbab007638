import Foundation
import PrefixCore
import PrefixFormats
import Testing

@Suite("Hugging Face config.json")
struct HFConfigTests {
    @Test("transformers 4 and 5 spellings of a LLaMA config parse to the same config")
    func spellings() throws {
        let v4 =
            #"{"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 16, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 6, "intermediate_size": 24, "max_position_embeddings": 64, "vocab_size": 32, "rms_norm_eps": 1e-6, "rope_theta": 500000.0, "rope_scaling": {"type": "linear", "factor": 2.0}, "torch_dtype": "float32"}"#
        let v5 =
            #"{"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 16, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 6, "intermediate_size": 24, "max_position_embeddings": 64, "vocab_size": 32, "rms_norm_eps": 1e-6, "rope_parameters": {"rope_theta": 500000.0, "rope_type": "linear", "factor": 2.0}, "dtype": "float32"}"#
        let a = try HFConfig.parse(Data(v4.utf8)), b = try HFConfig.parse(Data(v5.utf8))
        #expect(a == b)
        #expect(a.ropeTheta == 500000 && a.ropeScaling == RopeScaling(type: "linear", factor: 2) && a.headDim == 6 && a.numKVHeads == 2)
        #expect(!a.tieWordEmbeddings && !a.attentionBias)
    }

    @Test("GPT-2 defaults and Qwen2's biases")
    func families() throws {
        let gpt2 = try HFConfig.parse(
            Data(
                #"{"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12, "n_positions": 1024, "vocab_size": 50257, "n_inner": null}"#
                    .utf8))
        #expect(gpt2.intermediateSize == 3072 && gpt2.tieWordEmbeddings && gpt2.activation == "gelu_new" && gpt2.normEps == 1e-5)
        let qwen = try HFConfig.parse(
            Data(
                #"{"model_type": "qwen2", "num_hidden_layers": 1, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16, "vocab_size": 8, "tie_word_embeddings": true}"#
                    .utf8))
        #expect(qwen.attentionBias && qwen.family == .qwen2 && qwen.headDim == 4 && qwen.ropeTheta == 10000)
    }

    @Test("fields of the wrong type name the field")
    func wrongTypes() {
        let error = #expect(throws: FormatError.self) {
            try HFConfig.parse(
                Data(#"{"model_type": "gpt2", "n_layer": "twelve", "n_embd": 8, "n_head": 2, "n_positions": 8, "vocab_size": 8}"#.utf8))
        }
        #expect(error?.description.contains("'n_layer' must be an integer") == true)
    }
}
