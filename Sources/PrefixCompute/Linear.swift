/// Affine maps over BLAS.
enum Linear {
    /// `x · W + b` with `W` stored `[in, out]` (GPT-2's Conv1D).
    ///
    /// Shapes: `x [R, in]`, `W [in, out]`, `b [out]` -> `[R, out]`.
    static func conv1D<T>(_ x: Matrix<T>, _ weight: Weight<T>, _ bias: Weight<T>?) -> Matrix<T> {
        precondition(weight.rows == x.cols, "Conv1D weight \(weight.rows)x\(weight.cols) for input width \(x.cols)")
        return multiply(x, weight, transposed: false, outputs: weight.cols, bias: bias)
    }

    /// `x · Wᵀ + b` with `W` stored `[out, in]` (torch Linear).
    ///
    /// Shapes: `x [R, in]`, `W [out, in]`, `b [out]` -> `[R, out]`.
    static func linear<T>(_ x: Matrix<T>, _ weight: Weight<T>, _ bias: Weight<T>?) -> Matrix<T> {
        precondition(weight.cols == x.cols, "Linear weight \(weight.rows)x\(weight.cols) for input width \(x.cols)")
        return multiply(x, weight, transposed: true, outputs: weight.rows, bias: bias)
    }

    /// `x · Wᵀ + b` written into `out` (`[R, out]`, uninitialised memory is fine).
    static func linear<T>(_ x: Matrix<T>, _ weight: Weight<T>, _ bias: Weight<T>?, into out: UnsafeMutableBufferPointer<T>) {
        precondition(weight.cols == x.cols && out.count == x.rows * weight.rows, "Linear into a buffer of the wrong size")
        write(x, weight, transposed: true, outputs: weight.rows, bias: bias, into: out)
    }

    private static func multiply<T>(_ x: Matrix<T>, _ weight: Weight<T>, transposed: Bool, outputs: Int, bias: Weight<T>?) -> Matrix<T> {
        let values = [T](unsafeUninitializedCapacity: x.rows * outputs) { out, initialized in
            write(x, weight, transposed: transposed, outputs: outputs, bias: bias, into: out)
            initialized = x.rows * outputs
        }
        return Matrix(rows: x.rows, cols: outputs, values: values)
    }

    /// The product into `out`: every element is written (the bias rows, or nothing, then the
    /// GEMM with beta 1 or 0), so `out` may start uninitialised rather than zero-filled.
    private static func write<T>(
        _ x: Matrix<T>, _ weight: Weight<T>, transposed: Bool, outputs: Int, bias: Weight<T>?, into out: UnsafeMutableBufferPointer<T>
    ) {
        guard x.rows > 0, let pc = out.baseAddress else { return }
        if let bias {
            precondition(bias.rows * bias.cols == outputs, "bias of \(bias.cols) for \(outputs) outputs")
            bias.withValues { b in for r in 0..<x.rows { for c in 0..<outputs { out[r * outputs + c] = b[c] } } }
        }
        x.values.withUnsafeBufferPointer { a in
            weight.withValues { w in
                guard let pa = a.baseAddress, let pw = w.baseAddress else { return }
                T.gemm(
                    transposeA: false, transposeB: transposed, m: x.rows, n: outputs, k: x.cols, alpha: 1,
                    a: pa, lda: x.cols, b: pw, ldb: weight.cols, beta: bias == nil ? 0 : 1, c: pc, ldc: outputs)
            }
        }
    }
}
