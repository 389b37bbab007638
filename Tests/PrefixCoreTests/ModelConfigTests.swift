import PrefixCore
import Testing

@Suite("Model configuration")
struct ModelConfigTests {
    @Test("a GPT-2 config validates")
    func gpt2() throws {
        try ModelConfig.gpt2(layers: 12, width: 768, heads: 12).validate()
    }

    @Test("inconsistent fields are named in the error")
    func inconsistent() {
        var config = ModelConfig.gpt2(layers: 2, width: 8, heads: 2)
        config.numKVHeads = 3
        let heads = #expect(throws: CoreError.self) { try config.validate() }
        #expect(heads?.description.contains("num_key_value_heads") == true)
        config = ModelConfig.gpt2(layers: 0, width: 8, heads: 2)
        let layers = #expect(throws: CoreError.self) { try config.validate() }
        #expect(layers?.description.contains("num_layers") == true)
        config = ModelConfig.gpt2(layers: 2, width: 8, heads: 2)
        config.positionScheme = .rope
        config.ropeTheta = nil
        let rope = #expect(throws: CoreError.self) { try config.validate() }
        #expect(rope?.description.contains("rope_theta") == true)
    }
}

@Suite("Prefix shapes")
struct PrefixShapeTests {
    @Test("hidden form is [Pn, d]; key/value form is [Hkv, Pn, hd], head_dim taken from the config")
    func shapes() {
        var config = ModelConfig.gpt2(layers: 2, width: 16, heads: 4)
        #expect(config.prefixShape(.hidden, prefixLength: 20) == [20, 16])
        #expect(config.prefixShape(.kv, prefixLength: 20) == [4, 20, 4])
        config.numKVHeads = 2
        config.headDim = 6
        #expect(config.prefixShape(.kv, prefixLength: 3) == [2, 3, 6])
    }
}
