extension ArchitectureFamily {
    /// BERT.
    public static let bert: ArchitectureFamily = "bert"
}

/// The BERT family of encoders: bidirectional attention over the prefix and every real row,
/// post-LN blocks (`LayerNorm(x + Attn(x))`, `LayerNorm(h + MLP(h))`), learned absolute
/// positions and token types added once, a LayerNorm on the embeddings, no final norm, and a
/// pooler `tanh(dense(row 0))` where the model has one. Its descendants with the same tensor
/// names are static values in their own files (RoBERTa, XLM-RoBERTa, ELECTRA).
///
/// Positions with a prefix, as transformers computes them: BERT and ELECTRA place column `j` at
/// `Pn + j` whatever the mask; RoBERTa's rule is ``InputPositionRule/skippingPaddingIDs(paddingID:)``.
/// Refused by name: `is_decoder`, `add_cross_attention`, relative position embeddings
/// (`position_embedding_type` other than `absolute`).
public struct BertArchitecture: ModelArchitecture {
    /// The family name stored in the catalog.
    public let family: ArchitectureFamily
    /// One line for listings.
    public let summary: String
    /// The `architectures` entry written into a synthetic `config.json`.
    let className: String
    /// The attribute under which task models hold the encoder (`bert.`, `roberta.`, `electra.`).
    let namePrefix: String
    /// RoBERTa: positions skip padding ids and the table starts at `pad_token_id + 1`.
    var skipsPaddingIDs = false
    /// ELECTRA: `embedding_size` may differ from `hidden_size` (`embeddings_project`).
    var readsEmbeddingSize = false
    /// Whether the base model has a pooler (ELECTRA has none).
    var hasPooler = true
    /// Canonical-name prefixes of the pre-training and task heads a saved model may hold.
    var headPrefixes: [String]
    /// The activation of a sequence classifier that reads row 0 through `classifier.dense`
    /// (RoBERTa: tanh, ELECTRA: GELU); `nil` for BERT's classifier on the pooler.
    var classifierActivation: TaskHeadRecipe.Activation?
    /// What its blocks are made of (the family table).
    public let blocks: String
    /// The config features refused by name (the family table).
    public let refusedByName: String

    /// The family's name, its `model_type`, what listings and the family table say of it, and
    /// its options.
    public var listing: FamilyListing {
        FamilyListing(family, summary: summary, blocks: blocks, refusedByName: refusedByName, options: BertOptions.self)
    }

    /// BERT: positions by column from `Pn`, token types, pooler.
    public static let bert = BertArchitecture(
        family: .bert, summary: "BERT: bidirectional post-LN encoder, learned positions and token types, pooler",
        className: "BertModel", namePrefix: "bert.", headPrefixes: ["cls.", "classifier.", "qa_outputs."],
        blocks: """
            encoder: bidirectional attention, post-LN (`LayerNorm(x + Attn)`, `LayerNorm(h + MLP)`), \
            learned positions by column and token types added once, embedding LayerNorm, no final norm, \
            pooler; heads SEQ_CLS (on the pooler) and TOKEN_CLS
            """,
        refusedByName: "`is_decoder`, `add_cross_attention`, relative `position_embedding_type`")

    /// Creates a description.
    init(
        family: ArchitectureFamily, summary: String, className: String, namePrefix: String, skipsPaddingIDs: Bool = false,
        readsEmbeddingSize: Bool = false, hasPooler: Bool = true, headPrefixes: [String],
        classifierActivation: TaskHeadRecipe.Activation? = nil, blocks: String, refusedByName: String
    ) {
        self.blocks = blocks
        self.refusedByName = refusedByName
        self.classifierActivation = classifierActivation
        self.family = family
        self.summary = summary
        self.className = className
        self.namePrefix = namePrefix
        self.skipsPaddingIDs = skipsPaddingIDs
        self.readsEmbeddingSize = readsEmbeddingSize
        self.hasPooler = hasPooler
        self.headPrefixes = headPrefixes
    }

