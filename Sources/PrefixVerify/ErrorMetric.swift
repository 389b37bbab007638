import PrefixCore

/// semantics' metric and the row arithmetic of `[B, R, d]` tensors.
enum ErrorMetric {
    /// `(max|A-R|, max|A-R| / max(max|R|, 1e-30))` over rows where `include(b, r)`; nil when the
    /// shapes differ.
    static func compare(_ actual: Tensor, _ reference: Tensor, include: (Int, Int) -> Bool) -> (maxAbs: Double, relative: Double)? {
        guard actual.shape == reference.shape, actual.shape.rank == 3 else { return nil }
        let (batch, rows, width) = (actual.shape[0], actual.shape[1], actual.shape[2])
        let a = actual.doubles(), r = reference.doubles()
        var worst = 0.0, scale = 0.0
        for b in 0..<batch {
            for row in 0..<rows where include(b, row) {
                let base = (b * rows + row) * width
                for c in 0..<width {
                    let diff = abs(a[base + c] - r[base + c])
                    if diff > worst || diff.isNaN { worst = diff.isNaN ? .infinity : diff }
                    scale = max(scale, abs(r[base + c]))
                }
            }
        }
        return (worst, worst / max(scale, 1e-30))
    }

    /// Rows `range` of every batch entry of a `[B, R, d]` tensor, as f64.
    /// The metric over two `[B, W]` tensors (one row per sequence: a pooler's output, a
    /// sequence classifier's logits), every row included.
    static func comparePerSequence(_ actual: Tensor, _ reference: Tensor) -> (maxAbs: Double, relative: Double)? {
        guard actual.shape == reference.shape, actual.shape.rank == 2 else { return nil }
        let shape: Shape = [actual.shape[0], 1, actual.shape[1]]
        return compare(
            Tensor(shape: shape, doubles: actual.doubles()), Tensor(shape: shape, doubles: reference.doubles()), include: { _, _ in true })
    }

    static func rows(_ tensor: Tensor, _ range: Range<Int>) -> Tensor {
        let (batch, rows, width) = (tensor.shape[0], tensor.shape[1], tensor.shape[2])
        let values = tensor.doubles()
        var out: [Double] = []
        out.reserveCapacity(batch * range.count * width)
        for b in 0..<batch { out += values[((b * rows + range.lowerBound) * width)..<((b * rows + range.upperBound) * width)] }
        return Tensor(shape: [batch, range.count, width], doubles: out)
    }

    /// A `[R, d]` tensor repeated for every batch entry: `[B, R, d]`.
    static func broadcast(_ tensor: Tensor, batch: Int) -> Tensor {
        let values = tensor.doubles()
        let shape: Shape = [batch, tensor.shape[0], tensor.shape[1]]
        return Tensor(shape: shape, doubles: Array((0..<batch).map { _ in values }.joined()))
    }
}
