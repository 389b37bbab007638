import PrefixCore
import Testing

@Suite("Name validation")
struct NamesTests {
    @Test("hostile checkpoint names are refused", arguments: [
        "", "../escape", "a/b", "a@1", "name with space", ".hidden", "-flag", "a..b", "x\u{0}y", "tab\there",
        "ünïcode", String(repeating: "a", count: 129), "base:1234",
    ])
    func hostileNames(name: String) {
        let error = #expect(throws: CoreError.self) { try Names.validate(name: name) }
        #expect(error?.code == .invalidName)
    }

    @Test("ordinary names pass", arguments: ["demo", "run-3", "gpt2_prefix.v2", "A+B", String(repeating: "a", count: 128)])
    func goodNames(name: String) throws {
        try Names.validate(name: name)
    }

    @Test("tensor names may not break an HDF5 path", arguments: ["", ".", "..", "a/b", "/abs", "back\\slash", "sp ace", "q\"uote", "nul\u{0}"])
    func hostileTensorNames(name: String) {
        #expect(throws: CoreError.self) { try Names.validate(tensorName: name) }
    }

    @Test("Hugging Face tensor names pass")
    func hfTensorNames() throws {
        for name in ["h.0.attn.c_attn.weight", "model.layers.31.self_attn.q_proj.weight", "layer_00.input", "transformer.wte.weight"] {
            try Names.validate(tensorName: name)
        }
    }

    @Test("layer labels are zero-padded to two digits, three above 100 layers")
    func layerLabels() {
        #expect(layerLabel(3, layerCount: 12) == "layer_03")
        #expect(layerLabel(11, layerCount: 12) == "layer_11")
        #expect(layerLabel(7, layerCount: 120) == "layer_007")
    }
}
