import Foundation
public import PrefixCore

/// An HF PEFT prefix-tuning adapter directory: `adapter_config.json` and
/// `adapter_model.safetensors`, whose one tensor `prompt_embeddings` `[Pn, L*2*token_dim]` holds
/// every layer's keys and values in PEFT's flat layout (``PrefixCore/FlatKVLayout``). With
/// `prefix_projection`, that tensor is the projection MLP's output; the MLP itself is not saved.
public struct PEFTAdapter: Sendable {
    /// The fields of `adapter_config.json` PrefixKit reads.
    public struct Config: Sendable, Equatable {
        /// `num_virtual_tokens`: `Pn`.
        public var numVirtualTokens: Int
        /// `num_layers`: `L`.
        public var numLayers: Int
        /// `token_dim`: the width of one layer's keys (or values), `Hkv * hd`.
        public var tokenDim: Int
        /// `num_attention_heads`: the key/value heads of the prefix.
        public var numAttentionHeads: Int
        /// `encoder_hidden_size`: the projection MLP's inner width.
        public var encoderHiddenSize: Int?
        /// `prefix_projection`: whether the saved tensor is the projection MLP's output.
        public var prefixProjection: Bool
        /// `task_type` (`CAUSAL_LM`, `SEQ_CLS`, ...).
        public var taskType: String?
        /// `base_model_name_or_path`.
        public var baseModelNameOrPath: String?
        /// `num_transformer_submodules`: 2 for encoder-decoders.
        public var numTransformerSubmodules: Int

        /// How PEFT feeds the stored layers to the model: its encoder-decoder layout for two
        /// submodules (``PrefixCore/PrefixLayout/peftSeq2Seq``), else block `l` from layer `l`.
        public var layout: PrefixLayout { numTransformerSubmodules == 2 ? .peftSeq2Seq : .direct }

        /// The head dimension: `token_dim / num_attention_heads`.
        public var headDim: Int { numAttentionHeads > 0 ? tokenDim / numAttentionHeads : 0 }
    }

    /// The directory.
    public let path: String
    /// The configuration.
    public let config: Config
    /// `adapter_config.json` as it was read.
    public let configText: String
    /// The flat keys and values, `[Pn, L*2*token_dim]`.
    public let promptEmbeddings: Tensor
    /// The task head PEFT saved beside the prefix (`modules_to_save`: `classifier.weight`, ...),
    /// named without PEFT's `base_model.` prefix.
    public let head: [NamedTensor]

    /// The largest `adapter_config.json` read (PEFT writes well under 2 KB).
    public static let maxConfigBytes = 1 << 20

    /// The most head tensors an adapter may hold.
    public static let maxHeadTensors = 64

    /// The largest `num_layers`, `token_dim`, `num_attention_heads` or `num_virtual_tokens` read.
    public static let fieldLimit = 1 << 24

