public import PrefixCore

/// What a forward pass runs on: token ids or embeddings for `B` sequences of `N` rows, and an
/// attention mask (1 real, 0 padding; left padding).
///
/// Real tokens of a row take positions `inputStart, inputStart + 1, ...` in order (the
/// checkpoint's convention: `Pn, Pn + 1, ...` by default); padded rows are masked as keys and
/// their outputs are not meaningful.
public struct ForwardInput: Sendable {
    /// Token ids, `B x N`, or nil when ``embeddings`` are given.
    public var ids: [[Int]]?
    /// Token embeddings WITHOUT positional embeddings (HF's `inputs_embeds`), `[B, N, d]`.
    public var embeddings: Tensor?
    /// `B x N`, true for real tokens.
    public var mask: [[Bool]]
    /// `B x N` token types (BERT's segment ids), or nil for all 0.
    public var tokenTypes: [[Int]]?
    /// `B x T` ids the decoder of an encoder-decoder runs on (HF's `decoder_input_ids`); the
    /// encoder runs on ``ids`` or ``embeddings`` with ``mask``.
    public var decoderIDs: [[Int]]?

    /// The number of sequences.
    public var batch: Int { ids?.count ?? embeddings?.shape[0] ?? 0 }
    /// The number of input rows per sequence.
    public var length: Int { ids?.first?.count ?? embeddings?.shape[1] ?? 0 }

    /// Inputs from token ids (`[N]` or `[B, N]`, any integer dtype) and an optional mask of the
    /// same shape (any integer or bool dtype; nonzero means real).
    ///
    /// - Throws: ``ComputeError`` `.invalidInput` for another dtype or rank, or a mask whose shape differs.
    public init(ids: Tensor, mask: Tensor? = nil) throws(ComputeError) {
        guard !ids.dtype.isFloatingPoint, ids.dtype != .bool, (1...2).contains(ids.shape.rank) else {
            throw ComputeError(
                .invalidInput, "token ids must be an integer tensor [N] or [B, N]", tensor: "input_ids",
                expected: "integer [N] or [B, N]", actual: "\(ids.dtype) \(ids.shape)")
        }
        let rows = ids.shape.rank == 1 ? 1 : ids.shape[0]
        let n = ids.shape.dimensions.last ?? 0
        guard rows > 0, n > 0 else { throw ComputeError(.invalidInput, "no input tokens", tensor: "input_ids", actual: "\(ids.shape)") }
        let values = try ForwardInput.integers(ids, name: "input_ids")
        self.ids = (0..<rows).map { Array(values[($0 * n)..<(($0 + 1) * n)]) }
        embeddings = nil
        self.mask = try ForwardInput.mask(mask, rows: rows, length: n)
    }

    /// Inputs from embeddings (`[N, d]` or `[B, N, d]`, a float dtype) and an optional mask.
    ///
    /// - Throws: ``ComputeError`` `.invalidInput` for another dtype or rank.
    public init(embeddings: Tensor, mask: Tensor? = nil) throws(ComputeError) {
        guard embeddings.dtype.isFloatingPoint, (2...3).contains(embeddings.shape.rank) else {
            throw ComputeError(
                .invalidInput, "embeddings must be a float tensor [N, d] or [B, N, d]", tensor: "inputs_embeds",
                expected: "float [N, d] or [B, N, d]", actual: "\(embeddings.dtype) \(embeddings.shape)")
        }
        var tensor = embeddings
        if embeddings.shape.rank == 2 {
            do {
                tensor = try Tensor(
                    dtype: embeddings.dtype, shape: Shape([1] + embeddings.shape.dimensions),
                    bytes: embeddings.withUnsafeBytes { Array($0) })
            } catch {
                throw ComputeError(.invalidInput, "\(error)", tensor: "inputs_embeds")
            }
        }
        guard tensor.shape[0] > 0, tensor.shape[1] > 0 else { throw ComputeError(.invalidInput, "no input rows", tensor: "inputs_embeds") }
        ids = nil
        self.embeddings = tensor
        self.mask = try ForwardInput.mask(mask, rows: tensor.shape[0], length: tensor.shape[1])
    }

