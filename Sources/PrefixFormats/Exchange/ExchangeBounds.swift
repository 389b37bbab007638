public import PrefixCore

/// How large an exchange file may be for the model a command reads it for: every member's shape
/// is checked against these from its `.npy` header before any of its data is inflated.
///
/// Batch and input length come from the file's own `input_ids` (or `inputs_embeds`); rows may
/// reach `N + Pn * (L + 1)` (a reference that kept the prefix positions grows by `Pn` a layer);
/// widths may reach four times the model's (a reference for another model is still read, and
/// reported as such).
public struct ExchangeBounds: Sendable, Equatable {
    /// `L`, the model\'s layers.
    public var layers: Int
    /// `d`, the model\'s width.
    public var hiddenSize: Int
    /// The vocabulary (the width of `logits`).
    public var vocabSize: Int
    /// `Pn`, the checkpoint\'s prefix length.
    public var prefixLength: Int
    /// The model\'s positions: the longest input.
    public var maxPositions: Int
    /// The most rows of a batch an input may hold.
    public static let maxBatch = 65_536

    /// Bounds from their parts.
    public init(layers: Int, hiddenSize: Int, vocabSize: Int, prefixLength: Int, maxPositions: Int) {
        self.layers = layers
        self.hiddenSize = hiddenSize
        self.vocabSize = vocabSize
        self.prefixLength = prefixLength
        self.maxPositions = maxPositions
    }

    /// The bounds of a model and a prefix of `prefixLength` rows.
    public init(config: ModelConfig, prefixLength: Int) {
        self.init(
            layers: config.numLayers, hiddenSize: config.hiddenSize, vocabSize: config.vocabSize, prefixLength: prefixLength,
            maxPositions: config.maxPositions)
    }

    /// Checks the input shape `[B, N]` (ids) or `[B, N, d]` (embeddings).
    public func checkInput(_ shape: [Int], name: String) throws(FormatError) {
        guard shape.count >= 2 else { return }
        guard shape[0] <= Self.maxBatch else {
            throw FormatError(.outOfRange, "\(name) has a batch of \(shape[0]) rows, more than \(Self.maxBatch)", member: name)
        }
        guard shape[1] <= maxPositions else {
            throw FormatError(
                .outOfRange, "\(name) holds \(shape[1]) tokens, beyond the model's maximum of \(maxPositions) positions", member: name)
        }
    }

    /// Whether the exchange format defines member `name` (inputs, masks, per-layer activations,
    /// finals, logits, pooler output, `meta`): only those are read from a reference.
    static func isDefined(_ name: String) -> Bool {
        switch name {
        case "input_ids", "attention_mask", "position_ids", "token_type_ids", "decoder_input_ids", "logits", "meta", "final",
            "encoder.final", "inputs_embeds", "pooler_output":
            return true
        default:
            return ActivationExchange.parseSectionedLayerKey(name) != nil
        }
    }

    /// The largest byte count member `name` may have, for inputs of `batch` x `length`.
    /// `decoderLength` is an encoder-decoder's decoder ids' length (the rows of its decoder's
    /// blocks, `final` and `logits`), `nil` for one stack.
    func maxBytes(_ name: String, batch: Int, length: Int, decoderLength: Int? = nil) -> Int {
        let rows = max(length, decoderLength ?? 0) + prefixLength * (layers + 1)
        let width: Int
        switch name {
        case "input_ids", "attention_mask", "position_ids", "token_type_ids": return batch * length * 8
        case "decoder_input_ids": return batch * min(decoderLength ?? length, maxPositions) * 8
        case "logits": width = vocabSize * 4
        case "meta": return 1 << 20
        default:
            width =
                ActivationExchange.parseSectionedLayerKey(name) != nil || name == "final" || name == "encoder.final"
                    || name == "inputs_embeds" || name == "pooler_output"
                ? hiddenSize * 4 : 0
        }
        // Keys the format does not define: small extras only.
        if width == 0 { return 64 << 20 }
        let (a, o1) = batch.multipliedReportingOverflow(by: rows)
        let (b, o2) = a.multipliedReportingOverflow(by: width)
        let (c, o3) = b.multipliedReportingOverflow(by: 8)
        return o1 || o2 || o3 ? Int.max : c
    }
}

extension ActivationExchange {
    /// Reads an exchange `.npz` for a model of `bounds`, refusing any member larger than such a
    /// model could produce before inflating it; with `inputsOnly`, only the inputs and mask are
    /// read.
    ///
    /// - Throws: ``FormatError`` `.outOfRange` for a member or input beyond the bounds, and the
    ///   errors of ``NPZ/read(path:limits:)`` and ``init(entries:path:)``.
    public static func read(path: String, bounds: ExchangeBounds, inputsOnly: Bool = false) throws(FormatError) -> ActivationExchange {
        let headers = try NPZ.headers(path: path)
        let input = headers.first { $0.name == "input_ids" } ?? headers.first { $0.name == "inputs_embeds" }
        var limits = NPZ.Limits()
        // Only the members the format names are inflated at all, each checked from its header.
        limits.include = { ExchangeBounds.isDefined($0) }
        if inputsOnly {
            limits.include = { ["input_ids", "inputs_embeds", "attention_mask", "token_type_ids", "decoder_input_ids"].contains($0) }
        }
        if input == nil {
            // Without inputs nothing in the file can be used or sized: read its meta alone (the
            // caller says the reference has no usable inputs).
            limits.include = { $0 == "meta" }
            limits.accept = { name, header throws(FormatError) in
                let bytes = (try? header.dataByteCount()) ?? Int.max
                guard bytes <= 1 << 20 else {
                    throw FormatError(.outOfRange, "'\(name)' has \(bytes) bytes, more than a reference's meta may hold", member: name)
                }
            }
        }
        if let input {
            do { try bounds.checkInput(input.header.shape, name: input.name) } catch {
                var error = error
                error.path = path
                throw error
            }
            let (batch, length) = (input.header.shape.first ?? 1, input.header.shape.count > 1 ? input.header.shape[1] : 1)
            var decoderLength: Int?
            if let decoder = headers.first(where: { $0.name == "decoder_input_ids" }) {
                let shape = decoder.header.shape
                guard shape.count == 2, shape[0] == batch, shape[1] <= bounds.maxPositions else {
                    throw FormatError(
                        .outOfRange,
                        "'decoder_input_ids' has shape \(shape); expected [\(batch), T] with T at most the model's \(bounds.maxPositions) positions",
                        path: path, member: "decoder_input_ids")
                }
                decoderLength = shape[1]
            }
            let decoderRows = decoderLength
            limits.accept = { name, header throws(FormatError) in
                let bytes = (try? header.dataByteCount()) ?? Int.max
                let most = bounds.maxBytes(name, batch: batch, length: length, decoderLength: decoderRows)
                guard bytes <= most else {
                    throw FormatError(
                        .outOfRange,
                        "'\(name)' has shape \(header.shape) (\(bytes) bytes), more than a \(bounds.layers)-layer d=\(bounds.hiddenSize) model's \(most) for \(batch) x \(length) inputs",
                        member: name)
                }
            }
        }
        return try ActivationExchange(entries: try NPZ.read(path: path, limits: limits), path: path)
    }
}
