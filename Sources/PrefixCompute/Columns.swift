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
