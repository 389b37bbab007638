internal import COpenBLAS
public import PrefixCore

/// A floating-point type the engine computes in: `Float` over `cblas_sgemm` with vectorised
/// kernels, or `Double` over `cblas_dgemm` with the C library's functions (the reference path).
public protocol ComputeScalar: BinaryFloatingPoint, Sendable {
    /// The PrefixKit dtype of this scalar (`f32` or `f64`).
    static var dtype: DType { get }

    /// `C = alpha * op(A) * op(B) + beta * C`, row-major, over BLAS.
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Self,
        a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)

    /// Replaces every value `x` with `exp(x)`.
    static func expInPlace(_ values: UnsafeMutableBufferPointer<Self>)
    /// Replaces every value with GPT-2's tanh-approximated GELU (`gelu_new`).
    static func geluTanhInPlace(_ values: UnsafeMutableBufferPointer<Self>)
    /// Replaces every value with the exact GELU, `0.5 x (1 + erf(x / sqrt 2))` (BERT's `gelu`).
    static func geluExactInPlace(_ values: UnsafeMutableBufferPointer<Self>)
    /// `gate[i] = silu(gate[i]) * up[i]` (SwiGLU).
    static func swiGLUInPlace(_ gate: UnsafeMutableBufferPointer<Self>, _ up: UnsafeBufferPointer<Self>)
    /// Converts from `Double` (rounding to nearest).
    init(_ value: Double)
    /// The value as a `Double` (exact).
    var double: Double { get }
    /// The square root.
    var root: Self { get }
    /// The elements of `tensor` in this type (exact for every float dtype except f64 -> f32).
    static func elements(of tensor: Tensor) -> [Self]
    /// A tensor of this dtype holding `values` with `shape`.
    static func tensor(_ values: [Self], shape: Shape) -> Tensor
}

private func transpose(_ flag: Bool) -> CBLAS_TRANSPOSE { flag ? CblasTrans : CblasNoTrans }

extension Float: ComputeScalar {
    /// The dtype of this scalar.
    public static var dtype: DType { .f32 }

    /// The square root.
    @inlinable public var root: Float { squareRoot() }

    /// The value as a `Double`.
    @inlinable public var double: Double { Double(self) }

    /// `C = alpha * op(A) * op(B) + beta * C` over BLAS, row-major.
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transpose(transposeA), transpose(transposeB), Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `exp` of every value, in place.
    public static func expInPlace(_ values: UnsafeMutableBufferPointer<Float>) {
        let c = FastMath.ExpConstants()
        FastMath.apply(values) { FastMath.exp($0, c) }
    }

    /// GELU (tanh approximation) of every value, in place.
    public static func geluTanhInPlace(_ values: UnsafeMutableBufferPointer<Float>) {
        let c = FastMath.ExpConstants()
        let twoSqrt2OverPi = FastMath.V(repeating: 2 * 0.797_884_56), cubic = FastMath.V(repeating: 0.044715)
        FastMath.apply(values) { x in
            // 0.5 x (1 + tanh y) = x - x / (exp(2y) + 1), y = sqrt(2/pi) (x + 0.044715 x^3)
            let twoY = twoSqrt2OverPi * (x + cubic * x * x * x)
            return x - x / (FastMath.exp(twoY, c) + c.one)
        }
    }

    /// The exact GELU of every value, in place, vectorised: `erf` by Abramowitz and Stegun's
    /// 7.1.26 (absolute error below 1.5e-7, about two f32 ulps near 1) with the vectorised `exp`.
    public static func geluExactInPlace(_ values: UnsafeMutableBufferPointer<Float>) {
        let c = FastMath.ExpConstants()
        typealias V = FastMath.V
        let invSqrt2 = V(repeating: 0.707_106_77), p = V(repeating: 0.327_591_1), half = V(repeating: 0.5), two = V(repeating: 2)
        let a1 = V(repeating: 0.254_829_592), a2 = V(repeating: -0.284_496_736), a3 = V(repeating: 1.421_413_741)
        let a4 = V(repeating: -1.453_152_027), a5 = V(repeating: 1.061_405_429)
        FastMath.apply(values) { x in
            let z = (x * invSqrt2).replacing(with: -(x * invSqrt2), where: x .< 0)
            let t = c.one / (c.one + p * z)
            let poly = t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5))))
            // e = 1 - erf(z) for z = |x|/sqrt 2; 1 + erf(x/sqrt 2) is 2 - e for x >= 0 and e below.
            let e = poly * FastMath.exp(-(z * z), c)
            return half * x * (two - e).replacing(with: e, where: x .< 0)
        }
    }

    /// `gate = silu(gate) * up`, in place.
    public static func swiGLUInPlace(_ gate: UnsafeMutableBufferPointer<Float>, _ up: UnsafeBufferPointer<Float>) {
        precondition(gate.count == up.count, "SwiGLU halves differ in size")
        let c = FastMath.ExpConstants()
        FastMath.apply(gate, up) { g, u in g / (c.one + FastMath.exp(-g, c)) * u }
    }

    /// The elements of `tensor` in this type.
    public static func elements(of tensor: Tensor) -> [Float] { tensor.floats() }

    /// A tensor of this dtype holding `values`.
    public static func tensor(_ values: [Float], shape: Shape) -> Tensor { Tensor(shape: shape, floats: values) }
}

