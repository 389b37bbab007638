import PrefixCompute
import PrefixCore
import PrefixStore

/// The check without a reference: f32 against f64 on a deterministic probe.
enum SelfConsistency {
    /// The deterministic probe: two rows of seeded token ids, the second left-padded by two.
    static func probe(_ stack: PrefixStack) throws -> ForwardInput {
        let config = stack.config
        let n = max(1, min(16, config.maxPositions - max(stack.prefix.positions.inputStart, stack.prefix.prefixLength)))
        var random = SeededRandom(seed: 0x5eed)
        var ids: [Int64] = [], mask: [Int64] = []
        for row in 0..<2 {
            for i in 0..<n {
                let padded = row == 1 && i < min(2, n - 1)
                ids.append(padded ? 0 : Int64(random.next() % UInt64(config.vocabSize)))
                mask.append(padded ? 0 : 1)
            }
        }
        func tensor(_ values: [Int64]) throws -> Tensor {
            try Tensor(dtype: .i64, shape: Shape([2, n]), bytes: values.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
        }
        var input = try ForwardInput(ids: tensor(ids), mask: tensor(mask))
        if stack.isEncoderDecoder {
            // The decoder's own ids: a few seeded tokens, every row real.
            let t = min(n, 8)
            let decoder = (0..<(2 * t)).map { _ in Int64(random.next() % UInt64(config.vocabSize)) }
            try input.setDecoderIDs(
                try Tensor(dtype: .i64, shape: Shape([2, t]), bytes: decoder.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }))
        }
        return input
    }

    /// f32 against f64 end to end on the deterministic probe. This finds numerical trouble (NaN,
    /// overflow, precision loss) but never a wrong composition: both runs are PrefixKit's.
    static func checks(_ stack: PrefixStack, _ info: CheckpointInfo) -> [CheckResult] {
        do {
            let input = try probe(stack)
            let mask = input.mask
            // An encoder-decoder's final rows are the decoder's, every one real.
            let real = { (b: Int, r: Int) in input.decoderIDs != nil || mask[b][r] }
            let f64 = try stack.forward(input, as: Double.self)
            let f32 = try stack.forward(input, as: Float.self)
            let e = ErrorMetric.compare(f32.final, f64.final, include: real)
            return [
                CheckResult(
                    check: .selfConsistency, status: (e?.relative ?? .infinity) <= 1e-4 ? .pass : .fail,
                    message:
                        "f32 vs f64, end to end, on a deterministic probe (PrefixKit against itself: not evidence of a correct composition)",
                    maxAbsError: e?.maxAbs, relativeError: e?.relative, tolerance: 1e-4, evidence: .selfConsistency)
            ]
        } catch {
            return [CheckResult(check: .selfConsistency, status: .fail, message: "\(error)", evidence: .selfConsistency)]
        }
    }
}
