extension ArchitectureFamily {
    /// Mistral.
    public static let mistral: ArchitectureFamily = "mistral"
}

extension LlamaArchitecture {
    /// Mistral: LLaMA with a sliding window on every layer.
    public static let mistral = LlamaArchitecture(
        family: .mistral, summary: "Mistral: LLaMA with a sliding attention window", className: "MistralForCausalLM",
        windowOnEveryLayer: true,
        blocks: "LLaMA with q/k/v biases; with a sliding window on every layer",
        refusedByName: "`partial_rotary_factor`, `longrope`, `use_bidirectional_attention`")
}
