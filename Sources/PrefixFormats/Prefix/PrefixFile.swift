import Foundation
public import PrefixCore

/// Prefix tensors in `.npz` or `.safetensors`, under PrefixKit's names:
/// `prefix.layer_00` ... `[Pn, d]` (hidden form), or `prefix.layer_00.key` / `.value`
/// `[Hkv, Pn, hd]` (key/value form), the MLP under `prefix_mlp.*`, and metadata (safetensors
/// `__metadata__`, npz key `meta` holding JSON): form, Pn, prefix_start, input_start,
/// base_fingerprint. Or one flat `[Pn, L*2*Hkv*hd]` tensor in PEFT's layout (`--layout flat-kv`).
public enum PrefixFile {
    /// The tensors and metadata of a file, as they are.
    public struct Contents: Sendable {
        /// Every tensor, by its name in the file.
        public var tensors: [NamedTensor]
        /// The safetensors `__metadata__`, or the fields of an npz's `meta` JSON.
        public var metadata: [String: String]
    }

    /// Whether `path` is a file PrefixKit reads prefixes from.
    public static func detect(_ path: String) -> Bool { path.hasSuffix(".npz") || path.hasSuffix(".safetensors") }

    /// The most bytes the arrays of a prefix `.npz` may inflate to.
    public static let maxBytes = 8 << 30

    /// The most bytes a prefix for `config` can take, MLP included, in f64: per layer the larger
    /// of `d` and `2 * token_dim` values for every position, and an MLP whose hidden width is up
    /// to `4d`.
    public static func maxBytes(for config: ModelConfig) -> Int {
        let width = max(config.hiddenSize, 2 * config.tokenDim)
        let (a, o1) = (config.numLayers * width).multipliedReportingOverflow(by: config.maxPositions + 8 * config.hiddenSize)
        let (b, o2) = a.multipliedReportingOverflow(by: 8)
        return o1 || o2 ? PrefixFile.maxBytes : min(PrefixFile.maxBytes, b + (1 << 20))
    }

    /// Reads every tensor and the metadata of an `.npz` or `.safetensors`; `.npz` arrays may
    /// inflate to `maxBytes` at most.
    ///
    /// - Throws: ``FormatError`` from the format readers, `.unsupportedDType` for another extension.
    public static func read(path: String, maxBytes: Int = PrefixFile.maxBytes) throws(FormatError) -> Contents {
        let contents = try readContents(path: path, maxBytes: maxBytes)
        if contents.tensors.contains(where: { $0.name.hasPrefix("task_head.") }), contents.metadata["task_type"] == nil {
            throw FormatError(
                .missingKey, "holds task_head.* tensors but no task_type in its metadata (SEQ_CLS or TOKEN_CLS)", path: path,
                member: "task_type")
        }
        return contents
    }

