import Foundation
import PrefixCore
import TestSupport
import Testing

@testable import PrefixCompute

@Suite("Kernels")
struct KernelTests {
    @Test("the vectorised exp is within 2e-7 relative of the C library's over [-87, 88]")
    func fastExp() {
        var worst: Double = 0
        var x: Float = -87
        while x < 88 {
            let ours = Double(FastMath.exp(x))
            let reference = Foundation.exp(Double(x))
            // A NaN would vanish inside max(): count it as the worst possible error.
            let error = abs(ours - reference) / reference
            worst = error.isNaN ? .infinity : max(worst, error)
            x += 0.0137
        }
        #expect(worst < 2e-7, "worst relative error \(worst)")
    }

    @Test("the vectorised exact GELU is within 3e-7 of the C library's erf form, relative to max(1, |x|), over [-12, 12]")
    func fastExactGELU() {
        let inputs: [Float] = stride(from: -12, through: 12, by: 0.0031).map { Float($0) } + [0, -0, 1e-30, -1e-30, 40, -40]
        var f = inputs
        f.withUnsafeMutableBufferPointer { Float.geluExactInPlace($0) }
        var worst = 0.0
        for (x, y) in zip(inputs, f) {
            let reference = 0.5 * Double(x) * (1 + Foundation.erf(Double(x) / 2.0.squareRoot()))
            let error = abs(Double(y) - reference) / max(1, abs(Double(x)))
            worst = error.isNaN ? .infinity : max(worst, error)
        }
        #expect(worst <= 3e-7, "worst error \(worst)")
    }

    @Test("the vectorised f32 ReLU is max(x, 0) on every element, the tail past a multiple of 16 included, and keeps NaN")
    func relu() {
        var random = SeededRandom(seed: 17)
        let inputs: [Float] = random.normals(37, scale: 2) + [0, -0.0, .nan, -.infinity, .infinity, -Float.leastNormalMagnitude / 4]
        var f = inputs
        f.withUnsafeMutableBufferPointer { Float.activateInPlace(.relu, $0) }
        var d = inputs.map(Double.init)
        d.withUnsafeMutableBufferPointer { Double.activateInPlace(.relu, $0) }
        for (i, x) in inputs.enumerated() {
            if x.isNaN {
                #expect(f[i].isNaN && d[i].isNaN)
            } else {
                #expect(f[i] == (x < 0 ? 0 : x) && Double(f[i]) == d[i], "\(x): \(f[i]) / \(d[i])")
            }
        }
    }

