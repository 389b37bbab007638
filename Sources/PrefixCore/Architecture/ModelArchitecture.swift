/// Everything PrefixKit knows about one Transformer family, in one place: how to read its
/// `config.json` (refusing by name every feature the engine does not compute), its block recipe
/// with weight names and shapes, and how its prefix reaches each block.
///
/// Adding a family is one file with a type conforming to this protocol and one line in
/// ``Architectures/all``.
public protocol ModelArchitecture: Sendable {
    /// The family's name, the `model_type` values it reads, what listings and the family table
    /// say of it, and the type of its options.
    var listing: FamilyListing { get }

    /// Reads a `config.json` object whose `model_type` is one of ``modelTypes``.
    ///
    /// - Throws: ``ConfigError``: `.missingField`, `.wrongType`, `.inconsistent`, and
    ///   `.unsupported` naming any feature the engine does not compute.
    func parse(_ fields: ConfigFields) throws(ConfigError) -> ModelConfig

    /// The block recipe of `config`: the parts each block is composed of and the tensors they read.
    ///
    /// - Throws: ``ConfigError`` `.unsupported` for a feature the engine does not compute (configs
    ///   built in code are checked here as well as at parse time).
    func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe

    /// `config` spelled as the family's `config.json` (for synthetic models and exports).
    func huggingFaceJSON(_ config: ModelConfig) -> String

    /// The number of key/value heads in each layer's prefix (the family's cache shape): usually
    /// `Hkv`; families whose caches hold keys and values expanded to every query head say `H`.
    func prefixKVHeads(_ config: ModelConfig) -> Int

    /// Why an adapter with `adapterHeads` key/value heads cannot fit `config`, when the family
    /// knows a reason worth telling (Falcon's multi-query models and PEFT's head count).
    func adapterHeadsHint(_ config: ModelConfig, adapterHeads: Int) -> String?

    /// What a user of HF PEFT must know about prefix-tuning adapters on this family, when PEFT
    /// computes something other than prefix-tuning there (DistilBERT: a no-op); said at import
    /// and in `verify`.
    var peftNote: String? { get }

    /// The head of `task` with `labels` outputs, as the family's Hugging Face class computes it.
    ///
    /// - Throws: ``ConfigError`` `.unsupported` for a task whose head the family does not have.
    func taskHead(_ task: TaskType, config: ModelConfig, labels: Int) throws(ConfigError) -> TaskHeadRecipe

    /// The canonical name of the weight whose rows are the labels, for `task`.
    func labelWeight(_ task: TaskType) -> String?
}

extension ModelArchitecture {
    /// The key/value heads of one layer's prefix (see ``ModelArchitecture/prefixKVHeads(_:)``).
    public func prefixKVHeads(_ config: ModelConfig) -> Int { config.numKVHeads }

    /// Why an adapter's head count cannot fit (see ``ModelArchitecture/adapterHeadsHint(_:adapterHeads:)``).
    public func adapterHeadsHint(_ config: ModelConfig, adapterHeads: Int) -> String? { nil }

    /// The family name stored in the catalog.
    public var family: ArchitectureFamily { listing.family }
    /// The `model_type` values of `config.json` this description reads.
    public var modelTypes: [String] { listing.modelTypes }
    /// One line for listings: what the family is and what it supports.
    public var summary: String { listing.summary }
    /// What the family's blocks are made of (the generated family table in `docs/families.md`).
    public var blocks: String { listing.blocks }
    /// The config features refused by name ("" when none).
    public var refusedByName: String { listing.refusedByName }
    /// The type of the family's ``ModelConfig/options``.
    public var optionsType: any FamilyOptions.Type { listing.options }

    /// No note (see ``ModelArchitecture/peftNote``).
    public var peftNote: String? { nil }

    /// No task heads (see ``ModelArchitecture/taskHead(_:config:labels:)``).
    public func taskHead(_ task: TaskType, config: ModelConfig, labels: Int) throws(ConfigError) -> TaskHeadRecipe {
        throw .noTaskHead(task, family: family)
    }

    /// No task heads.
    public func labelWeight(_ task: TaskType) -> String? { nil }

    /// The head a checkpoint's tensors describe, checked against them.
    ///
    /// - Throws: ``ConfigError`` when the family has no such head or the tensors do not fit it.
    public func checkedHead(_ task: TaskType, config: ModelConfig, tensors: [NamedTensor]) throws(ConfigError) -> TaskHeadRecipe {
        guard let weight = labelWeight(task) else { return try taskHead(task, config: config, labels: 1) }
        guard let labels = Self.labels(of: tensors, finalWeight: weight), labels > 0 else {
            throw ConfigError(.inconsistent, "the \(task) head lacks '\(weight)' [labels, in]", field: weight)
        }
        let recipe = try taskHead(task, config: config, labels: labels)
        try recipe.check(tensors)
        return recipe
    }
}

