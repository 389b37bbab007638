extension ArchitectureFamily {
    /// DistilBERT.
    public static let distilbert: ArchitectureFamily = "distilbert"
}

/// DistilBERT: BERT's post-LN bidirectional blocks under other names (`q_lin`, `sa_layer_norm`,
/// `ffn.lin1`, `output_layer_norm`), learned positions by column, no token types, no pooler,
/// LayerNorm eps fixed at 1e-12.
///
/// transformers' DistilBERT takes no key/value cache, so PEFT applies a prefix-tuning adapter to
/// it as a no-op (and fails outright when given an attention mask, which it lengthens by `Pn`).
/// PrefixKit computes the prefix-tuned encoder as the definition says, with BERT's position rule.
public struct DistilBertArchitecture: ModelArchitecture {
    /// The family's name, its `model_type`s, what listings and the family table say of it, and
    /// its options.
    public let listing = FamilyListing(
        .distilbert,
        summary: "DistilBERT: BERT's encoder without token types or pooler (PEFT ignores its prefix)",
        blocks: """
            BERT's blocks under other names, no token types, no pooler; SEQ_CLS (`pre_classifier -> ReLU -> \
            classifier`), TOKEN_CLS. transformers' DistilBERT takes no key/value cache, so PEFT applies a \
            prefix adapter to it as a no-op: PrefixKit says so at import and in `verify`, and computes the \
            real prefix-tuned encoder
            """)

    /// PEFT's prefix does nothing on DistilBERT (see ``ModelArchitecture/peftNote``).
    public var peftNote: String? {
        "PEFT applies a prefix-tuning adapter to DistilBERT as a no-op: transformers' DistilBERT takes no key/value cache, "
            + "so a PEFT model's outputs equal the base model's (and PEFT fails on padded inputs, whose mask it lengthens by Pn). "
            + "PrefixKit computes the prefix-tuned encoder as prefix-tuning defines it, so its outputs differ from PEFT's, "
            + "and training through PEFT never changed this prefix"
    }

    /// Sequence classification as `DistilBertForSequenceClassification` computes it
    /// (`classifier(relu(pre_classifier(row 0)))`), token classification as `classifier` on every row.
    public func taskHead(_ task: TaskType, config: ModelConfig, labels: Int) throws(ConfigError) -> TaskHeadRecipe {
        let d = config.hiddenSize
        switch task {
        case .sequenceClassification:
            return .classifier(task, reading: .firstRow, width: d, labels: labels, through: ("pre_classifier", .relu))
        case .tokenClassification:
            return .classifier(task, reading: .everyRow, width: d, labels: labels)
        default:
            throw .noTaskHead(task, family: family)
        }
    }

    /// The weight whose rows are the labels.
    public func labelWeight(_ task: TaskType) -> String? { task.hasHead ? "classifier.weight" : nil }

    /// Reads this family's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let (d, heads) = try fields.widthAndHeads("dim", "n_heads")
        return ModelConfig(
            family: family, numLayers: try fields.int("n_layers"), hiddenSize: d, numHeads: heads, numKVHeads: heads,
            headDim: d / heads, intermediateSize: try fields.int("hidden_dim"), normKind: .layerNorm, normEps: 1e-12,
            positionScheme: .learned, maxPositions: try fields.int("max_position_embeddings"), vocabSize: try fields.int("vocab_size"),
            activation: try fields.optionalString("activation") ?? "gelu", tieWordEmbeddings: true, attentionBias: true)
    }

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        let activation = try Activation.named(config.activation, family: family, field: "activation")
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps
        guard config.headDim * config.numHeads == d, config.numKVHeads == config.numHeads else {
            throw ConfigError(.inconsistent, "dim must equal n_heads * head_dim for DistilBERT", field: "dim")
        }
        let scale = 1 / Double(config.headDim).squareRoot()
        var recipe = ModelRecipe(
            family: family, heads: config.numHeads, kvHeads: config.numHeads, headDim: config.headDim,
            tokenEmbedding: "embeddings.word_embeddings.weight",
            positions: .learned(table: "embeddings.position_embeddings.weight", offset: 0),
            layer: { l in
                let p = "transformer.layer.\(l)."
                return LayerRecipe(
                    inputNorm: nil,
                    qkv: .separate(
                        q: LinearPart(p + "attention.q_lin", inputs: d, outputs: d, bias: true),
                        k: LinearPart(p + "attention.k_lin", inputs: d, outputs: d, bias: true),
                        v: LinearPart(p + "attention.v_lin", inputs: d, outputs: d, bias: true)),
                    attention: AttentionRecipe(scale: scale, causal: false),
                    output: LinearPart(p + "attention.out_lin", inputs: d, outputs: d, bias: true),
                    mlpNorm: nil,
                    mlp: .plain(
                        up: LinearPart(p + "ffn.lin1", inputs: d, outputs: ff, bias: true),
                        down: LinearPart(p + "ffn.lin2", inputs: ff, outputs: d, bias: true), activation: activation),
                    attentionResidualNorm: NormPart(p + "sa_layer_norm", kind: .layerNorm, width: d, bias: true, eps: eps),
                    mlpResidualNorm: NormPart(p + "output_layer_norm", kind: .layerNorm, width: d, bias: true, eps: eps))
            },
            finalNorm: nil,
            head: LinearPart("vocab_projector", inputs: d, outputs: config.vocabSize, bias: true),
            headUse: .none, namePrefixes: ["distilbert."], bufferSuffixes: ["embeddings.position_ids"])
        recipe.embeddingNorm = NormPart("embeddings.LayerNorm", kind: .layerNorm, width: d, bias: true, eps: eps)
        recipe.inputPositions = .column
        recipe.keptUnusedPrefixes = [
            "vocab_transform.", "vocab_layer_norm.", "vocab_projector.", "pre_classifier.", "classifier.", "qa_outputs.",
        ]
        return recipe
    }

    /// The configuration as this family's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        ConfigJSON([
            "architectures": .strings(["DistilBertModel"]), "model_type": .string("distilbert"), "activation": .string(config.activation),
            "n_layers": .int(config.numLayers), "dim": .int(config.hiddenSize), "n_heads": .int(config.numHeads),
            "hidden_dim": .int(config.intermediateSize), "max_position_embeddings": .int(config.maxPositions),
            "vocab_size": .int(config.vocabSize),
        ]).text
    }
}