    /// Whether `path` looks like a PEFT adapter directory.
    public static func detect(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path + "/adapter_config.json")
    }

    /// Reads and checks the adapter at `path`.
    ///
    /// - Throws: ``FormatError``: `.unsupportedFeature` (not PREFIX_TUNING), `.inconsistent` for a
    ///   `num_transformer_submodules` other than 1 or 2,
    ///   `.pickleRefused` (what ``TorchCheckpoint`` refuses in `adapter_model.bin`), `.missingKey`, `.inconsistent` (the
    ///   tensor's shape disagrees with the config, naming the field), and the errors of reading
    ///   JSON and safetensors.
    ///
    /// Its files may be links only inside `linkRoot` (by default the directory itself; a Hub cache
    /// repository's folder for a snapshot), as ``InputFile/contained(_:_:root:)`` says.
    public init(path: String, linkRoot: String? = nil) throws(FormatError) {
        self.path = path
        let configPath = try InputFile.contained(path, "adapter_config.json", root: linkRoot)
        let data = [UInt8](try InputFile.read(configPath, limit: PEFTAdapter.maxConfigBytes, what: "adapter_config.json"))
        config = try Self.parseConfig(data, path: configPath)
        configText = String(decoding: data, as: UTF8.self)
        // safetensors, else PEFT's pickled `adapter_model.bin` (read without executing it).
        var weights = path + "/adapter_model.safetensors"
        let items: [HFModelDirectory.Item]
        if FileManager.default.fileExists(atPath: weights) {
            let file = try SafetensorsFile(path: try InputFile.contained(path, "adapter_model.safetensors", root: linkRoot))
            items = file.entries.map { HFModelDirectory.Item(file, $0) }
        } else if FileManager.default.fileExists(atPath: path + "/adapter_model.bin") {
            weights = try InputFile.contained(path, "adapter_model.bin", root: linkRoot)
            let file = try TorchCheckpoint(path: weights)
            items = file.entries.map { HFModelDirectory.Item(file, $0) }
        } else {
            throw FormatError(.missingKey, "no adapter_model.safetensors or adapter_model.bin", path: path)
        }
        let file = (weights as NSString).lastPathComponent
        guard let entry = items.first(where: { $0.name == "prompt_embeddings" }) else {
            throw FormatError(
                .missingKey,
                "\(file) has no 'prompt_embeddings' (found: \(items.map(\.name).prefix(5).joined(separator: ", ")))",
                path: weights)
        }
        let (width, overflow) = (config.numLayers * 2).multipliedReportingOverflow(by: config.tokenDim)
        guard !overflow else {
            throw FormatError(.outOfRange, "num_layers x 2 x token_dim overflows", path: configPath, member: "token_dim")
        }
        guard entry.shape.count == 2, entry.shape[1] == width else {
            throw FormatError(
                .inconsistent,
                "prompt_embeddings is \(entry.shape), but num_layers \(config.numLayers) x 2 x token_dim \(config.tokenDim) needs [Pn, \(width)]",
                path: weights, member: "prompt_embeddings")
        }
        guard entry.shape[0] == config.numVirtualTokens else {
            throw FormatError(
                .inconsistent, "prompt_embeddings has \(entry.shape[0]) rows but num_virtual_tokens is \(config.numVirtualTokens)",
                path: weights, member: "num_virtual_tokens")
        }
        guard entry.dtype.isFloatingPoint else {
            throw FormatError(
                .inconsistent, "prompt_embeddings is \(entry.dtype), not a float type", path: weights, member: "prompt_embeddings")
        }
        promptEmbeddings = try entry.read()
        var head: [NamedTensor] = []
        for other in items where other.name != "prompt_embeddings" {
            guard other.name.hasPrefix("base_model."), other.name.count > "base_model.".count else {
                throw FormatError(
                    .inconsistent,
                    "\(file) holds '\(other.name)', which is neither prompt_embeddings nor a saved module (base_model.*)",
                    path: weights, member: other.name)
            }
            guard other.dtype.isFloatingPoint else {
                throw FormatError(.inconsistent, "'\(other.name)' is \(other.dtype), not a float type", path: weights, member: other.name)
            }
            guard head.count < Self.maxHeadTensors else {
                throw FormatError(
                    .outOfRange, "more than \(Self.maxHeadTensors) saved module tensors", path: weights, member: other.name)
            }
            // Older PEFT versions kept the wrapper's path in the name.
            let name = String(other.name.dropFirst("base_model.".count)).replacingOccurrences(of: ".modules_to_save.default.", with: ".")
            head.append(NamedTensor(name, try other.read()))
        }
        self.head = head
    }

    /// Reads and checks the fields of an `adapter_config.json` (at `configPath`, named in errors).
    ///
    /// - Throws: ``FormatError``: `.malformedJSON`, `.unsupportedFeature` (not PREFIX_TUNING),
    ///   `.missingKey` / `.outOfRange` for a dimension, `.inconsistent` for
    ///   `num_transformer_submodules` other than 1 or 2 or a `token_dim` not divisible by the heads.
    public static func parseConfig(_ data: [UInt8], path configPath: String) throws(FormatError) -> Config {
        // The bound adapter_config.json is read with, wherever the text comes from (a file's metadata too).
        guard data.count <= PEFTAdapter.maxConfigBytes else {
            throw FormatError(
                .outOfRange, "the adapter config is \(data.count) bytes, beyond the limit of \(PEFTAdapter.maxConfigBytes)",
                path: configPath)
        }
        let json: JSONValue
        do { json = try BoundedJSON.parse(data) } catch {
            var error = error
            error.path = configPath
            throw error
        }
        guard case .object(let members) = json else {
            throw FormatError(.malformedJSON, "adapter_config.json is not an object", path: configPath)
        }
        let fields = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        func int(_ key: String) throws(FormatError) -> Int {
            guard case .number(let text)? = fields[key], let value = Int(text), value > 0 else {
                throw FormatError(.missingKey, "adapter_config.json needs a positive integer '\(key)'", path: configPath, member: key)
            }
            // The same bound as a model config's dimensions: products of these never overflow.
            guard value <= PEFTAdapter.fieldLimit else {
                throw FormatError(
                    .outOfRange, "'\(key)' is \(value), beyond the limit of \(PEFTAdapter.fieldLimit)", path: configPath, member: key)
            }
            return value
        }
        func string(_ key: String) -> String? { if case .string(let s)? = fields[key] { s } else { nil } }
        let peftType = string("peft_type") ?? "?"
        guard peftType == "PREFIX_TUNING" else {
            throw FormatError(.unsupportedFeature, "the adapter is \(peftType), not PREFIX_TUNING", path: configPath, member: "peft_type")
        }
        var submodules = 1
        if case .number(let text)? = fields["num_transformer_submodules"], let n = Int(text) { submodules = n }
        guard submodules == 1 || submodules == 2 else {
            throw FormatError(
                .inconsistent, "num_transformer_submodules is \(submodules); PEFT writes 1 (decoders, encoders) or 2 (encoder-decoders)",
                path: configPath, member: "num_transformer_submodules")
        }
        var encoderHidden: Int?
        if case .number(let text)? = fields["encoder_hidden_size"] { encoderHidden = Int(text) }
        var projection = false
        if case .bool(let b)? = fields["prefix_projection"] { projection = b }
        let config = Config(
            numVirtualTokens: try int("num_virtual_tokens"), numLayers: try int("num_layers"), tokenDim: try int("token_dim"),
            numAttentionHeads: try int("num_attention_heads"), encoderHiddenSize: encoderHidden, prefixProjection: projection,
            taskType: string("task_type"), baseModelNameOrPath: string("base_model_name_or_path"), numTransformerSubmodules: submodules)
        guard config.numVirtualTokens <= PrefixFile.maxPrefixLength else {
            throw FormatError(
                .outOfRange,
                "num_virtual_tokens is \(config.numVirtualTokens); PrefixKit reads prefixes of 1 to \(PrefixFile.maxPrefixLength) vectors",
                path: configPath, member: "num_virtual_tokens")
        }
        guard config.tokenDim % config.numAttentionHeads == 0 else {
            throw FormatError(
                .inconsistent, "token_dim \(config.tokenDim) is not a multiple of num_attention_heads \(config.numAttentionHeads)",
                path: configPath, member: "token_dim")
        }
        return config
    }

    /// The per-layer keys and values, `[Hkv, Pn, hd]`.
    public func layers() throws(FormatError) -> [LayerPrefix] {
        do {
            return try FlatKVLayout.split(
                promptEmbeddings, layers: config.numLayers, kvHeads: config.numAttentionHeads, headDim: config.headDim)
        } catch {
            throw FormatError(.inconsistent, "\(error)", path: path, member: "prompt_embeddings")
        }
    }

    /// The `adapter_config.json` PEFT 0.21 writes for `layers` (sorted keys, two-space indent).
    ///
    /// - Parameters:
    ///   - layers: the stored layers' keys and values, `[Hkv, Pn, hd]` each.
    ///   - hiddenSize: `encoder_hidden_size` (PEFT's default is `token_dim`).
    ///   - baseModel: `base_model_name_or_path`.
    ///   - task: `task_type`.
    ///   - saved: whether a task head is saved beside the prefix (`modules_to_save`).
    ///   - layout: the encoder-decoder layout writes `num_transformer_submodules: 2`.
    /// - Returns: the file's text.
    public static func configJSON(
        layers: [LayerPrefix], hiddenSize: Int, baseModel: String?, task: TaskType = .causalLM, saved: Bool = false,
        layout: PrefixLayout = .direct
    ) -> String {
        let shape = layers.first?.parts.first?.tensor.shape.dimensions ?? [0, 0, 0]
        let heads = shape.count == 3 ? shape[0] : 0, pn = shape.count == 3 ? shape[1] : 0, hd = shape.count == 3 ? shape[2] : 0
        let base = baseModel.map(SerdeJSON.quoted) ?? "null"
        return """
            {
              "auto_mapping": null,
              "base_model_name_or_path": \(base),
              "encoder_hidden_size": \(hiddenSize),
              "inference_mode": true,
              "init_weights": null,
              "modules_to_save": \(saved ? "[\n    \"classifier\",\n    \"score\"\n  ]" : "null"),
              "num_attention_heads": \(heads),
              "num_layers": \(layers.count),
              "num_transformer_submodules": \(layout == .peftSeq2Seq ? 2 : 1),
              "num_virtual_tokens": \(pn),
              "peft_type": "PREFIX_TUNING",
              "peft_version": "0.21.2",
              "prefix_projection": false,
              "revision": null,
              "task_type": \(SerdeJSON.quoted(task.rawValue)),
              "token_dim": \(heads * hd)
            }
            """
    }

    /// Writes an adapter directory as PEFT 0.21 does: `adapter_config.json` (sorted keys, two-space
    /// indent) and `adapter_model.safetensors` (`prompt_embeddings`, metadata `format: pt`).
    ///
    /// - Throws: ``FormatError`` `.io`, `.inconsistent` when the layers do not join.
    public static func write(
        layers: [LayerPrefix], hiddenSize: Int, baseModel: String?, task: TaskType = .causalLM, head: [NamedTensor] = [],
        layout: PrefixLayout = .direct, to directory: String
    ) throws(FormatError) {
        let json = configJSON(
            layers: layers, hiddenSize: hiddenSize, baseModel: baseModel, task: task, saved: !head.isEmpty, layout: layout)
        try write(layers: layers, configJSON: json, head: head, to: directory)
    }

    /// Writes an adapter directory with `configJSON` as its `adapter_config.json`, byte for byte,
    /// and the layers (and head) as PEFT saves them in `adapter_model.safetensors`.
    ///
    /// - Throws: ``FormatError`` `.io`, `.inconsistent` when the layers do not join.
    public static func write(layers: [LayerPrefix], configJSON json: String, head: [NamedTensor] = [], to directory: String)
        throws(FormatError)
    {
        let flat: Tensor
        do { flat = try FlatKVLayout.join(layers) } catch { throw FormatError(.inconsistent, "\(error)", path: directory) }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data(json.utf8).write(to: URL(fileURLWithPath: directory + "/adapter_config.json"), options: .atomic)
        } catch {
            throw FormatError(.io, "cannot write adapter_config.json: \(error.localizedDescription)", path: directory)
        }
        try SafetensorsWriter.write(
            head.map { NamedTensor("base_model." + $0.name, $0.tensor) } + [NamedTensor("prompt_embeddings", flat)],
            metadata: [("format", "pt")],
            to: directory + "/adapter_model.safetensors")
    }
}

extension PEFTAdapter.Config {
    /// What in this config disagrees with `layers` stored in `layout`, or nil when it describes
    /// them: the layer count, heads, `token_dim`, `num_virtual_tokens` and submodules.
    public func disagreement(with layers: [LayerPrefix], layout: PrefixLayout) -> String? {
        guard let shape = layers.first?.parts.first?.tensor.shape.dimensions, shape.count == 3,
            layers.allSatisfy({ $0.parts.count == 2 })
        else { return "the prefix is not in key/value form" }
        let checks: [(String, Int, Int)] = [
            ("num_layers", numLayers, layers.count), ("num_attention_heads", numAttentionHeads, shape[0]),
            ("num_virtual_tokens", numVirtualTokens, shape[1]), ("token_dim", tokenDim, shape[0] * shape[2]),
            ("num_transformer_submodules", numTransformerSubmodules, layout == .peftSeq2Seq ? 2 : 1),
        ]
        for (field, said, found) in checks where said != found {
            return "\(field) is \(said) but the prefix has \(found)"
        }
        return nil
    }
}