    /// A decoder's own input: ids with every row real.
    init(decoderIDs: [[Int]]) {
        ids = decoderIDs
        embeddings = nil
        mask = decoderIDs.map { Array(repeating: true, count: $0.count) }
    }

    /// Sets the decoder's ids for an encoder-decoder (`[T]`, used for every sequence, or
    /// `[B, T]`, any integer dtype).
    ///
    /// - Throws: ``ComputeError`` `.invalidInput` for another dtype or shape.
    public mutating func setDecoderIDs(_ ids: Tensor) throws(ComputeError) {
        let dims = ids.shape.dimensions
        guard dims.count == 1 || (dims.count == 2 && dims[0] == batch), dims.last.map({ $0 > 0 }) ?? false,
            !ids.dtype.isFloatingPoint, ids.dtype != .bool
        else {
            throw ComputeError(
                .invalidInput, "decoder input ids must be [T] or [B, T] for the B encoder rows", tensor: "decoder_input_ids",
                expected: "integer [\(batch), T]", actual: "\(ids.dtype) \(ids.shape)")
        }
        let values = try Self.integers(ids, name: "decoder_input_ids")
        let t = dims[dims.count - 1]
        decoderIDs = (0..<batch).map { r in dims.count == 1 ? values : Array(values[(r * t)..<((r + 1) * t)]) }
    }

    /// Sets the token types (`[N]` or `[B, N]`, any integer dtype, the inputs' shape).
    ///
    /// - Throws: ``ComputeError`` `.invalidInput` for another dtype or shape.
    public mutating func setTokenTypes(_ types: Tensor) throws(ComputeError) {
        let dims = types.shape.dimensions
        guard dims == [batch, length] || (batch == 1 && dims == [length]), !types.dtype.isFloatingPoint, types.dtype != .bool else {
            throw ComputeError(
                .invalidInput, "token types must match the inputs", tensor: "token_type_ids",
                expected: "integer [\(batch), \(length)]", actual: "\(types.dtype) \(types.shape)")
        }
        let values = try Self.integers(types, name: "token_type_ids")
        tokenTypes = (0..<batch).map { r in Array(values[(r * length)..<((r + 1) * length)]) }
    }

    private static func integers(_ tensor: Tensor, name: String) throws(ComputeError) -> [Int] {
        let values = tensor.withUnsafeBytes { raw -> [Int] in
            let n = tensor.shape.elementCount
            func load<T: FixedWidthInteger>(_ type: T.Type) -> [Int] {
                (0..<n).map {
                    Int(truncatingIfNeeded: T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)))
                }
            }
            switch tensor.dtype {
            case .i64: return load(Int64.self)
            case .i32: return load(Int32.self)
            case .i16: return load(Int16.self)
            case .i8: return load(Int8.self)
            case .u64:
                return (0..<n).map { Int(clamping: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
            case .u32: return load(UInt32.self)
            case .u16: return load(UInt16.self)
            case .u8, .bool: return load(UInt8.self)
            default: return []
            }
        }
        guard values.count == tensor.shape.elementCount else {
            throw ComputeError(.invalidInput, "expected an integer tensor", tensor: name, actual: tensor.dtype.rawValue)
        }
        return values
    }

    private static func mask(_ mask: Tensor?, rows: Int, length: Int) throws(ComputeError) -> [[Bool]] {
        guard let mask else { return Array(repeating: Array(repeating: true, count: length), count: rows) }
        let dims = mask.shape.dimensions
        guard dims == [rows, length] || (rows == 1 && dims == [length]), !mask.dtype.isFloatingPoint || mask.dtype == .bool else {
            throw ComputeError(
                .invalidInput, "attention mask must match the inputs", tensor: "attention_mask",
                expected: "integer [\(rows), \(length)]", actual: "\(mask.dtype) \(mask.shape)")
        }
        let values = try integers(mask, name: "attention_mask")
        return (0..<rows).map { r in (0..<length).map { values[r * length + $0] != 0 } }
    }
}

/// Options of a forward pass.
public struct ForwardOptions: Sendable {
    /// Compute the prefix rows' block outputs too (hidden form), which the kept rows do not need,
    /// and record them as ``ForwardResult/prefixOutputs``.
    public var computePrefixRows = false
    /// Compute logits with the LM head.
    public var logits = false
    /// Told before each block runs: the blocks done so far in this stack and the stack's block
    /// count (an encoder-decoder reports its encoder, then its decoder).
    public var layerDone: (@Sendable (_ done: Int, _ total: Int) -> Void)?