    /// Reads this family's `config.json` fields (see ``ModelArchitecture/parse(_:)``).
    public func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig {
        let (d, heads) = try fields.widthAndHeads("hidden_size", "num_attention_heads")
        if try fields.optionalBool("is_decoder") == true {
            throw ConfigError.notImplemented("is_decoder=true", family: family, detail: "a causal BERT decoder")
        }
        if try fields.optionalBool("add_cross_attention") == true {
            throw ConfigError.notImplemented("add_cross_attention=true", family: family, detail: "cross-attention blocks")
        }
        if let kind = try fields.optionalString("position_embedding_type"), kind != "absolute" {
            throw ConfigError.notImplemented(
                "position_embedding_type=\(kind)", family: family, detail: "relative position embeddings inside attention")
        }
        var maxPositions = try fields.int("max_position_embeddings")
        var config = ModelConfig(
            family: family, numLayers: try fields.int("num_hidden_layers"), hiddenSize: d, numHeads: heads, numKVHeads: heads,
            headDim: d / heads, intermediateSize: try fields.int("intermediate_size"), normKind: .layerNorm,
            normEps: try fields.optionalDouble("layer_norm_eps") ?? 1e-12, positionScheme: .learned,
            maxPositions: maxPositions, vocabSize: try fields.int("vocab_size"),
            activation: try fields.optionalString("hidden_act") ?? "gelu", tieWordEmbeddings: true, attentionBias: true)
        var options = BertOptions()
        options.typeVocabSize = try fields.optionalInt("type_vocab_size") ?? 2
        if skipsPaddingIDs {
            let padding = try fields.optionalInt("pad_token_id") ?? 1
            guard padding >= 0, padding + 1 < maxPositions else {
                throw ConfigError(
                    .inconsistent, "pad_token_id \(padding) leaves no positions in a table of \(maxPositions)", field: "pad_token_id")
            }
            options.paddingID = padding
            // The table's first `pad_token_id + 1` rows are not positions.
            maxPositions -= padding + 1
            config.maxPositions = maxPositions
        }
        if readsEmbeddingSize, let size = try fields.optionalInt("embedding_size"), size != d {
            options.embeddingSize = size
        }
        config.options = options
        return config
    }

