/// Rotary position embeddings, rotate-half convention (HF LLaMA).
///
/// For head dimension `hd`, pair `(i, i + hd/2)` rotates by `angle = p * theta^(-2i/hd)`, where
/// `p` is the position divided by the linear scaling factor:
/// `x' = x * cos(angle) + rotate_half(x) * sin(angle)`, `rotate_half([a, b]) = [-b, a]`.
struct RotaryEmbedding {
    let headDim: Int
    let inverseFrequencies: [Double]
    let scale: Double

    init(headDim: Int, theta: Double, linearFactor: Double) {
        self.headDim = headDim
        inverseFrequencies = (0..<(headDim / 2)).map { i in 1 / LibM.pow(theta, Double(2 * i) / Double(headDim)) }
        scale = 1 / linearFactor
    }

    /// Rotates every head of `x` (`[R, heads * hd]`) in place; row `r` is at `positions[r]`.
    func apply<T>(_ x: inout Matrix<T>, heads: Int, positions: [Int]) {
        precondition(positions.count == x.rows && x.cols == heads * headDim, "RoPE shape")
        let half = headDim / 2
        var cosines = [T](repeating: 0, count: half)
        var sines = [T](repeating: 0, count: half)
        x.values.withUnsafeMutableBufferPointer { v in
            for r in 0..<x.rows {
                let p = Double(positions[r]) * scale
                for i in 0..<half {
                    let angle = p * inverseFrequencies[i]
                    cosines[i] = T(LibM.cos(angle))
                    sines[i] = T(LibM.sin(angle))
                }
                for h in 0..<heads {
                    let base = r * x.cols + h * headDim
                    for i in 0..<half {
                        let a = v[base + i], b = v[base + i + half]
                        v[base + i] = a * cosines[i] - b * sines[i]
                        v[base + i + half] = b * cosines[i] + a * sines[i]
                    }
                }
            }
        }
    }
}