    /// Default options: kept rows only, no logits.
    public init(computePrefixRows: Bool = false, logits: Bool = false) {
        self.computePrefixRows = computePrefixRows
        self.logits = logits
    }
}

/// What one layer did.
public struct LayerSummary: Sendable, Hashable, CustomStringConvertible {
    /// The layer index.
    public var layer: Int
    /// Rows in `H^l` (`Pn + N` hidden, `N` KV).
    public var rowsIn: Int
    /// Prefix rows (hidden) or prefix keys/values (KV).
    public var prefixRows: Int
    /// Rows kept (`N`).
    public var rowsKept: Int
    /// The prefix form.
    public var form: PrefixForm
    /// Whether the prefix rows' outputs were computed.
    public var prefixRowsComputed: Bool

    /// What the layer did, in one line.
    public var description: String {
        switch form {
        case .hidden where prefixRowsComputed:
            "layer \(layer): \(rowsIn) rows in -> \(rowsIn) out -> kept last \(rowsKept)"
        case .hidden:
            "layer \(layer): \(rowsIn) rows in -> kept last \(rowsKept) (the \(prefixRows) prefix rows only give keys and values: their outputs are discarded)"
        case .kv:
            "layer \(layer): \(rowsIn) rows in, attending to \(prefixRows) prefix keys/values -> \(rowsKept) out"
        }
    }
}

/// The result of a forward pass, in the activation exchange format's terms.
public struct ForwardResult: Sendable {
    /// The prefix form the stack ran in.
    public var form: PrefixForm
    /// `Pn`.
    public var prefixLength: Int
    /// The first input position.
    public var inputStart: Int
    /// The compute dtype (`f32` or `f64`).
    public var dtype: DType
    /// The attention mask, `B x N`.
    public var mask: [[Bool]]
    /// `H^l` per layer: `[B, Pn+N, d]` (hidden form) or `[B, N, d]` (KV form).
    public var layerInputs: [Tensor]
    /// `Hbar^{l+1}` per layer, `[B, N, d]`, before any final norm.
    public var layerOutputs: [Tensor]
    /// `Y^l[0 ..< Pn]` per layer, `[B, Pn, d]`, when asked for (hidden form).
    public var prefixOutputs: [Tensor]
    /// The final norm's output, `[B, N, d]`.
    public var final: Tensor
    /// `[B, N, vocab]`, when asked for.
    public var logits: Tensor?
    /// What each layer did.
    public var summaries: [LayerSummary]
    /// Source tensors skipped as known non-parameter buffers (or a tied LM head).
    public var skippedWeights: [String]
    /// The pooler's output `[B, d]` (encoders with a pooler).
    public var pooled: Tensor? = nil
    /// How the input rows' positions were chosen.
    public var positionRule: InputPositionRule = .realTokens
    /// An encoder-decoder's encoder pass; the fields above are then the decoder's (its rows are
    /// ``decoderIDs``'s, its mask all real).
    public var encoder: EncoderResult?
    /// The ids the decoder ran on, for encoder-decoders.
    public var decoderIDs: [[Int]]?
    /// Which stored layers reached which decoder blocks.
    public var layout: PrefixLayout = .direct
    /// The number of stored decoder-section layers.
    public var storedLayers: Int?
}

/// What an encoder-decoder's encoder computed.
public struct EncoderResult: Sendable {
    /// The encoder's attention mask, `B x N`.
    public var mask: [[Bool]]
    /// Each block's input rows, `[B, N, d]` (after its prefix, `[B, Pn+N, d]` in hidden form).
    public var layerInputs: [Tensor]
    /// Each block's output rows, `[B, N, d]`.
    public var layerOutputs: [Tensor]
    /// The encoder's output after its final norm, `[B, N, d]`: what cross-attention reads.
    public var final: Tensor
    /// What each block did.
    public var summaries: [LayerSummary]
    /// Whether the encoder's blocks had a prefix.
    public var prefixed: Bool
}
