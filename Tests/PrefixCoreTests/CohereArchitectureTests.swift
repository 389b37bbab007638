import Foundation
import PrefixCore
import Testing

/// Cohere's knobs live in its own options: `logit_scale` (0.0625 unless given), `use_qk_norm` as a
/// per-head LayerNorm with `[heads, hd]` weights, and the parallel block on one bias-free norm.
@Suite("Cohere")
struct CohereArchitectureTests {
    static var fields: [String: Any] {
        [
            "model_type": "cohere", "num_hidden_layers": 2, "hidden_size": 16, "num_attention_heads": 4, "num_key_value_heads": 2,
            "intermediate_size": 24, "vocab_size": 64,
        ]
    }

    @Test("logit_scale and use_qk_norm are Cohere's options, and the recipe reads them")
    func options() throws {
        let plain = try Architectures.parse(Self.fields)
        #expect(plain.options(as: CohereOptions.self)?.logitScale == 0.0625 && plain.options(as: CohereOptions.self)?.qkLayerNorm == nil)
        let recipe = try Architectures.recipe(for: plain)
        #expect(recipe.logitScale == 0.0625 && recipe.layer(0).attention.queryNorm == nil)
        #expect(recipe.layer(0).residual == .parallel && recipe.layer(0).mlpNorm == nil && recipe.layer(0).inputNorm?.hasBias == false)
        var fields = Self.fields
        fields["use_qk_norm"] = true
        fields["logit_scale"] = 0.5
        let normed = try Architectures.parse(fields)
        let layer = try Architectures.recipe(for: normed).layer(1)
        #expect(layer.attention.queryNorm?.tensors.map(\.1) == [[4, 4]] && layer.attention.keyNorm?.tensors.map(\.1) == [[2, 4]])
        #expect(try Architectures.recipe(for: normed).logitScale == 0.5)
    }

    @Test("a partial rotary factor is refused by name")
    func partialRotary() {
        var fields = Self.fields
        fields["partial_rotary_factor"] = 0.5
        let error = #expect(throws: ConfigError.self) { try Architectures.parse(fields) }
        #expect(error?.description.contains("partial_rotary_factor") == true)
    }
}
