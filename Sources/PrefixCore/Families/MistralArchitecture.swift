extension ArchitectureFamily {
    /// Mistral.
    public static let mistral: ArchitectureFamily = "mistral"
}

extension LlamaArchitecture {
    /// Mistral: LLaMA with a sliding window on every layer.
    public static let mistral = LlamaArchitecture(
        family: .mistral, summary: "Mistral: LLaMA with a sliding attention window", className: "MistralForCausalLM",
        windowOnEveryLayer: true)
}
