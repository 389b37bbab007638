/// How a checkpoint stores its per-layer prefix.
public enum PrefixForm: String, Sendable, Codable, Hashable, CaseIterable {
    /// `P^l` with shape `[Pn, d]`: the vectors prepended to each block's input rows.
    case hidden
    /// `K^l`, `V^l` with shape `[Hkv, Pn, hd]`: the keys and values each block computes from
    /// its prefix (HF PEFT's form).
    case kv
}

/// Where the prefix rows and the input rows sit in the position sequence.
///
/// The default is HF/PEFT's: prefix rows at `0 ..< Pn`, inputs at `Pn ..< Pn + N`.
public struct PositionConvention: Sendable, Codable, Hashable {
    /// The position of the first prefix row.
    public var prefixStart: Int
    /// The position of the first input row.
    public var inputStart: Int

    /// Creates a convention.
    public init(prefixStart: Int, inputStart: Int) {
        self.prefixStart = prefixStart
        self.inputStart = inputStart
    }

    /// HF/PEFT's convention for a prefix of length `prefixLength`.
    public static func standard(prefixLength: Int) -> PositionConvention {
        PositionConvention(prefixStart: 0, inputStart: prefixLength)
    }
}

/// Which stored prefix layers reach which blocks of an encoder-decoder.
///
/// Decoders and encoders always use ``direct``: block `l` reads stored layer `l`.
public enum PrefixLayout: String, Sendable, Codable, Hashable, CaseIterable {
    /// Block `l` of each section reads that section's stored layer `l`: the decoder section for
    /// decoders and encoders, and for encoder-decoders the paper's (Li & Liang) three sections,
    /// encoder self-attention, decoder self-attention and decoder cross-attention.
    case direct
    /// HF PEFT's encoder-decoder layout (`num_transformer_submodules = 2`): `L` stored layers, of
    /// which decoder block `i` takes its self-attention keys and values from stored layer
    /// `2i mod L`; the encoder gets no prefix, and the cross-attention pair PEFT also builds is
    /// dropped by transformers' cache, so the decoder attends to the encoder's own keys only.
    case peftSeq2Seq = "peft-seq2seq"

    /// The stored layer decoder block `block` reads, of `stored` layers.
    public func storedLayer(forBlock block: Int, stored: Int) -> Int {
        switch self {
        case .direct: block
        case .peftSeq2Seq: (2 * block) % stored
        }
    }

    /// The stored layers no block of `blocks` reads, of `stored` layers.
    public func unusedLayers(stored: Int, blocks: Int) -> [Int] {
        let used = Set((0..<blocks).map { storedLayer(forBlock: $0, stored: stored) })
        return (0..<stored).filter { !used.contains($0) }
    }

    /// The stored layers PEFT's seq2seq layout needs for decoder block `i` to read `blocks[i]`:
    /// `stored[2i mod L] = blocks[i]` with `L = blocks.count`; a `nil` entry is read by no block.
    /// For even `L`, blocks `i` and `i + L/2` read one stored layer: when their prefixes differ,
    /// no such layers exist and `conflict` names the two blocks.
    public static func peftStored<T: Equatable>(forBlocks blocks: [T]) -> (stored: [T?], conflict: (Int, Int)?) {
        var stored = [T?](repeating: nil, count: blocks.count)
        var reader = [Int?](repeating: nil, count: blocks.count)
        for (i, prefix) in blocks.enumerated() {
            let j = PrefixLayout.peftSeq2Seq.storedLayer(forBlock: i, stored: blocks.count)
            if let first = reader[j], stored[j] != prefix { return (stored, (first, i)) }
            (stored[j], reader[j]) = (prefix, reader[j] ?? i)
        }
        return (stored, nil)
    }

    /// What an encoder-decoder checkpoint's prefix reaches inside the model, in sentences
    /// (`inspect` and `verify` print them): which stored layers the decoder reads, and which
    /// parts get no prefix.
    ///
    /// - Parameters:
    ///   - stored: the stored decoder-section layers.
    ///   - blocks: the decoder's blocks.
    ///   - encoderSection: the encoder-section layers (0: none).
    ///   - crossSection: the cross-section layers (0: none).
    /// - Returns: one sentence per fact, in the order a reader needs them.
    public func reach(stored: Int, blocks: Int, encoderSection: Int, crossSection: Int) -> [String] {
        func list(_ values: [Int]) -> String { values.map(String.init).joined(separator: ", ") }
        switch self {
        case .peftSeq2Seq:
            var notes: [String] = []
            let unused = unusedLayers(stored: stored, blocks: blocks)
            let read = (0..<blocks).map { storedLayer(forBlock: $0, stored: stored) }
            if !unused.isEmpty {
                notes.append(
                    "stored layer\(unused.count == 1 ? "" : "s") \(list(unused)) of \(stored) \(unused.count == 1 ? "is" : "are") never used by PEFT's seq2seq layout (decoder block i reads stored layer 2i mod \(stored))"
                )
            } else if read != Array(0..<blocks) {
                notes.append(
                    "all \(stored) stored layers are used, reordered by PEFT's seq2seq layout: decoder blocks \(list(Array(0..<blocks))) read stored layers \(list(read))"
                )
            }
            notes.append(
                "the encoder is unprefixed, and so is cross-attention: PEFT builds a cross-attention pair that transformers' cache drops")
            return notes
        case .direct:
            let parts = [
                encoderSection > 0 ? "encoder self-attention (\(encoderSection) layers)" : nil,
                "decoder self-attention (\(stored) layers)",
                crossSection > 0 ? "cross-attention (\(crossSection) layers)" : nil,
            ].compactMap { $0 }
            var note = "the prefix feeds \(parts.joined(separator: ", ")), each block its own layer"
            let bare = [encoderSection == 0 ? "the encoder" : nil, crossSection == 0 ? "cross-attention" : nil].compactMap { $0 }
            if !bare.isEmpty { note += "; \(bare.joined(separator: " and ")) \(bare.count == 1 ? "is" : "are") unprefixed" }
            return [note]
        }
    }
}

/// The parts of an encoder-decoder a prefix section feeds.
public enum PrefixSection: String, Sendable, Codable, Hashable, CaseIterable {
    /// The encoder's self-attention.
    case encoder
    /// The decoder's self-attention (the only section of decoders and encoders).
    case decoder
    /// The decoder's cross-attention: prepended to the keys and values of the encoder's output.
    case cross
}