    /// The block recipe (see ``ModelArchitecture/recipe(for:)``).
    public func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        let activation = try Activation.named(config.activation, family: family, field: "hidden_act")
        let d = config.hiddenSize, ff = config.intermediateSize, eps = config.normEps
        guard config.headDim * config.numHeads == d, config.numKVHeads == config.numHeads else {
            throw ConfigError(.inconsistent, "hidden_size must equal num_attention_heads * head_dim for \(family)", field: "hidden_size")
        }
        let options = config.options(as: BertOptions.self) ?? BertOptions()
        let width = options.embeddingSize ?? d
        let scale = 1 / Double(config.headDim).squareRoot()
        var recipe = ModelRecipe(
            family: family, heads: config.numHeads, kvHeads: config.numHeads, headDim: config.headDim,
            tokenEmbedding: "embeddings.word_embeddings.weight",
            positions: .learned(table: "embeddings.position_embeddings.weight", offset: options.paddingID.map { $0 + 1 } ?? 0),
            layer: { l in
                let p = "encoder.layer.\(l)."
                return LayerRecipe(
                    inputNorm: nil,
                    qkv: .separate(
                        q: LinearPart(p + "attention.self.query", inputs: d, outputs: d, bias: true),
                        k: LinearPart(p + "attention.self.key", inputs: d, outputs: d, bias: true),
                        v: LinearPart(p + "attention.self.value", inputs: d, outputs: d, bias: true)),
                    attention: AttentionRecipe(scale: scale, causal: false),
                    output: LinearPart(p + "attention.output.dense", inputs: d, outputs: d, bias: true),
                    mlpNorm: nil,
                    mlp: .plain(
                        up: LinearPart(p + "intermediate.dense", inputs: d, outputs: ff, bias: true),
                        down: LinearPart(p + "output.dense", inputs: ff, outputs: d, bias: true), activation: activation),
                    attentionResidualNorm: NormPart(p + "attention.output.LayerNorm", kind: .layerNorm, width: d, bias: true, eps: eps),
                    mlpResidualNorm: NormPart(p + "output.LayerNorm", kind: .layerNorm, width: d, bias: true, eps: eps))
            },
            finalNorm: nil,
            head: LinearPart("lm_head", inputs: d, outputs: config.vocabSize, bias: false),
            headUse: .none, namePrefixes: [namePrefix], bufferSuffixes: ["embeddings.position_ids", "embeddings.token_type_ids"])
        recipe.embeddingNorm = NormPart("embeddings.LayerNorm", kind: .layerNorm, width: width, bias: true, eps: eps)
        recipe.tokenTypes = ("embeddings.token_type_embeddings.weight", options.typeVocabSize ?? 2)
        if width != d { recipe.embeddingProjection = LinearPart("embeddings_project", inputs: width, outputs: d, bias: true) }
        if hasPooler { recipe.pooler = LinearPart("pooler.dense", inputs: d, outputs: d, bias: true) }
        recipe.inputPositions = options.paddingID.map { .skippingPaddingIDs(paddingID: $0) } ?? .column
        recipe.keptUnusedPrefixes = headPrefixes
        return recipe
    }

    /// Sequence classification as the family's `ForSequenceClassification` class computes it
    /// (BERT: `classifier(pooler_output)`; RoBERTa, ELECTRA: `out_proj(act(dense(row 0)))`), and
    /// token classification as `classifier` on every row.
    public func taskHead(_ task: TaskType, config: ModelConfig, labels: Int) throws(ConfigError) -> TaskHeadRecipe {
        let d = config.hiddenSize
        switch task {
        case .sequenceClassification:
            if let activation = classifierActivation {
                return .classifier(
                    task, reading: .firstRow, width: d, labels: labels, output: "classifier.out_proj",
                    through: ("classifier.dense", activation))
            }
            guard hasPooler else {
                throw ConfigError(.unsupported, "\(family) has no pooler for a sequence classifier", field: "task_type")
            }
            return .classifier(task, reading: .pooler, width: d, labels: labels)
        case .tokenClassification:
            return .classifier(task, reading: .everyRow, width: d, labels: labels)
        default:
            throw .noTaskHead(task, family: family)
        }
    }

    /// The weight whose rows are the labels.
    public func labelWeight(_ task: TaskType) -> String? {
        switch task {
        case .sequenceClassification: classifierActivation == nil ? "classifier.weight" : "classifier.out_proj.weight"
        case .tokenClassification: "classifier.weight"
        default: nil
        }
    }

    /// The configuration as this family's `config.json`.
    public func huggingFaceJSON(_ config: ModelConfig) -> String {
        let options = config.options(as: BertOptions.self) ?? BertOptions()
        return ConfigJSON([
            "architectures": .strings([className]), "model_type": .string(family.rawValue), "hidden_act": .string(config.activation),
            "num_hidden_layers": .int(config.numLayers), "hidden_size": .int(config.hiddenSize),
            "num_attention_heads": .int(config.numHeads),
            "intermediate_size": .int(config.intermediateSize),
            "max_position_embeddings": .int(config.maxPositions + (options.paddingID.map { $0 + 1 } ?? 0)),
            "vocab_size": .int(config.vocabSize), "type_vocab_size": .int(options.typeVocabSize ?? 2),
            "layer_norm_eps": .double(config.normEps), "pad_token_id": options.paddingID.map { .int($0) },
            "embedding_size": options.embeddingSize.map { .int($0) },
        ]).text
    }
}

/// The options of BERT and its descendants (RoBERTa, XLM-RoBERTa, ELECTRA).
public struct BertOptions: FamilyOptions {
    /// The number of token types (`type_vocab_size`).
    public var typeVocabSize: Int?
    /// The padding id whose tokens skip positions (RoBERTa's `pad_token_id`).
    public var paddingID: Int?
    /// The width of the embedding tables when it differs from `hidden_size` (ELECTRA
    /// `embedding_size`).
    public var embeddingSize: Int?

    /// No option set.
    public init() {}
}
