import PrefixCore

/// A dense row-major matrix of activations: `rows x cols` values of `T`.
///
/// Internal to the engine; tensors cross the module boundary as ``PrefixCore/Tensor``.
struct Matrix<T: ComputeScalar> {
    var rows: Int
    var cols: Int
    var values: [T]

    init(rows: Int, cols: Int, values: [T]) {
        precondition(values.count == rows * cols, "\(values.count) values for \(rows) x \(cols)")
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    init(zeros rows: Int, _ cols: Int) {
        self.init(rows: rows, cols: cols, values: [T](repeating: 0, count: rows * cols))
    }

    /// Rows `range` as a new matrix.
    /// Row blocks stacked in order (all with the same column count).
    init(stacking parts: [Matrix]) {
        let cols = parts.first?.cols ?? 0
        var values: [T] = []
        values.reserveCapacity(parts.reduce(0) { $0 + $1.values.count })
        for part in parts { values += part.values }
        self.init(rows: parts.reduce(0) { $0 + $1.rows }, cols: cols, values: values)
    }

    func rows(_ range: Range<Int>) -> Matrix {
        Matrix(rows: range.count, cols: cols, values: Array(values[(range.lowerBound * cols)..<(range.upperBound * cols)]))
    }

    /// `self` stacked on top of `other` (same width).
    func stacked(on other: Matrix) -> Matrix {
        precondition(cols == other.cols, "stacking \(cols) on \(other.cols) columns")
        return Matrix(rows: rows + other.rows, cols: cols, values: values + other.values)
    }

    /// Multiplies every value by `factor`.
    mutating func scale(by factor: T) {
        values.withUnsafeMutableBufferPointer { a in for i in a.indices { a[i] *= factor } }
    }

    /// Multiplies by `other` element-wise (gated MLPs).
    mutating func multiply(_ other: Matrix) {
        precondition(rows == other.rows && cols == other.cols, "multiplying \(rows)x\(cols) by \(other.rows)x\(other.cols)")
        values.withUnsafeMutableBufferPointer { a in
            other.values.withUnsafeBufferPointer { b in
                for i in a.indices { a[i] *= b[i] }
            }
        }
    }

    /// Adds `other` element-wise (the residual connection).
    mutating func add(_ other: Matrix) {
        precondition(rows == other.rows && cols == other.cols, "adding \(other.rows)x\(other.cols) to \(rows)x\(cols)")
        values.withUnsafeMutableBufferPointer { a in
            other.values.withUnsafeBufferPointer { b in
                for i in a.indices { a[i] += b[i] }
            }
        }
    }
}

/// A weight matrix the engine reads: borrowed from a loaded tensor when its bytes are already
/// `T` and aligned (zero-copy from a mapped blob), converted otherwise.
struct Weight<T: ComputeScalar>: @unchecked Sendable {
    // Safety: read-only after init; `owner` keeps the borrowed bytes alive.
    let rows: Int
    let cols: Int
    private let converted: [T]?
    private let owner: Tensor?

    /// Wraps `tensor`, viewing it as `rows x cols` (a vector is `1 x n`).
    init(_ tensor: Tensor) {
        let dims = tensor.shape.dimensions
        rows = dims.count >= 2 ? dims[0] : 1
        cols = dims.count >= 2 ? dims[1...].reduce(1, *) : (dims.first ?? 1)
        let aligned = tensor.withUnsafeBytes { Int(bitPattern: $0.baseAddress) % MemoryLayout<T>.alignment == 0 }
        if tensor.dtype == T.dtype && aligned && tensor.byteCount > 0 {
            converted = nil
            owner = tensor
        } else {
            converted = T.elements(of: tensor)
            owner = nil
        }
    }

    /// Calls `body` with the values.
    func withValues<R>(_ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
        if let converted { return try converted.withUnsafeBufferPointer(body) }
        guard let owner else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        return try owner.withUnsafeBytes { try body($0.bindMemory(to: T.self)) }
    }
}
