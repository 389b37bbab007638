extension ArchitectureFamily {
    /// Granite (IBM).
    public static let granite: ArchitectureFamily = "granite"
}

extension LlamaArchitecture {
    /// Granite: LLaMA with `embedding_multiplier` (on looked-up and given embeddings alike),
    /// `residual_multiplier`, `attention_multiplier` (the score scale) and `logits_scaling`.
    public static let granite = LlamaArchitecture(
        family: .granite, summary: "Granite: LLaMA with embedding, residual, attention and logit multipliers",
        className: "GraniteForCausalLM", multipliers: true,
        blocks: "LLaMA with embedding, residual, attention and logit multipliers",
        refusedByName: "`partial_rotary_factor`, `longrope`, `use_bidirectional_attention`")
}
