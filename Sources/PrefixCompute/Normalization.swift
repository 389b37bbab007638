/// Row-wise normalisations.
enum Normalization {
    /// LayerNorm: `(x - mean) / sqrt(var + eps) * weight + bias` per row (biased variance).
    /// A missing weight is all ones, a missing bias all zeros (OLMo's norm has neither).
    static func layerNorm<T>(_ x: Matrix<T>, weight: Weight<T>?, bias: Weight<T>?, eps: Double) -> Matrix<T> {
        var out = x
        let n = x.cols
        let epsilon = T(eps)
        let zeros = bias == nil ? [T](repeating: 0, count: n) : []
        let ones = weight == nil ? [T](repeating: 1, count: n) : []
        func withWeight(_ body: (UnsafeBufferPointer<T>) -> Void) {
            if let weight { weight.withValues(body) } else { ones.withUnsafeBufferPointer(body) }
        }
        withWeight { w in
            func withBias(_ body: (UnsafeBufferPointer<T>) -> Void) {
                if let bias { bias.withValues(body) } else { zeros.withUnsafeBufferPointer(body) }
            }
            withBias { b in
                out.values.withUnsafeMutableBufferPointer { all in
                    Parallel.slices(all, width: n) { v in
                        for r in 0..<(v.count / n) {
                            let row = UnsafeMutableBufferPointer(rebasing: v[(r * n)..<((r + 1) * n)])
                            var mean: T = 0
                            for value in row { mean += value }
                            mean /= T(Double(n))
                            var variance: T = 0
                            for value in row {
                                let d = value - mean
                                variance += d * d
                            }
                            variance /= T(Double(n))
                            let scale = 1 / (variance + epsilon).root
                            for i in 0..<n { row[i] = (row[i] - mean) * scale * w[i] + b[i] }
                        }
                    }
                }
            }
        }
        return out
    }

    /// RMSNorm: `x / sqrt(mean(x²) + eps) * (weight + offset)` per row (Gemma's offset is 1).
    static func rmsNorm<T>(_ x: Matrix<T>, weight: Weight<T>?, eps: Double, offset: T = 0) -> Matrix<T> {
        var out = x
        let n = x.cols
        let epsilon = T(eps)
        let ones = weight == nil ? [T](repeating: 1, count: n) : []
        func withWeight(_ body: (UnsafeBufferPointer<T>) -> Void) {
            if let weight { weight.withValues(body) } else { ones.withUnsafeBufferPointer(body) }
        }
        withWeight { w in
            out.values.withUnsafeMutableBufferPointer { v in
                for r in 0..<x.rows {
                    let row = UnsafeMutableBufferPointer(rebasing: v[(r * n)..<((r + 1) * n)])
                    var squares: T = 0
                    for value in row { squares += value * value }
                    let scale = 1 / (squares / T(Double(n)) + epsilon).root
                    if offset == 0 {
                        for i in 0..<n { row[i] = row[i] * scale * w[i] }
                    } else {
                        for i in 0..<n { row[i] = row[i] * scale * (offset + w[i]) }
                    }
                }
            }
        }
        return out
    }
}
