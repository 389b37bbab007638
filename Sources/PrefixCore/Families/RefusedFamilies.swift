/// Families users prefix-tune that this version refuses on purpose, with the reason: the
/// message a `config.json` with that `model_type` gets instead of "not supported".
enum RefusedFamilies {
    /// `model_type` -> why it is refused.
    static let reasons: [String: String] = [
        "deberta-v2": deberta,
        "deberta": deberta,
    ]

    /// DeBERTa (v1 and v2).
    private static let deberta = """
        DeBERTa's disentangled relative attention is not implemented: with transformers 5.24 and PEFT 0.21 the model \
        takes no key/value cache, so PEFT cannot run a prefix-tuning adapter on it (with an attention mask it fails on \
        the mask PEFT lengthens by the prefix; without one the prefix is ignored), and there is no reference to match
        """
}
