import PrefixCore

/// Rotary position embeddings as HF transformers computes them.
///
/// The first `rotated` dimensions of each head rotate: pair `(i, i + rotated/2)` (rotate-half,
/// LLaMA) or `(2i, 2i+1)` (interleaved, GPT-J) by `angle = p * f_i`, where the inverse
/// frequencies `f_i = theta^(-2i/rotated)` are rescaled as the scaling type says (linear: divided
/// by the factor; llama3: by frequency band; yarn: a ramp between interpolation and
/// extrapolation, with cos and sin multiplied by the attention factor; dynamic: unchanged within
/// the model's `max_position_embeddings`, which the engine never exceeds).
/// `x' = x * cos(angle) + rotate(x) * sin(angle)`; the other dimensions pass through.
struct RotaryEmbedding {
    let headDim: Int
    let rotated: Int
    let interleaved: Bool
    let inverseFrequencies: [Double]
    /// Multiplies cos and sin (yarn's attention factor; 1 otherwise).
    let magnitude: Double

    /// What it was made from.
    let recipe: RotaryRecipe

    init(headDim: Int, recipe: RotaryRecipe) {
        self.headDim = headDim
        self.recipe = recipe
        rotated = recipe.rotatedDims
        interleaved = recipe.interleaved
        let dims = recipe.rotatedDims, theta = recipe.theta
        let base = (0..<(dims / 2)).map { i in 1 / LibM.pow(theta, Double(2 * i) / Double(dims)) }
        var magnitude = 1.0
        var frequencies = base
        if let scaling = recipe.scaling {
            switch scaling.type {
            case "linear":
                frequencies = base.map { $0 / scaling.factor }
            case "llama3":
                frequencies = Self.llama3(base, scaling)
            case "yarn":
                (frequencies, magnitude) = Self.yarn(theta, dims, scaling)
            default:
                break  // dynamic: the base frequencies up to max_position_embeddings
            }
        }
        inverseFrequencies = frequencies
        self.magnitude = magnitude
    }

    /// The same rotation for heads of `headDim`: the same fraction of each head rotates (rounded
    /// down to an even count).
    func resized(headDim size: Int) -> RotaryEmbedding {
        var resized = recipe
        resized.rotatedDims = max(2, (size * recipe.rotatedDims / max(1, headDim)) & ~1)
        return RotaryEmbedding(headDim: size, recipe: resized)
    }

    /// LLaMA 3's frequency-band scaling: long wavelengths divided by the factor, short ones
    /// kept, a smooth blend between.
    private static func llama3(_ base: [Double], _ s: RopeScaling) -> [Double] {
        let low = s.lowFreqFactor ?? 1, high = s.highFreqFactor ?? 4, old = Double(s.originalMaxPositions ?? 8192)
        let lowWavelength = old / low, highWavelength = old / high
        return base.map { f in
            let wavelength = 2 * Double.pi / f
            if wavelength < highWavelength { return f }
            if wavelength > lowWavelength { return f / s.factor }
            let smooth = (old / wavelength - low) / (high - low)
            return (1 - smooth) * f / s.factor + smooth * f
        }
    }

    /// YaRN: a linear ramp between interpolated (divided by the factor) and extrapolated
    /// frequencies over the correction range, and the attention factor.
    private static func yarn(_ theta: Double, _ dim: Int, _ s: RopeScaling) -> ([Double], Double) {
        func mscale(_ scale: Double, _ m: Double = 1) -> Double { scale <= 1 ? 1 : 0.1 * m * LibM.log(scale) + 1 }
        var attention = s.attentionFactor
        if attention == nil {
            if let m = s.mscale, let all = s.mscaleAllDim, m != 0, all != 0 {
                attention = mscale(s.factor, m) / mscale(s.factor, all)
            } else {
                attention = mscale(s.factor)
            }
        }
        let original = Double(s.originalMaxPositions ?? 4096)
        func correctionDim(_ rotations: Double) -> Double {
            Double(dim) * LibM.log(original / (rotations * 2 * Double.pi)) / (2 * LibM.log(theta))
        }
        var low = correctionDim(s.betaFast ?? 32), high = correctionDim(s.betaSlow ?? 1)
        if s.truncate ?? true { (low, high) = (low.rounded(.down), high.rounded(.up)) }
        (low, high) = (max(low, 0), min(high, Double(dim - 1)))
        if low == high { high += 0.001 }
        let frequencies = (0..<(dim / 2)).map { i -> Double in
            let position = LibM.pow(theta, Double(2 * i) / Double(dim))
            let extrapolation = 1 / position, interpolation = 1 / (s.factor * position)
            let ramp = min(max((Double(i) - low) / (high - low), 0), 1)
            let keep = 1 - ramp
            return interpolation * (1 - keep) + extrapolation * keep
        }
        return (frequencies, attention ?? 1)
    }

    /// Rotates every head of `x` (`[R, heads * hd]`) in place; row `r` is at `positions[r]`.
    func apply<T>(_ x: inout Matrix<T>, heads: Int, positions: [Int]) {
        precondition(positions.count == x.rows && x.cols == heads * headDim, "RoPE shape")
        let half = rotated / 2
        var cosines = [T](repeating: 0, count: half)
        var sines = [T](repeating: 0, count: half)
        x.values.withUnsafeMutableBufferPointer { v in
            for r in 0..<x.rows {
                let p = Double(positions[r])
                for i in 0..<half {
                    let angle = p * inverseFrequencies[i]
                    cosines[i] = T(LibM.cos(angle) * magnitude)
                    sines[i] = T(LibM.sin(angle) * magnitude)
                }
                for h in 0..<heads {
                    let base = r * x.cols + h * headDim
                    for i in 0..<half {
                        let (ia, ib) = interleaved ? (base + 2 * i, base + 2 * i + 1) : (base + i, base + i + half)
                        let a = v[ia], b = v[ib]
                        v[ia] = a * cosines[i] - b * sines[i]
                        v[ib] = b * cosines[i] + a * sines[i]
                    }
                }
            }
        }
    }

    /// Undoes ``apply(_:heads:positions:)`` (the un-rotated-keys diagnosis).
    func undo<T>(_ x: inout Matrix<T>, heads: Int, positions: [Int]) {
        precondition(magnitude != 0, "RoPE magnitude")
        apply(&x, heads: heads, positions: positions.map { -$0 })
        if magnitude != 1 {
            // Rotating by -p multiplied by the magnitude again: divide it out twice.
            let inverse = T(1 / (magnitude * magnitude))
            x.values.withUnsafeMutableBufferPointer { v in
                for r in 0..<x.rows {
                    for h in 0..<heads {
                        let base = r * x.cols + h * headDim
                        for i in 0..<rotated { v[base + i] *= inverse }
                    }
                }
            }
        }
    }
}
