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

        /// Contents of `tensors` and `metadata` (a reader of another container builds them).
        public init(tensors: [NamedTensor], metadata: [String: String]) {
            self.tensors = tensors
            self.metadata = metadata
        }
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

    /// The longest prefix PrefixKit reads: far past any prefix trained (20 to a few hundred
    /// vectors), and what keeps a hostile file's shape from sizing an allocation.
    public static let maxPrefixLength = 65_536

    /// Checks a prefix tensor's shape from its header, before any of its bytes is read: a
    /// hidden-form `prefix.layer_NN` is `[Pn, d]`, a `.key` / `.value` `[H, Pn, hd]`, with
    /// `1 <= Pn <=` ``maxPrefixLength``. Other names are not prefix tensors and pass.
    ///
    /// - Throws: ``FormatError`` `.invalidShape` naming the tensor.
    public static func checkPrefixShape(_ name: String, _ shape: [Int]) throws(FormatError) {
        guard let (_, _, part) = parsePrefixName(name) else { return }
        let rank = part.isEmpty ? 2 : 3
        guard shape.count == rank else {
            throw FormatError(
                .invalidShape,
                "'\(name)' has shape \(shape); a \(part.isEmpty ? "hidden-form prefix is [Pn, d]" : "key/value prefix is [H, Pn, hd]")",
                member: name)
        }
        let length = part.isEmpty ? shape[0] : shape[1]
        guard (1...maxPrefixLength).contains(length) else {
            throw FormatError(
                .invalidShape, "'\(name)' has a prefix length of \(length); PrefixKit reads prefixes of 1 to \(maxPrefixLength) vectors",
                member: name)
        }
    }

    /// Reads every tensor and the metadata of an `.npz` or `.safetensors`; `.npz` arrays may
    /// inflate to `maxBytes` at most.
    ///
    /// - Throws: ``FormatError`` from the format readers, `.notImportable` for another extension.
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
            for entry in file.entries {
                do { try checkPrefixShape(entry.name, entry.shape) } catch {
                    var error = error
                    error.path = path
                    throw error
                }
            }
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
                try checkPrefixShape(name, header.shape)
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
        throw FormatError(.notImportable, "prefix files are .npz or .safetensors", path: path)
    }

    /// Builds checkpoint content for a model with `layers` layers, `kvHeads` key/value heads and
    /// head dimension `headDim`.
    ///
    /// An encoder-decoder's file may name each section: `prefix.encoder.layer_00.key`,
    /// `prefix.decoder.layer_00.key`, `prefix.cross.layer_00.key`; unsectioned
    /// `prefix.layer_00...` names are the decoder section, as every one-stack file's are.
    ///
    /// - Parameters:
    ///   - contents: the file's tensors and metadata.
    ///   - path: the file, named in errors.
    ///   - flat: read one flat tensor (`tensor`, or the only tensor) in PEFT's layout.
    ///   - tensor: the flat tensor's name, if the file holds several.
    ///   - layers: `L`, the (decoder) blocks.
    ///   - kvHeads: the key/value heads of one layer's prefix.
    ///   - headDim: `hd`.
    ///   - encoderLayers: an encoder-decoder's encoder blocks; `nil` for a one-stack model.
    /// - Returns: the prefix, its sections, MLP and task head, with the positions and layout its
    ///   metadata records.
    /// - Throws: ``FormatError`` `.inconsistent` or `.missingKey` saying what was found and what was expected.
    public static func content(
        _ contents: Contents, path: String, flat: Bool, tensor: String?, layers: Int, kvHeads: Int,
        headDim: Int, encoderLayers: Int? = nil
    ) throws(FormatError) -> CheckpointContent {
        try content(
            contents, path: path, flat: flat, tensor: tensor, layers: layers, kvHeads: kvHeads, headDim: headDim,
            encoderLayers: encoderLayers, standalone: false)
    }

    /// ``content(_:path:flat:tensor:layers:kvHeads:headDim:encoderLayers:)``; `standalone`: the
    /// layer counts come from the file's own names, not from a base (and errors say so).
    static func content(
        _ contents: Contents, path: String, flat: Bool, tensor: String?, layers: Int, kvHeads: Int,
        headDim: Int, encoderLayers: Int?, standalone: Bool
    ) throws(FormatError) -> CheckpointContent {
        var mlp: [NamedTensor] = [], head: [NamedTensor] = []
        var found: [PrefixSection: SectionTensors] = [:]
        var unknown: [String] = []
        var unsectioned = false, sectioned = false
        if flat {
            let candidates = contents.tensors.filter { tensor == nil || $0.name == tensor }
            guard candidates.count == 1, let only = candidates.first else {
                throw FormatError(
                    .missingKey,
                    tensor.map { "no tensor '\($0)'" }
                        ?? "--layout flat-kv needs one tensor or --tensor NAME (found: \(contents.tensors.map(\.name).prefix(6).joined(separator: ", ")))",
                    path: path)
            }
            guard only.tensor.shape.rank == 2, (1...maxPrefixLength).contains(only.tensor.shape.dimensions[0]) else {
                throw FormatError(
                    .invalidShape,
                    "'\(only.name)' has shape \(only.tensor.shape.dimensions); a flat key/value prefix is [Pn, L * 2 * token_dim] with 1 <= Pn <= \(maxPrefixLength)",
                    path: path, member: only.name)
            }
            do {
                let split = try FlatKVLayout.split(only.tensor, layers: layers, kvHeads: kvHeads, headDim: headDim)
                var content = CheckpointContent(
                    form: .kv, prefixLength: only.tensor.shape[0], positions: positions(contents.metadata, pn: only.tensor.shape[0]),
                    layers: split)
                content.layout = try layout(contents.metadata, path: path, encoderDecoder: encoderLayers != nil)
                return content
            } catch let error as FormatError {
                throw error
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
            guard let (section, layer, part) = parsePrefixName(item.name) else { unknown.append(item.name); continue }
            if section == nil { unsectioned = true } else { sectioned = true }
            switch part {
            case "": found[section ?? .decoder, default: SectionTensors()].hidden[layer] = item.tensor
            case "key": found[section ?? .decoder, default: SectionTensors()].keys[layer] = item.tensor
            default: found[section ?? .decoder, default: SectionTensors()].values[layer] = item.tensor
            }
        }
        guard unknown.isEmpty else {
            throw FormatError(
                .inconsistent,
                "found tensors that are not a prefix: \(unknown.prefix(5).joined(separator: ", ")); expected prefix.layer_00 ... (hidden), prefix.layer_00.key/.value (key/value), prefix.<encoder|decoder|cross>.layer_00... (encoder-decoder sections), prefix_mlp.*, task_head.*, or --layout flat-kv",
                path: path)
        }
        if sectioned, encoderLayers == nil {
            throw FormatError(
                .inconsistent,
                "names encoder-decoder sections (prefix.encoder.*, prefix.decoder.*, prefix.cross.*) but the base has one stack",
                path: path)
        }
        if sectioned, unsectioned {
            throw FormatError(
                .inconsistent, "mixes unsectioned prefix.layer_NN names with sectioned prefix.<section>.layer_NN ones", path: path)
        }
        guard let decoder = found[.decoder] else {
            throw FormatError(
                .inconsistent,
                found.isEmpty
                    ? "holds no prefix tensors (expected prefix.layer_00 ... or prefix.layer_00.key/.value)"
                    : "holds no decoder section (prefix.decoder.layer_NN): the encoder or cross-attention section alone feeds no model PrefixKit runs",
                path: path)
        }
        let label = sectioned ? "prefix.decoder" : "prefix"
        let (form, prefixes) = try decoder.layers(layers, label: label, path: path, standalone: standalone)
        let pn = prefixes.first?.prefixLength ?? 0
        var content = CheckpointContent(
            form: form, prefixLength: pn, positions: positions(contents.metadata, pn: pn), layers: prefixes, mlp: mlp,
            task: contents.metadata["task_type"].map(TaskType.init(rawValue:)), head: head)
        content.layout = try layout(contents.metadata, path: path, encoderDecoder: encoderLayers != nil)
        for (section, count) in [(PrefixSection.encoder, encoderLayers ?? 0), (.cross, layers)] {
            guard let tensors = found[section] else { continue }
            let (sectionForm, sectionLayers) = try tensors.layers(
                count, label: "prefix.\(section.rawValue)", path: path, standalone: standalone)
            guard sectionForm == form || section == .cross else {
                throw FormatError(
                    .inconsistent, "the encoder section is \(sectionForm.rawValue) form but the decoder section \(form.rawValue)",
                    path: path)
            }
            guard sectionForm == .kv || section != .cross else {
                throw FormatError(
                    .inconsistent,
                    "the cross section is hidden form: a cross-attention prefix is keys and values (prefix.cross.layer_NN.key/.value)",
                    path: path)
            }
            guard sectionLayers.allSatisfy({ $0.prefixLength == pn }) else {
                throw FormatError(
                    .inconsistent, "the \(section.rawValue) section's prefix length differs from the decoder's \(pn)", path: path)
            }
            if section == .encoder { content.encoderLayers = sectionLayers } else { content.crossLayers = sectionLayers }
        }
        if content.layout == .peftSeq2Seq, !content.encoderLayers.isEmpty || !content.crossLayers.isEmpty {
            throw FormatError(
                .inconsistent,
                "prefix_layout is peft-seq2seq, which feeds only decoder self-attention, but the file holds an encoder or cross section",
                path: path, member: "prefix_layout")
        }
        content.encoderPositions = PositionConvention(
            prefixStart: contents.metadata["encoder_prefix_start"].flatMap(Int.init) ?? 0,
            inputStart: contents.metadata["encoder_input_start"].flatMap(Int.init) ?? 0)
        return content
    }

    /// Builds checkpoint content from the file alone, with no base to say how many layers it
    /// needs: the layer counts are the ones the names hold (every layer `0..<count` of each
    /// section must be there). A file is an encoder-decoder's when it names sections or its
    /// metadata records an encoder-decoder `prefix_layout`.
    ///
    /// - Returns: the content, and whether it is an encoder-decoder's (its names sectioned).
    /// - Throws: ``FormatError`` as ``content(_:path:flat:tensor:layers:kvHeads:headDim:encoderLayers:)``.
    public static func standalone(_ contents: Contents, path: String) throws(FormatError) -> (
        content: CheckpointContent, encoderDecoder: Bool
    ) {
        var counts: [PrefixSection: Int] = [:]
        var sectioned = false
        for item in contents.tensors {
            guard let (section, layer, _) = parsePrefixName(item.name) else { continue }
            sectioned = sectioned || section != nil
            counts[section ?? .decoder] = max(counts[section ?? .decoder] ?? 0, layer + 1)
        }
        let layout = contents.metadata["prefix_layout"]
        let encoderDecoder = sectioned || (layout != nil && layout != PrefixLayout.direct.rawValue)
        let content = try content(
            contents, path: path, flat: false, tensor: nil, layers: counts[.decoder] ?? 0, kvHeads: 0, headDim: 0,
            encoderLayers: encoderDecoder ? counts[.encoder] ?? 0 : nil, standalone: true)
        return (content, encoderDecoder)
    }

    /// One section's tensors as found, by layer.
    private struct SectionTensors {
        var hidden: [Int: Tensor] = [:], keys: [Int: Tensor] = [:], values: [Int: Tensor] = [:]

        /// The section's `count` layers, every one present and of one form.
        func layers(_ count: Int, label: String, path: String, standalone: Bool) throws(FormatError) -> (PrefixForm, [LayerPrefix]) {
            let isHidden = !hidden.isEmpty
            guard isHidden != (!keys.isEmpty || !values.isEmpty) else {
                throw FormatError(
                    .inconsistent, "mixes hidden (\(label).layer_NN) and key/value (\(label).layer_NN.key) tensors", path: path)
            }
            let found = isHidden ? hidden.count : max(keys.count, values.count)
            guard found == count, (0..<count).allSatisfy({ isHidden ? hidden[$0] != nil : keys[$0] != nil && values[$0] != nil }) else {
                throw FormatError(
                    .inconsistent,
                    standalone
                        ? "\(label) names layers up to \(count - 1) but holds \((0..<count).filter { isHidden ? hidden[$0] != nil : keys[$0] != nil && values[$0] != nil }.count) complete one(s): every layer from 0 needs \(isHidden ? "\(label).layer_NN" : "both .key and .value")"
                        : "\(label) holds \(found) layer(s) of prefix, the base has \(count) (each layer needs \(isHidden ? "\(label).layer_NN" : "both .key and .value"))",
                    path: path)
            }
            let prefixes: [LayerPrefix] = (0..<count).compactMap { l in
                if isHidden { return hidden[l].map { .hidden($0) } }
                guard let k = keys[l], let v = values[l] else { return nil }
                return .kv(key: k, value: v)
            }
            return (isHidden ? .hidden : .kv, prefixes)
        }
    }

    /// `prefix.layer_07.key` -> (nil, 7, "key"); `prefix.cross.layer_07.value` -> (.cross, 7, "value");
    /// `prefix.layer_07` -> (nil, 7, "").
    static func parsePrefixName(_ name: String) -> (PrefixSection?, Int, String)? {
        guard name.hasPrefix("prefix.") else { return nil }
        var rest = Substring(name.dropFirst(7))
        var section: PrefixSection?
        for candidate in PrefixSection.allCases where rest.hasPrefix(candidate.rawValue + ".layer_") {
            section = candidate
            rest = rest.dropFirst(candidate.rawValue.count + 1)
        }
        guard rest.hasPrefix("layer_") else { return nil }
        let parts = rest.dropFirst(6).split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let digits = parts.first, (2...4).contains(digits.count), digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
            let layer = Int(digits)
        else { return nil }
        let part = parts.count == 2 ? String(parts[1]) : ""
        guard ["", "key", "value"].contains(part) else { return nil }
        return (section, layer, part)
    }

    /// The layout the metadata records (`prefix_layout`), direct when absent.
    private static func layout(_ metadata: [String: String], path: String, encoderDecoder: Bool) throws(FormatError) -> PrefixLayout {
        guard let text = metadata["prefix_layout"] else { return .direct }
        guard let layout = PrefixLayout(rawValue: text) else {
            throw FormatError(
                .inconsistent,
                "prefix_layout is '\(text)'; known: \(PrefixLayout.allCases.map(\.rawValue).joined(separator: ", "))", path: path,
                member: "prefix_layout")
        }
        guard layout == .direct || encoderDecoder else {
            throw FormatError(
                .inconsistent, "prefix_layout is \(text), an encoder-decoder layout, but the base has one stack", path: path,
                member: "prefix_layout")
        }
        return layout
    }

    private static func positions(_ metadata: [String: String], pn: Int) -> PositionConvention {
        PositionConvention(
            prefixStart: metadata["prefix_start"].flatMap(Int.init) ?? 0, inputStart: metadata["input_start"].flatMap(Int.init) ?? pn)
    }

    /// The tensors and metadata to export for a checkpoint.
    ///
    /// With `sectioned` (an encoder-decoder's checkpoint), every layer is named by its section
    /// (`prefix.decoder.layer_00.key`, `prefix.encoder...`, `prefix.cross...`) and the metadata
    /// records the layout and the encoder's positions.
    public static func entries(_ content: CheckpointContent, baseFingerprint: String?, sectioned: Bool = false) -> (
        tensors: [NamedTensor], metadata: [(key: String, value: String)]
    ) {
        var tensors: [NamedTensor] = []
        for section in sectioned ? [PrefixSection.encoder, .decoder, .cross] : [.decoder] {
            let layers = content.layers(section)
            for (l, layer) in layers.enumerated() {
                let label = (sectioned ? "prefix.\(section.rawValue)." : "prefix.") + layerLabel(l, layerCount: layers.count)
                for part in layer.parts {
                    tensors.append(NamedTensor(part.suffix.isEmpty ? label : "\(label).\(part.suffix)", part.tensor))
                }
            }
        }
        tensors += content.mlp.map { NamedTensor("prefix_mlp." + $0.name, $0.tensor) }
        tensors += content.head.map { NamedTensor("task_head." + $0.name, $0.tensor) }
        var metadata: [(key: String, value: String)] = baseFingerprint.map { [("base_fingerprint", $0)] } ?? []
        metadata += [
            ("form", content.form.rawValue), ("Pn", "\(content.prefixLength)"),
            ("prefix_start", "\(content.positions.prefixStart)"), ("input_start", "\(content.positions.inputStart)"),
        ]
        if let task = content.task { metadata.append(("task_type", task.rawValue)) }
        if sectioned {
            metadata.append(("prefix_layout", content.layout.rawValue))
            if !content.encoderLayers.isEmpty {
                metadata.append(("encoder_prefix_start", "\(content.encoderPositions.prefixStart)"))
                metadata.append(("encoder_input_start", "\(content.encoderPositions.inputStart)"))
            }
        }
        return (tensors, metadata)
    }

    /// The metadata key holding the `adapter_config.json` that writes the file back to PEFT.
    public static let peftConfigKey = "peft_config"

    /// The containers a prefix file comes in.
    public enum Container: String, Sendable {
        /// NumPy `.npz`: metadata as the JSON string array `meta`.
        case npz
        /// safetensors: metadata in `__metadata__`.
        case safetensors

        /// The container `path`'s extension names, if any.
        public init?(path: String) {
            if path.hasSuffix(".npz") { self = .npz } else if path.hasSuffix(".safetensors") { self = .safetensors } else { return nil }
        }
    }

    /// Writes `tensors` and `metadata` as `container` at `path`. In `.npz` the metadata is the JSON
    /// object `meta`, integers as numbers and everything else as strings.
    ///
    /// - Throws: ``FormatError`` `.unsupportedDType` for a dtype NumPy cannot hold, `.io`.
    public static func write(
        _ tensors: [NamedTensor], metadata: [(key: String, value: String)], to path: String, format container: Container
    ) throws(FormatError) {
        switch container {
        case .safetensors:
            try SafetensorsWriter.write(tensors, metadata: metadata, to: path)
        case .npz:
            if let odd = tensors.first(where: { NPYHeader.descr(for: $0.tensor.dtype) == nil }) {
                throw FormatError(
                    .unsupportedDType,
                    "NumPy cannot hold \(odd.tensor.dtype) (tensor \(odd.name)): export with --dtype f32, or to safetensors")
            }
            let fields = metadata.map { field in
                // An integer as a JSON number only when it is written as one (not "007", "+5").
                SerdeJSON.quoted(field.key) + ": "
                    + (Int(field.value).map(String.init) == field.value ? field.value : SerdeJSON.quoted(field.value))
            }
            let meta = "{" + fields.joined(separator: ", ") + "}"
            try NPZ.write(tensors.map { ($0.name, .tensor($0.tensor)) } + [("meta", .strings([meta], shape: []))], to: path)
        }
    }
}
