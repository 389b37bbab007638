import Foundation
public import PrefixCompute
public import PrefixCore
public import PrefixFormats

extension ActivationExchange {
    /// The exchange form of a forward pass: inputs, mask, every `H^l` and `Hbar^{l+1}`, the final
    /// output, the logits when computed, and `meta`.
    ///
    /// - Throws: ``PrefixCore/CoreError`` when the inputs' ids do not form a `[B, N]` tensor.
    public init(result: ForwardResult, input: ForwardInput, tool: String = "prefixkit \(PrefixKitVersion.current)") throws {
        self.init()
        func int64(_ rows: [[Int]], columns: Int) throws -> Tensor {
            let values = rows.flatMap { $0.map { Int64($0).littleEndian } }
            return try Tensor(dtype: .i64, shape: Shape([rows.count, columns]), bytes: values.withUnsafeBytes { Array($0) })
        }
        let n = input.length
        if let ids = input.ids {
            inputIDs = try int64(ids, columns: n)
        } else {
            inputsEmbeds = input.embeddings
        }
        attentionMask = try int64(input.mask.map { $0.map { $0 ? 1 : 0 } }, columns: n)
        if let types = input.tokenTypes { tokenTypeIDs = try int64(types, columns: n) }
        for (l, t) in result.layerInputs.enumerated() { layerInputs[l] = t }
        for (l, t) in result.layerOutputs.enumerated() { layerOutputs[l] = t }
        final = result.final
        logits = result.logits
        poolerOutput = result.pooled
        var object: [String: Any] = [
            "form": result.form.rawValue, "Pn": result.prefixLength, "input_start": result.inputStart,
            "compute_dtype": result.dtype.rawValue, "layers": result.layerOutputs.count, "tool": tool,
            "position_rule": result.positionRule.name,
        ]
        if let encoder = result.encoder, let decoderIDs = result.decoderIDs {
            // An encoder-decoder: both stacks' blocks under their section, the decoder's ids.
            decoderInputIDs = try int64(decoderIDs, columns: decoderIDs.first?.count ?? 0)
            for (l, t) in encoder.layerInputs.enumerated() { encoderLayerInputs[l] = t }
            for (l, t) in encoder.layerOutputs.enumerated() { encoderLayerOutputs[l] = t }
            encoderFinal = encoder.final
            object["encoder_layers"] = encoder.layerOutputs.count
            object["prefix_layout"] = result.layout.rawValue
            object["task_type"] = TaskType.seq2seqLM.rawValue
        }
        meta = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}

extension ForwardInput {
    /// Inputs from a file: an `.npy` of token ids (`[N]`, `[B, N]`) or embeddings (`[N, d]`,
    /// `[B, N, d]`), or an exchange `.npz` (its `input_ids` or `inputs_embeds` and mask).
    ///
    /// With `bounds`, the shape is checked from the file's header before anything is read: at
    /// most the model's positions and ``PrefixFormats/ExchangeBounds/maxBatch`` rows; of an
    /// exchange file only the inputs and mask are read.
    ///
    /// - Throws: ``PrefixFormats/FormatError`` for unreadable files and `.outOfRange` past the
    ///   bounds, ``PrefixCompute/ComputeError`` for inputs of the wrong dtype or rank.
    public init(file path: String, bounds: ExchangeBounds? = nil) throws {
        if path.hasSuffix(".npz") {
            let exchange =
                try bounds.map { try ActivationExchange.read(path: path, bounds: $0, inputsOnly: true) }
                ?? ActivationExchange.read(path: path)
            try self.init(exchange: exchange, path: path)
            return
        }
        if let bounds {
            let header = try NPY.header(path: path)
            try bounds.checkInput(header.shape.count == 1 ? [1] + header.shape : header.shape, name: (path as NSString).lastPathComponent)
        }
        guard let tensor = try NPY.read(path: path).tensor else {
            throw FormatError(.unsupportedDType, "inputs must be numeric", path: path)
        }
        if tensor.dtype.isFloatingPoint { try self.init(embeddings: tensor) } else { try self.init(ids: tensor) }
    }

    /// Inputs from an exchange: its `input_ids` or `inputs_embeds`, mask and token types.
    ///
    /// - Throws: ``PrefixFormats/FormatError`` `.missingKey` without inputs,
    ///   ``PrefixCompute/ComputeError`` for inputs of the wrong dtype or shape.
    public init(exchange: ActivationExchange, path: String? = nil) throws {
        if let ids = exchange.inputIDs {
            try self.init(ids: ids, mask: exchange.attentionMask)
        } else if let embeds = exchange.inputsEmbeds {
            try self.init(embeddings: embeds, mask: exchange.attentionMask)
        } else {
            throw FormatError(.missingKey, "the exchange file has neither input_ids nor inputs_embeds", path: path)
        }
        if let types = exchange.tokenTypeIDs { try setTokenTypes(types) }
        if let decoderIDs = exchange.decoderInputIDs { try setDecoderIDs(decoderIDs) }
    }
}