    private static func readContents(path: String, maxBytes: Int) throws(FormatError) -> Contents {
        if path.hasSuffix(".safetensors") {
            let file = try SafetensorsFile(path: path)
            let tensors = try file.entries.map { (e) throws(FormatError) in NamedTensor(e.name, try file.tensor(e)) }
            return Contents(tensors: tensors, metadata: Dictionary(file.metadata ?? [], uniquingKeysWith: { a, _ in a }))
        }
        if path.hasSuffix(".npz") {
            var tensors: [NamedTensor] = []
            var metadata: [String: String] = [:]
            // Prefix tensors are rank 1 to 3 and, even for the largest models, a few GB.
            let limits = NPZ.Limits(maxTotalBytes: min(maxBytes, PrefixFile.maxBytes)) { name, header throws(FormatError) in
                guard header.shape.count <= 3 || name == "meta" else {
                    throw FormatError(
                        .invalidShape, "'\(name)' has rank \(header.shape.count); prefix tensors have rank 1 to 3", member: name)
                }
            }
            for (name, value) in try NPZ.read(path: path, limits: limits) {
                if name == "meta", let text = value.string {
                    if let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] {
                        for (k, v) in object { metadata[k] = "\(v)" }
                    }
                    continue
                }
                guard let tensor = value.tensor else {
                    throw FormatError(.inconsistent, "expected a numeric array", path: path, member: name)
                }
                tensors.append(NamedTensor(name, tensor))
            }
            return Contents(tensors: tensors, metadata: metadata)
        }
        throw FormatError(.unsupportedDType, "prefix files are .npz or .safetensors", path: path)
    }

    /// What a file's tensor names say it holds.
    public enum Layout: String, Sendable {
        /// `prefix.layer_NN` tensors.
        case hidden
        /// `prefix.layer_NN.key` / `.value` tensors.
        case kv
        /// One flat tensor in PEFT's layout.
        case flatKV = "flat-kv"
    }

    /// Builds checkpoint content for a model with `layers` layers, `kvHeads` key/value heads and
    /// head dimension `headDim`.
    ///
    /// - Parameters:
    ///   - contents: the file's tensors and metadata.
    ///   - path: the file, named in errors.
    ///   - flat: read one flat tensor (`tensor`, or the only tensor) in PEFT's layout.
    ///   - tensor: the flat tensor's name, if the file holds several.
    ///   - layers: `L`.
    ///   - kvHeads: the key/value heads of one layer's prefix.
    ///   - headDim: `hd`.
    /// - Returns: the prefix, its MLP and task head, with the positions its metadata records.
    /// - Throws: ``FormatError`` `.inconsistent` or `.missingKey` saying what was found and what was expected.
    public static func content(
        _ contents: Contents, path: String, flat: Bool, tensor: String?, layers: Int, kvHeads: Int,
        headDim: Int
    ) throws(FormatError) -> CheckpointContent {
        var mlp: [NamedTensor] = [], head: [NamedTensor] = []
        var hidden: [Int: Tensor] = [:], keys: [Int: Tensor] = [:], values: [Int: Tensor] = [:]
        var unknown: [String] = []
        if flat {
            let candidates = contents.tensors.filter { tensor == nil || $0.name == tensor }
            guard candidates.count == 1, let only = candidates.first else {
                throw FormatError(
                    .missingKey,
                    tensor.map { "no tensor '\($0)'" }
                        ?? "--layout flat-kv needs one tensor or --tensor NAME (found: \(contents.tensors.map(\.name).prefix(6).joined(separator: ", ")))",
                    path: path)
            }
            do {
                let split = try FlatKVLayout.split(only.tensor, layers: layers, kvHeads: kvHeads, headDim: headDim)
                return CheckpointContent(
                    form: .kv, prefixLength: only.tensor.shape[0], positions: positions(contents.metadata, pn: only.tensor.shape[0]),
                    layers: split)
            } catch {
                throw FormatError(.inconsistent, "\(error)", path: path, member: only.name)
            }
        }
        for item in contents.tensors {
            if item.name.hasPrefix("prefix_mlp.") { mlp.append(NamedTensor(String(item.name.dropFirst(11)), item.tensor)); continue }
            if item.name.hasPrefix("task_head."), item.name.count > 10 {
                head.append(NamedTensor(String(item.name.dropFirst(10)), item.tensor))
                continue
            }
            guard item.name.hasPrefix("prefix.layer_") else { unknown.append(item.name); continue }
            let rest = item.name.dropFirst(13)
            let parts = rest.split(separator: ".", maxSplits: 1)
            guard let digits = parts.first, digits.count >= 2, let layer = Int(digits) else { unknown.append(item.name); continue }
            switch parts.count == 2 ? String(parts[1]) : "" {
            case "": hidden[layer] = item.tensor
            case "key": keys[layer] = item.tensor
            case "value": values[layer] = item.tensor
            default: unknown.append(item.name)
            }
        }
        guard unknown.isEmpty else {
            throw FormatError(
                .inconsistent,
                "found tensors that are not a prefix: \(unknown.prefix(5).joined(separator: ", ")); expected prefix.layer_00 ... (hidden), prefix.layer_00.key/.value (key/value), prefix_mlp.*, task_head.*, or --layout flat-kv",
                path: path)
        }
        let isHidden = !hidden.isEmpty
        guard isHidden != (!keys.isEmpty || !values.isEmpty) else {
            throw FormatError(
                .inconsistent,
                isHidden
                    ? "mixes hidden (prefix.layer_NN) and key/value (prefix.layer_NN.key) tensors"
                    : "holds no prefix tensors (expected prefix.layer_00 ... or prefix.layer_00.key/.value)", path: path)
        }
        let found = isHidden ? hidden.count : max(keys.count, values.count)
        guard found == layers, (0..<layers).allSatisfy({ isHidden ? hidden[$0] != nil : keys[$0] != nil && values[$0] != nil }) else {
            throw FormatError(
                .inconsistent,
                "holds \(found) layer(s) of prefix, the base has \(layers) (each layer needs \(isHidden ? "prefix.layer_NN" : "both .key and .value"))",
                path: path)
        }
        let prefixes: [LayerPrefix] = (0..<layers).compactMap { l in
            if isHidden { return hidden[l].map { .hidden($0) } }
            guard let k = keys[l], let v = values[l] else { return nil }
            return .kv(key: k, value: v)
        }
        let pn = isHidden ? (hidden[0]?.shape.dimensions.first ?? 0) : (keys[0].map { $0.shape.rank == 3 ? $0.shape[1] : 0 } ?? 0)
        return CheckpointContent(
            form: isHidden ? .hidden : .kv, prefixLength: pn, positions: positions(contents.metadata, pn: pn), layers: prefixes, mlp: mlp,
            task: contents.metadata["task_type"].map(TaskType.init(rawValue:)), head: head)
    }

    private static func positions(_ metadata: [String: String], pn: Int) -> PositionConvention {
        PositionConvention(
            prefixStart: metadata["prefix_start"].flatMap(Int.init) ?? 0, inputStart: metadata["input_start"].flatMap(Int.init) ?? pn)
    }

    /// The tensors and metadata to export for a checkpoint.
    public static func entries(_ content: CheckpointContent, baseFingerprint: String) -> (
        tensors: [NamedTensor], metadata: [(key: String, value: String)]
    ) {
        var tensors: [NamedTensor] = []
        for (l, layer) in content.layers.enumerated() {
            let label = "prefix." + layerLabel(l, layerCount: content.layers.count)
            for part in layer.parts { tensors.append(NamedTensor(part.suffix.isEmpty ? label : "\(label).\(part.suffix)", part.tensor)) }
        }
        tensors += content.mlp.map { NamedTensor("prefix_mlp." + $0.name, $0.tensor) }
        tensors += content.head.map { NamedTensor("task_head." + $0.name, $0.tensor) }
        var metadata: [(key: String, value: String)] = [
            ("base_fingerprint", baseFingerprint), ("form", content.form.rawValue), ("Pn", "\(content.prefixLength)"),
            ("prefix_start", "\(content.positions.prefixStart)"), ("input_start", "\(content.positions.inputStart)"),
        ]
        if let task = content.task { metadata.append(("task_type", task.rawValue)) }
        return (tensors, metadata)
    }
}
