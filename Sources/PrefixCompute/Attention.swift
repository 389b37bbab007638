/// Scaled dot-product attention with grouped heads, a causal rule and a key mask.
enum Attention {
    /// `softmax(cap(scale · q kᵀ) + mask) v` per head.
    ///
    /// Shapes: `q [Rq, H*hd]`, `k` and `v [Rk, Hkv*hd]` -> `[Rq, H*hd]`. Query head `h` reads
    /// key/value head `h / (H / Hkv)`. Query `i` sits at key index `queryOffset + i` and sees key
    /// `j` when `keyMask[j]` is true and, if `causal`, when `j <= queryOffset + i` and, with a
    /// `relativeBias`, gets `table[buckets[i * Rk + j] * H + h]` added to its score (T5); with a
    /// `window`, `queryOffset + i - j < window` (bidirectional attention sees every unmasked key). `softcap` maps a score `s` to `softcap * tanh(s / softcap)`.
    /// A query that sees no key gets zeros (only padded rows can, and they are never compared).
    static func attend<T>(
        q: Matrix<T>, k: Matrix<T>, v: Matrix<T>, heads: Int, kvHeads: Int, headDim: Int,
        queryOffset: Int, keyMask: [Bool], causal: Bool = true, scale scaleValue: Double? = nil, window: Int? = nil,
        softcap: Double? = nil, alibi: (slopes: [Double], keyPositions: [Int])? = nil,
        relativeBias: (buckets: [Int], table: [T])? = nil
    ) -> Matrix<T> {
        let rq = q.rows, rk = k.rows
        precondition(q.cols == heads * headDim && k.cols == kvHeads * headDim && v.cols == k.cols && v.rows == rk, "attention shapes")
        precondition(keyMask.count == rk && (!causal || queryOffset + rq <= rk), "attention mask")
        precondition(relativeBias.map { $0.buckets.count == rq * rk } ?? true, "relative bias shape")
        var out = Matrix<T>(zeros: rq, heads * headDim)
        var scores = [T](repeating: 0, count: rq * rk)
        let group = heads / kvHeads
        let scale = scaleValue.map { T($0) } ?? 1 / T(Double(headDim)).root
        q.values.withUnsafeBufferPointer { qp in
            k.values.withUnsafeBufferPointer { kp in
                v.values.withUnsafeBufferPointer { vp in
                    out.values.withUnsafeMutableBufferPointer { op in
                        scores.withUnsafeMutableBufferPointer { sp in
                            guard let qb = qp.baseAddress, let kb = kp.baseAddress, let vb = vp.baseAddress,
                                let ob = op.baseAddress, let sb = sp.baseAddress
                            else { return }
                            for h in 0..<heads {
                                let g = h / group
                                T.gemm(
                                    transposeA: false, transposeB: true, m: rq, n: rk, k: headDim, alpha: scale,
                                    a: qb + h * headDim, lda: q.cols, b: kb + g * headDim, ldb: k.cols,
                                    beta: 0, c: sb, ldc: rk)
                                for i in 0..<rq {
                                    let row = UnsafeMutableBufferPointer(rebasing: sp[(i * rk)..<((i + 1) * rk)])
                                    if let softcap {
                                        let cap = T(softcap), inverse = T(1 / softcap)
                                        for j in row.indices { row[j] = cap * T.tanh(row[j] * inverse) }
                                    }
                                    if let relativeBias {
                                        // T5: `table[bucket(key - query), h]`, added after scaling.
                                        relativeBias.buckets.withUnsafeBufferPointer { buckets in
                                            for j in row.indices { row[j] += relativeBias.table[buckets[i * rk + j] * heads + h] }
                                        }
                                    }
                                    if let alibi {
                                        let slope = T(alibi.slopes[h])
                                        for j in row.indices { row[j] += slope * T(Double(alibi.keyPositions[j])) }
                                    }
                                    let first = causal ? window.map { max(0, queryOffset + i + 1 - $0) } ?? 0 : 0
                                    for j in 0..<first { row[j] = -T.infinity }
                                    softmax(row, from: first, visible: causal ? queryOffset + i + 1 : rk, mask: keyMask)
                                }
                                T.gemm(
                                    transposeA: false, transposeB: false, m: rq, n: headDim, k: rk, alpha: 1,
                                    a: sb, lda: rk, b: vb + g * headDim, ldb: v.cols, beta: 0, c: ob + h * headDim, ldc: out.cols)
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// Softmax over entries `first ..< visible` of `row` where `mask` allows; the rest become 0.
    private static func softmax<T: ComputeScalar>(_ row: UnsafeMutableBufferPointer<T>, from first: Int, visible: Int, mask: [Bool]) {
        var maximum = -T.infinity
        for j in first..<visible where mask[j] { maximum = Swift.max(maximum, row[j]) }
        if maximum == -T.infinity {
            for j in row.indices { row[j] = 0 }
            return
        }
        for j in first..<visible { row[j] = mask[j] ? row[j] - maximum : -T.infinity }
        for j in visible..<row.count { row[j] = -T.infinity }
        T.expInPlace(UnsafeMutableBufferPointer(rebasing: row[first..<visible]))
        for j in 0..<first { row[j] = 0 }
        for j in visible..<row.count { row[j] = 0 }
        var sum: T = 0
        for j in first..<visible {
            if !mask[j] { row[j] = 0 }
            sum += row[j]
        }
        let inverse = 1 / sum
        for j in first..<visible { row[j] *= inverse }
    }
}

/// Where the causal mask puts the first query among the keys when a block attends to past keys
/// (a prefix) before its own rows.
public enum CausalAlignment: Sendable, Hashable {
    /// After the past: query `i` sees every past key and its own rows `0 ... i` (prefix-tuning,
    /// and HF's cache).
    case afterPast
    /// Top-left over past and own keys together: query `i` sees keys `0 ... i` of all of them
    /// (what `scaled_dot_product_attention(is_causal=True)` does when queries and keys differ in
    /// length).
    case topLeft
}
