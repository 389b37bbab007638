/// The flat key/value layout of HF PEFT, Li & Liang and P-tuning v2: one tensor
/// `[Pn, L*2*Hkv*hd]` whose column for layer `l`, `kv` (0 = key, 1 = value), head `h`, dim `e`
/// is `((2l + kv) * Hkv + h) * hd + e` (PEFT's `view(Pn, 2L, Hkv, hd).permute(2, 0, 1, 3)`).
///
/// Splitting and joining move bytes only, so they are lossless for every dtype.
public enum FlatKVLayout {
    /// Splits a flat tensor into per-layer keys and values of shape `[Hkv, Pn, hd]`.
    ///
    /// - Throws: ``CoreError`` `.invalidShape` when the tensor is not `[Pn, layers*2*kvHeads*headDim]`.
    public static func split(_ flat: Tensor, layers: Int, kvHeads: Int, headDim: Int) throws(CoreError) -> [LayerPrefix] {
        let (perLayer, o1) = kvHeads.multipliedReportingOverflow(by: headDim)
        let (width, o2) = perLayer.multipliedReportingOverflow(by: 2 &* max(layers, 0))
        guard layers > 0, kvHeads > 0, headDim > 0, layers <= 1 << 24, !o1, !o2 else {
            throw CoreError(
                .invalidShape, "flat key/value layout: L=\(layers), Hkv=\(kvHeads), hd=\(headDim) are not positive sizes whose product fits"
            )
        }
        guard flat.shape.rank == 2, flat.shape[1] == width, flat.shape[0] > 0 else {
            throw CoreError(
                .invalidShape, "flat key/value prefix must be [Pn, L*2*Hkv*hd]",
                expected: "[Pn, \(width)] (L=\(layers), Hkv=\(kvHeads), hd=\(headDim))", actual: "\(flat.shape)")
        }
        let pn = flat.shape[0]
        let size = flat.dtype.byteWidth
        let partShape = try Shape([kvHeads, pn, headDim])
        return try (0..<layers).map { (l: Int) throws(CoreError) -> LayerPrefix in
            let parts = try (0..<2).map { (kv: Int) throws(CoreError) -> Tensor in
                let storage = TensorStorage(uninitializedByteCount: partShape.elementCount * size) { out in
                    flat.withUnsafeBytes { src in
                        for h in 0..<kvHeads {
                            for p in 0..<pn {
                                let from = (p * width + ((2 * l + kv) * kvHeads + h) * headDim) * size
                                let to = ((h * pn + p) * headDim) * size
                                if let o = out.baseAddress, let s = src.baseAddress {
                                    (o + to).copyMemory(from: s + from, byteCount: headDim * size)
                                }
                            }
                        }
                    }
                }
                return try Tensor(dtype: flat.dtype, shape: partShape, storage: storage)
            }
            return .kv(key: parts[0], value: parts[1])
        }
    }

    /// Joins per-layer keys and values (`[Hkv, Pn, hd]`, one dtype) into the flat tensor.
    ///
    /// - Throws: ``CoreError`` `.invalidShape` or `.dtypeMismatch` when the layers disagree.
    public static func join(_ layers: [LayerPrefix]) throws(CoreError) -> Tensor {
        var parts: [Tensor] = []
        for layer in layers {
            guard case .kv(let k, let v) = layer else { throw CoreError(.invalidShape, "only key/value prefixes have a flat layout") }
            parts += [k, v]
        }
        guard let first = parts.first, first.shape.rank == 3 else { throw CoreError(.invalidShape, "no key/value layers to join") }
        let (kvHeads, pn, headDim) = (first.shape[0], first.shape[1], first.shape[2])
        for part in parts {
            guard part.shape == first.shape else {
                throw CoreError(.invalidShape, "layers disagree in shape", expected: "\(first.shape)", actual: "\(part.shape)")
            }
            guard part.dtype == first.dtype else {
                throw CoreError(.dtypeMismatch, "layers disagree in dtype", expected: first.dtype.rawValue, actual: part.dtype.rawValue)
            }
        }
        let width = parts.count * kvHeads * headDim
        let size = first.dtype.byteWidth
        let shape = try Shape([pn, width])
        let storage = TensorStorage(uninitializedByteCount: shape.elementCount * size) { out in
            for (index, part) in parts.enumerated() {
                part.withUnsafeBytes { src in
                    for h in 0..<kvHeads {
                        for p in 0..<pn {
                            let to = (p * width + (index * kvHeads + h) * headDim) * size
                            let from = ((h * pn + p) * headDim) * size
                            if let o = out.baseAddress, let s = src.baseAddress {
                                (o + to).copyMemory(from: s + from, byteCount: headDim * size)
                            }
                        }
                    }
                }
            }
        }
        return try Tensor(dtype: first.dtype, shape: shape, storage: storage)
    }
}
