extension ArchitectureFamily {
    /// Phi-3.
    public static let phi3: ArchitectureFamily = "phi3"
}

extension LlamaArchitecture {
    /// Phi-3: LLaMA with one `qkv_proj` (`[q | k | v]`) and one `gate_up_proj` (`[gate | up]`),
    /// optional partial rotary and a sliding window on every layer. `longrope` scaling (the 128k
    /// models) is refused by name.
    public static let phi3 = LlamaArchitecture(
        family: .phi3, summary: "Phi-3: LLaMA with fused qkv_proj and gate_up_proj", className: "Phi3ForCausalLM",
        windowOnEveryLayer: true, fusedProjections: true, partialRotary: true,
        blocks: "LLaMA with fused `qkv_proj` and `gate_up_proj`, partial RoPE, sliding window",
        refusedByName: "`longrope` (the 128k models)")
}