    @Test("GELU and SwiGLU agree between the f32 and f64 paths")
    func activations() {
        let inputs: [Float] = stride(from: -8, through: 8, by: 0.05).map { Float($0) }
        var f = inputs
        var d = inputs.map(Double.init)
        f.withUnsafeMutableBufferPointer { Float.geluTanhInPlace($0) }
        d.withUnsafeMutableBufferPointer { Double.geluTanhInPlace($0) }
        for (a, b) in zip(f, d) { #expect(abs(Double(a) - b) <= 1e-6 * max(1, abs(b))) }
        var g = inputs, gd = inputs.map(Double.init)
        let up = inputs.map { $0 * 0.5 }, upd = up.map(Double.init)
        g.withUnsafeMutableBufferPointer { gp in up.withUnsafeBufferPointer { Float.swiGLUInPlace(gp, $0) } }
        gd.withUnsafeMutableBufferPointer { gp in upd.withUnsafeBufferPointer { Double.swiGLUInPlace(gp, $0) } }
        for (a, b) in zip(g, gd) { #expect(abs(Double(a) - b) <= 1e-6 * max(1, abs(b))) }
    }

    @Test("masked keys get no attention; a fully masked query gets zeros, not NaN")
    func attentionMasking() {
        let q = Matrix<Double>(rows: 2, cols: 2, values: [1, 0, 0, 1])
        let k = Matrix<Double>(rows: 3, cols: 2, values: [1, 0, 0, 1, 5, 5])
        let v = Matrix<Double>(rows: 3, cols: 2, values: [1, 2, 3, 4, 100, 100])
        let out = Attention.attend(q: q, k: k, v: v, heads: 1, kvHeads: 1, headDim: 2, queryOffset: 1, keyMask: [true, true, false])
        #expect(out.values.allSatisfy { $0 < 10 })
        let none = Attention.attend(q: q, k: k, v: v, heads: 1, kvHeads: 1, headDim: 2, queryOffset: 1, keyMask: [false, false, false])
        #expect(none.values == [0, 0, 0, 0])
    }
}

/// The test metric itself can fail: NaN, infinity and a wrong shape are never close.
@Suite("Test metric")
struct ClosenessTests {
    @Test("NaN or infinity on either side, or shapes that differ, give an infinite error")
    func nonFinite() {
        let good = Tensor(shape: [1, 1, 2], doubles: [1, 2])
        for bad in [[Double.nan, 2], [1, .infinity], [-.infinity, 2]] {
            let other = Tensor(shape: [1, 1, 2], doubles: bad)
            #expect(Closeness.relativeError(other, good) == .infinity)
            #expect(Closeness.relativeError(good, other) == .infinity)
        }
        #expect(Closeness.relativeError(good, Tensor(shape: [1, 2, 1], doubles: [1, 2])) == .infinity)
        #expect(Closeness.relativeError(good, good) == 0)
    }
}

/// A norm in groups: every chunk of a row normalised apart, each with its own weights (Cohere's
/// per-head q/k LayerNorm, weights `[heads, hd]`).
@Suite("Grouped norms")
struct GroupedNormTests {
    @Test("each head's chunk is normalised over its own values and scaled by its own weights", arguments: [NormKind.layerNorm, .rmsNorm])
    func perHead(kind: NormKind) throws {
        let (rows, heads, hd) = (3, 4, 5)
        var random = SeededRandom(seed: 7)
        let x = random.normals(rows * heads * hd, scale: 1).map(Double.init)
        let w = random.normals(heads * hd, scale: 1).map(Double.init)
        let part = NormPart("q_norm", kind: kind, width: heads * hd, bias: false, eps: 1e-5, groups: heads)
        #expect(part.tensors.map(\.1) == [[heads, hd]])
        let norm = LoadedNorm<Double>(part) { _ in Tensor(shape: [heads, hd], doubles: w) }
        let out = norm(Matrix(rows: rows, cols: heads * hd, values: x)).values
        // The definition, head by head.
        for r in 0..<rows {
            for h in 0..<heads {
                let base = r * heads * hd + h * hd
                let chunk = Array(x[base..<(base + hd)])
                let mean = kind == .layerNorm ? chunk.reduce(0, +) / Double(hd) : 0
                let spread = chunk.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(hd)
                for i in 0..<hd {
                    let expected = (chunk[i] - mean) / (spread + 1e-5).squareRoot() * w[h * hd + i]
                    #expect(abs(out[base + i] - expected) <= 1e-12, "row \(r) head \(h) dim \(i)")
                }
            }
        }
    }
}

/// A block takes its heads and head size from its own recipe when the family gives it one (a
/// family whose layers differ), else from the model's.
@Suite("Per-layer attention shapes")
struct LayerShapeTests {
    @Test("a block with its own shape computes with it, not with the model's")
    func ownShape() throws {
        let config = ModelConfig(
            family: .llama, numLayers: 1, hiddenSize: 16, numHeads: 4, numKVHeads: 2, headDim: 4, intermediateSize: 24,
            normKind: .rmsNorm, normEps: 1e-6, positionScheme: .rope, maxPositions: 64, vocabSize: 32, activation: "silu",
            ropeTheta: 10000, tieWordEmbeddings: false, attentionBias: false)
        let recipe = try Architectures.recipe(for: config)
        let weights = try SyntheticModel.base(config, seed: 3, prefix: "model.").tensors
        func load(_ name: String) throws -> Tensor {
            guard let found = weights.first(where: { $0.name == "model." + name || $0.name == name }) else {
                throw ComputeError(.missingWeight, "missing", tensor: name)
            }
            return found.tensor
        }
        guard case .rotary(let rotary) = recipe.positions else {
            Issue.record("a LLaMA recipe rotates")
            return
        }
        let rope = RotaryEmbedding(headDim: 4, recipe: rotary)
        let plain = try ComposedBlock<Double>(recipe.layer(0), model: recipe, rope: rope, load: load)
        // The model says 8 heads of 2 (and its rotation is sized for 2); the block says 4 and 2 of 4.
        var other = recipe
        (other.heads, other.kvHeads, other.headDim) = (8, 8, 2)
        var layer = recipe.layer(0)
        layer.shape = AttentionShape(heads: 4, kvHeads: 2, headDim: 4)
        let own = try ComposedBlock<Double>(layer, model: other, rope: rope.resized(headDim: 2), load: load)
        guard (own.heads, own.kvHeads, own.headDim) == (4, 2, 4), own.rope?.headDim == 4 else {
            Issue.record("the block took the model's shape: \(own.heads), \(own.kvHeads), \(own.headDim)")
            return
        }
        var random = SeededRandom(seed: 5)
        let x = Matrix<Double>(rows: 3, cols: 16, values: random.normals(48, scale: 1).map(Double.init))
        let past = (
            keys: Matrix<Double>(rows: 2, cols: 8, values: random.normals(16, scale: 1).map(Double.init)),
            values: Matrix<Double>(rows: 2, cols: 8, values: random.normals(16, scale: 1).map(Double.init))
        )
        let a = plain(x, positions: [2, 3, 4], past: past, pastPositions: [0, 1], keyMask: [true, true, true, true, true])
        let b = own(x, positions: [2, 3, 4], past: past, pastPositions: [0, 1], keyMask: [true, true, true, true, true])
        #expect(a.values == b.values)
        #expect(recipe.attentionShape(ofLayer: 0) == AttentionShape(heads: 4, kvHeads: 2, headDim: 4))
    }

    @Test("a rotation resized to heads of the same size is the same rotation; to other heads, the same fraction rotates")
    func resizedRotation() throws {
        let rotary = RotaryRecipe(theta: 10000, rotatedDims: 4, interleaved: false)
        let rope = RotaryEmbedding(headDim: 8, recipe: rotary)
        #expect(rope.resized(headDim: 8).inverseFrequencies == rope.inverseFrequencies)
        #expect(rope.resized(headDim: 16).rotated == 8 && rope.resized(headDim: 16).headDim == 16)
    }
}
