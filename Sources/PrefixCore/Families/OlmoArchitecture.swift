extension ArchitectureFamily {
    /// OLMo (1).
    public static let olmo: ArchitectureFamily = "olmo"
    /// OLMo 2.
    public static let olmo2: ArchitectureFamily = "olmo2"
}

extension LlamaArchitecture {
    /// OLMo: LLaMA with LayerNorms that have neither weight nor bias (eps fixed at 1e-5: the
    /// config has no field for it), and `clip_qkv`.
    public static let olmo = LlamaArchitecture(
        family: .olmo, summary: "OLMo: LLaMA with non-parametric LayerNorm and q/k/v clipping", className: "OlmoForCausalLM",
        norm: .layerNormNonParametric, epsKey: "", readsClip: true,
        blocks: "LLaMA with weightless LayerNorm and `clip_qkv`; with post-sublayer RMSNorms and q/k RMSNorm over all heads",
        refusedByName: "`partial_rotary_factor`, `longrope`, `use_bidirectional_attention`")

    /// OLMo 2: LLaMA with RMSNorm on each sublayer's output instead of its input, and q/k RMSNorm
    /// over all heads.
    public static let olmo2 = LlamaArchitecture(
        family: .olmo2, summary: "OLMo 2: LLaMA with post-sublayer norms and q/k RMSNorm", className: "Olmo2ForCausalLM",
        qkNorm: .all, outputNorms: true, inputNorms: false,
        blocks: "LLaMA with weightless LayerNorm and `clip_qkv`; with post-sublayer RMSNorms and q/k RMSNorm over all heads",
        refusedByName: "`partial_rotary_factor`, `longrope`, `use_bidirectional_attention`")
}
