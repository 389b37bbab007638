/// One Transformer block's computation, for a sequence of rows.
///
/// Keys and values are kept as `[rows, Hkv*hd]` matrices (row `p`, head `h` at columns
/// `h*hd ..< (h+1)*hd`).
protocol TransformerBlock<Scalar> {
    associatedtype Scalar: ComputeScalar

    /// The keys and values block `l` computes from rows `x` at `positions`, without attention:
    /// the KV form of a hidden prefix.
    func keysValues(_ x: Matrix<Scalar>, positions: [Int]) -> (keys: Matrix<Scalar>, values: Matrix<Scalar>)

    /// The keys and values the block's cross-attention computes from encoder rows `encoded`;
    /// `nil` for a block without cross-attention.
    func crossKeysValues(_ encoded: Matrix<Scalar>) -> (keys: Matrix<Scalar>, values: Matrix<Scalar>)?

    /// The block's output for rows `x` at `positions`, attending causally over `past` keys and
    /// values (if any, at `pastPositions`) followed by the rows' own; `keyMask` covers past then
    /// own rows.
    func callAsFunction(
        _ x: Matrix<Scalar>, positions: [Int], past: (keys: Matrix<Scalar>, values: Matrix<Scalar>)?,
        pastPositions: [Int], keyMask: [Bool]
    ) -> Matrix<Scalar>

    /// The block on several sequences at once: every row-wise part (norms, projections, MLP)
    /// runs on all their rows stacked, attention on each sequence with its own past and mask.
    /// The same as calling the block on each sequence, in fewer and larger matrix products.
    /// With `cross`, each sequence's rows also attend to its encoder context between
    /// self-attention and the MLP (decoder blocks of encoder-decoders).
    func callAsFunction(
        batch xs: [Matrix<Scalar>], positions: [[Int]], past: [(keys: Matrix<Scalar>, values: Matrix<Scalar>)?],
        pastPositions: [Int], keyMasks: [[Bool]], cross: [CrossContext<Scalar>]?
    ) -> [Matrix<Scalar>]
}

extension TransformerBlock {
    /// The block on several sequences, without cross-attention.
    func callAsFunction(
        batch xs: [Matrix<Scalar>], positions: [[Int]], past: [(keys: Matrix<Scalar>, values: Matrix<Scalar>)?],
        pastPositions: [Int], keyMasks: [[Bool]]
    ) -> [Matrix<Scalar>] {
        self(batch: xs, positions: positions, past: past, pastPositions: pastPositions, keyMasks: keyMasks, cross: nil)
    }
}

/// Splits `[R, 3*w]` into its three `[R, w]` column blocks.
func splitColumns<T>(_ m: Matrix<T>, into parts: [Int]) -> [Matrix<T>] {
    var results = parts.map { Matrix<T>(zeros: m.rows, $0) }
    m.values.withUnsafeBufferPointer { src in
        for (index, width) in parts.enumerated() {
            let start = parts[0..<index].reduce(0, +)
            results[index].values.withUnsafeMutableBufferPointer { dst in
                for r in 0..<m.rows {
                    for c in 0..<width { dst[r * width + c] = src[r * m.cols + start + c] }
                }
            }
        }
    }
    return results
}

/// Places `[R, w_i]` matrices side by side into `[R, sum w_i]`.
func joinColumns<T>(_ parts: [Matrix<T>]) -> Matrix<T> {
    let rows = parts.first?.rows ?? 0
    let width = parts.reduce(0) { $0 + $1.cols }
    var out = Matrix<T>(zeros: rows, width)
    var start = 0
    for part in parts {
        precondition(part.rows == rows, "joining \(part.rows) rows to \(rows)")
        for r in 0..<rows {
            for c in 0..<part.cols { out.values[r * width + start + c] = part.values[r * part.cols + c] }
        }
        start += part.cols
    }
    return out
}