extension Double: ComputeScalar {
    /// The dtype of this scalar.
    public static var dtype: DType { .f64 }

    /// The square root.
    @inlinable public var root: Double { squareRoot() }

    /// The value as a `Double`.
    @inlinable public var double: Double { self }

    /// `C = alpha * op(A) * op(B) + beta * C` over BLAS, row-major.
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dgemm(
            CblasRowMajor, transpose(transposeA), transpose(transposeB), Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `exp` of every value, in place.
    public static func expInPlace(_ values: UnsafeMutableBufferPointer<Double>) {
        for i in values.indices { values[i] = LibM.exp(values[i]) }
    }

    /// The exact GELU of every value, in place, through the C library's `erf`.
    public static func geluExactInPlace(_ values: UnsafeMutableBufferPointer<Double>) {
        for i in values.indices {
            let x = values[i]
            values[i] = 0.5 * x * (1 + LibM.erf(x / 2.0.squareRoot()))
        }
    }

    /// GELU (tanh approximation) of every value, in place.
    public static func geluTanhInPlace(_ values: UnsafeMutableBufferPointer<Double>) {
        let c = (2.0 / Double.pi).squareRoot()
        for i in values.indices {
            let x = values[i]
            values[i] = 0.5 * x * (1 + LibM.tanh(c * (x + 0.044715 * x * x * x)))
        }
    }

    /// `gate = silu(gate) * up`, in place.
    public static func swiGLUInPlace(_ gate: UnsafeMutableBufferPointer<Double>, _ up: UnsafeBufferPointer<Double>) {
        precondition(gate.count == up.count, "SwiGLU halves differ in size")
        for i in gate.indices {
            let g = gate[i]
            gate[i] = g / (1 + LibM.exp(-g)) * up[i]
        }
    }

    /// The elements of `tensor` in this type.
    public static func elements(of tensor: Tensor) -> [Double] { tensor.doubles() }

    /// A tensor of this dtype holding `values`.
    public static func tensor(_ values: [Double], shape: Shape) -> Tensor { Tensor(shape: shape, doubles: values) }
}

extension ComputeScalar {
    /// `tanh`, through the C library in double precision.
    static func tanh(_ x: Self) -> Self { Self(LibM.tanh(x.double)) }

    /// Applies `activation` to every value: the vectorised kernels for GELU-tanh, scalar C
    /// library calls for the others.
    static func activateInPlace(_ activation: Activation, _ values: UnsafeMutableBufferPointer<Self>) {
        switch activation {
        case .geluTanh: geluTanhInPlace(values)
        case .geluTanhBloom:
            if Self.self == Float.self {
                geluTanhInPlace(values)
            } else {
                for i in values.indices {
                    let x = values[i].double
                    values[i] = Self(x * 0.5 * (1 + LibM.tanh(0.797_884_56 * x * (1 + 0.044715 * x * x))))
                }
            }
        case .gelu: geluExactInPlace(values)
        case .relu:
            // Signs are random: a branch per element mispredicts half the time. Sixteen lanes at a
            // time with a select instead (NaN stays NaN, as in torch).
            if Self.self == Float.self {
                values.withMemoryRebound(to: Float.self) { floats in
                    let zero = FastMath.V(repeating: 0)
                    FastMath.apply(floats) { $0.replacing(with: zero, where: $0 .< zero) }
                }
            } else {
                for i in values.indices where values[i] < 0 { values[i] = 0 }
            }
        case .silu:
            for i in values.indices {
                let x = values[i].double
                values[i] = Self(x / (1 + LibM.exp(-x)))
            }
        }
    }
}

extension ComputeScalar {
    /// A tensor of this dtype and `shape` whose values `fill` writes in place: one allocation, no
    /// zeroing and no intermediate array (for large outputs such as logits).
    static func tensor(shape: Shape, fill: (UnsafeMutableBufferPointer<Self>) -> Void) -> Tensor {
        let count = shape.elementCount
        let storage = TensorStorage(uninitializedByteCount: count * MemoryLayout<Self>.stride) { raw in
            fill(raw.bindMemory(to: Self.self))
        }
        guard let tensor = try? Tensor(dtype: dtype, shape: shape, storage: storage) else { preconditionFailure("tensor of \(shape)") }
        return tensor
    }
}
