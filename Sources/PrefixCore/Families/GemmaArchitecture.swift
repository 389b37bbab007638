extension ArchitectureFamily {
    /// Gemma (1).
    public static let gemma: ArchitectureFamily = "gemma"
    /// Gemma 2.
    public static let gemma2: ArchitectureFamily = "gemma2"
}

extension LlamaArchitecture {
    /// Gemma: LLaMA with RMSNorm scaling by `(1 + w)`, embeddings looked up from ids scaled by
    /// `sqrt(d)` (rounded to f32, as HF's buffer holds it), a GeGLU MLP (`gelu` in a config means
    /// the tanh approximation) and a tied head.
    public static let gemma = LlamaArchitecture(
        family: .gemma, summary: "Gemma: RMSNorm (1 + w), sqrt(d)-scaled embeddings, GeGLU", className: "GemmaForCausalLM",
        norm: .rmsNormPlusOne, scaledEmbedding: true, geluMeansTanh: true, tiedByDefault: true,
        defaultActivation: "gelu_pytorch_tanh",
        blocks: """
            RMSNorm `(1 + w)`, `sqrt(d)`-scaled embeddings, GeGLU, tied head; Gemma 2 adds pre/post \
            norms, soft-capped scores and logits, `query_pre_attn_scalar`, alternating sliding windows
            """,
        refusedByName: "`partial_rotary_factor`, `longrope`, `use_bidirectional_attention`")

    /// Gemma 2: Gemma with norms before and after each sublayer, scores scaled by
    /// `query_pre_attn_scalar^-0.5` and soft-capped, sliding windows on the layers `layer_types`
    /// names, and soft-capped logits.
    public static let gemma2 = LlamaArchitecture(
        family: .gemma2, summary: "Gemma 2: Gemma with pre/post norms, soft-capping, alternating sliding windows",
        className: "Gemma2ForCausalLM", readsLayerTypes: true, norm: .rmsNormPlusOne, outputNorms: true, scaledEmbedding: true,
        geluMeansTanh: true, tiedByDefault: true, gemma2Attention: true, defaultActivation: "gelu_pytorch_tanh",
        blocks: """
            RMSNorm `(1 + w)`, `sqrt(d)`-scaled embeddings, GeGLU, tied head; Gemma 2 adds pre/post \
            norms, soft-capped scores and logits, `query_pre_attn_scalar`, alternating sliding windows
            """,
        refusedByName: "`partial_rotary_factor`, `longrope`, `use_bidirectional_attention`")
}
