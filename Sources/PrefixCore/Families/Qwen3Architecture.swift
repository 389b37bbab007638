extension ArchitectureFamily {
    /// Qwen3.
    public static let qwen3: ArchitectureFamily = "qwen3"
}

extension LlamaArchitecture {
    /// Qwen3: LLaMA with RMSNorm over each head's queries and keys (before RoPE); `attention_bias`
    /// covers all four maps; `layer_types` may slide.
    public static let qwen3 = LlamaArchitecture(
        family: .qwen3, summary: "Qwen3: LLaMA with per-head q/k RMSNorm", className: "Qwen3ForCausalLM", readsLayerTypes: true,
        qkNorm: .head,
        blocks: "LLaMA with per-head q/k RMSNorm, sliding layers from `layer_types`",
        refusedByName: "`partial_rotary_factor`, `longrope`, `use_bidirectional_attention`, unknown layer types")
}