/// What the registry, listings and the family table know of a family.
public struct FamilyListing: Sendable {
    /// The family name stored in the catalog.
    public var family: ArchitectureFamily
    /// The `model_type` values of `config.json` the description reads.
    public var modelTypes: [String]
    /// One line for listings: what the family is and what it supports.
    public var summary: String
    /// What the family's blocks are made of, in a phrase (Markdown code spans allowed).
    public var blocks: String
    /// The config features a `config.json` of this family is refused for, by name ("" when none).
    public var refusedByName: String
    /// The type of the family's ``ModelConfig/options``.
    public var options: any FamilyOptions.Type

    /// A listing; `modelTypes` default to the family's name, `blocks` to the summary.
    public init(
        _ family: ArchitectureFamily, modelTypes: [String]? = nil, summary: String, blocks: String? = nil, refusedByName: String = "",
        options: any FamilyOptions.Type = NoFamilyOptions.self
    ) {
        self.family = family
        self.modelTypes = modelTypes ?? [family.rawValue]
        self.summary = summary
        self.blocks = blocks ?? summary
        self.refusedByName = refusedByName
        self.options = options
    }
}

/// The registry of model families.
public enum Architectures {
    /// Every family this version computes, in listing order.
    public static let all: [any ModelArchitecture] = [
        GPT2Architecture(),
        LlamaArchitecture.llama,
        LlamaArchitecture.qwen2,
        LlamaArchitecture.mistral,
        LlamaArchitecture.qwen3,
        LlamaArchitecture.granite,
        LlamaArchitecture.gemma,
        LlamaArchitecture.gemma2,
        LlamaArchitecture.phi3,
        LlamaArchitecture.olmo,
        LlamaArchitecture.olmo2,
        GPTNeoXArchitecture(),
        GPTJArchitecture(),
        PhiArchitecture(),
        StarCoder2Architecture(),
        OPTArchitecture(),
        BloomArchitecture(),
        MPTArchitecture(),
        FalconArchitecture(),
        CohereArchitecture(),
        BertArchitecture.bert,
        BertArchitecture.roberta,
        BertArchitecture.xlmRoberta,
        BertArchitecture.electra,
        DistilBertArchitecture(),
        T5Architecture.t5,
        T5Architecture.mt5,
        BartArchitecture(),
    ]

    /// Families users prefix-tune that this version refuses on purpose: `model_type` and why.
    public static var refused: [(modelType: String, reason: String)] {
        RefusedFamilies.reasons.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The description of `family`, `nil` for a family this version does not know.
    public static func known(_ family: ArchitectureFamily) -> (any ModelArchitecture)? {
        all.first { $0.family == family }
    }

    /// The description of `family`.
    ///
    /// - Throws: ``ConfigError`` `.unsupported` for a family this version does not know.
    public static func named(_ family: ArchitectureFamily) throws(ConfigError) -> any ModelArchitecture {
        guard let found = known(family) else {
            throw ConfigError(
                .unsupported,
                "model family '\(family)' is not known to this version (\(all.map(\.family.rawValue).joined(separator: ", ")))",
                field: "family")
        }
        return found
    }

    /// Reads a parsed `config.json` object: picks the family by `model_type`, parses, checks the
    /// result for consistency and builds its recipe once, so that every refusal happens here.
    ///
    /// - Throws: ``ConfigError``.
    public static func parse(_ object: [String: Any]) throws(ConfigError) -> ModelConfig {
        let fields = ConfigFields(object)
        let modelType = try fields.string("model_type")
        if let reason = RefusedFamilies.reasons[modelType] {
            throw ConfigError(.unsupported, "model_type '\(modelType)' is refused: \(reason)", field: "model_type")
        }
        guard let architecture = all.first(where: { $0.modelTypes.contains(modelType) }) else {
            throw ConfigError(
                .unsupported,
                "model_type '\(modelType)' is not supported (\(all.flatMap(\.modelTypes).joined(separator: ", ")))",
                field: "model_type")
        }
        let config = try architecture.parse(fields)
        do { try config.validate() } catch {
            throw ConfigError(.inconsistent, "config.json is inconsistent: \(error)")
        }
        _ = try architecture.recipe(for: config)
        return config
    }

    /// The options of `family` with none set (no options for a family this version does not know).
    public static func defaultOptions(for family: ArchitectureFamily) -> any FamilyOptions {
        known(family)?.optionsType.init() ?? NoFamilyOptions()
    }

    /// The recipe of `config`'s family.
    ///
    /// - Throws: ``ConfigError`` `.unsupported`.
    public static func recipe(for config: ModelConfig) throws(ConfigError) -> ModelRecipe {
        try named(config.family).recipe(for: config)
    }
}
