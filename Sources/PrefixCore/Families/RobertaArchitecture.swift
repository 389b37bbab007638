extension ArchitectureFamily {
    /// RoBERTa.
    public static let roberta: ArchitectureFamily = "roberta"
    /// XLM-RoBERTa.
    public static let xlmRoberta: ArchitectureFamily = "xlm-roberta"
}

extension BertArchitecture {
    /// RoBERTa: BERT's blocks; positions skip padding ids and start at `pad_token_id + 1 + Pn`.
    public static let roberta = BertArchitecture(
        family: .roberta, summary: "RoBERTa: BERT's encoder; positions from pad_token_id + 1, skipping padding ids",
        className: "RobertaModel", namePrefix: "roberta.", skipsPaddingIDs: true, headPrefixes: ["lm_head.", "classifier.", "qa_outputs."],
        classifierActivation: .tanh,
        blocks: """
            BERT's encoder; positions skip padding ids from `pad_token_id + 1`; SEQ_CLS head `dense -> \
            tanh -> out_proj` on row 0, TOKEN_CLS
            """,
        refusedByName: "`is_decoder`, `add_cross_attention`, relative `position_embedding_type`")

    /// XLM-RoBERTa: RoBERTa's architecture with a multilingual vocabulary.
    public static let xlmRoberta = BertArchitecture(
        family: .xlmRoberta, summary: "XLM-RoBERTa: RoBERTa's encoder",
        className: "XLMRobertaModel", namePrefix: "roberta.", skipsPaddingIDs: true,
        headPrefixes: ["lm_head.", "classifier.", "qa_outputs."], classifierActivation: .tanh,
        blocks: """
            BERT's encoder; positions skip padding ids from `pad_token_id + 1`; SEQ_CLS head `dense -> \
            tanh -> out_proj` on row 0, TOKEN_CLS
            """,
        refusedByName: "`is_decoder`, `add_cross_attention`, relative `position_embedding_type`")
}
