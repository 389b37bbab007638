extension ArchitectureFamily {
    /// Qwen2.
    public static let qwen2: ArchitectureFamily = "qwen2"
}

extension LlamaArchitecture {
    /// Qwen2: LLaMA with q/k/v biases (none on the output projection); `layer_types` may slide.
    public static let qwen2 = LlamaArchitecture(
        family: .qwen2, summary: "Qwen2: LLaMA with q/k/v biases", className: "Qwen2ForCausalLM", qkvBiases: true, readsLayerTypes: true,
        blocks: "LLaMA with q/k/v biases; with a sliding window on every layer",
        refusedByName: "`partial_rotary_factor`, `longrope`, `use_bidirectional_attention`")
}
