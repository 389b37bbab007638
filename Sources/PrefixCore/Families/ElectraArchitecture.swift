extension ArchitectureFamily {
    /// ELECTRA.
    public static let electra: ArchitectureFamily = "electra"
}

extension BertArchitecture {
    /// ELECTRA: BERT's blocks without a pooler; embeddings of `embedding_size` projected to
    /// `hidden_size` (`embeddings_project`) when the two differ.
    public static let electra = BertArchitecture(
        family: .electra, summary: "ELECTRA: BERT's encoder, embeddings projected from embedding_size, no pooler",
        className: "ElectraModel", namePrefix: "electra.", readsEmbeddingSize: true, hasPooler: false,
        headPrefixes: ["discriminator_predictions.", "generator_predictions.", "generator_lm_head.", "classifier.", "qa_outputs."],
        classifierActivation: .gelu,
        blocks: """
            BERT's encoder without a pooler; `embedding_size` projected to `hidden_size` \
            (`embeddings_project`); SEQ_CLS head with GELU, TOKEN_CLS
            """,
        refusedByName: "`is_decoder`, `add_cross_attention`, relative `position_embedding_type`")
}
