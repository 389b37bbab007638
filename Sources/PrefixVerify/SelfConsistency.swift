import PrefixCompute
import PrefixCore
import PrefixStore

/// Checks without a reference: on a deterministic probe, the hidden form against its exact
/// key/value conversion (f64, per layer), and f32 against f64 (end to end).
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
        return try ForwardInput(ids: tensor(ids), mask: tensor(mask))
    }

    static func checks(_ stack: PrefixStack, _ info: CheckpointInfo) -> [CheckResult] {
        var checks: [CheckResult] = []
        do {
            let input = try probe(stack)
            let mask = input.mask
            let real = { (b: Int, r: Int) in mask[b][r] }
            let f64 = try stack.forward(input, as: Double.self)
            if info.form == .hidden {
                let kv = try stack.keyValuePrefix(dtype: .f64)
                let kvStack = try PrefixStack(config: stack.config, weights: stack.weightSource, prefix: PrefixSource(kv))
                let other = try kvStack.forward(input, as: Double.self)
                for l in 0..<stack.config.numLayers {
                    let e = ErrorMetric.compare(other.layerOutputs[l], f64.layerOutputs[l], include: real)
                    let pass = (e?.relative ?? .infinity) <= 1e-12
                    checks.append(CheckResult(check: "self-consistency", layer: l, status: pass ? .pass : .fail,
                                              message: "layer \(l): hidden form vs its key/value conversion (deterministic probe, f64)",
                                              maxAbsError: e?.maxAbs, relativeError: e?.relative, tolerance: 1e-12))
                }
            }
            let f32 = try stack.forward(input, as: Float.self)
            let e = ErrorMetric.compare(f32.final, f64.final, include: real)
            checks.append(CheckResult(check: "self-consistency", status: (e?.relative ?? .infinity) <= 1e-4 ? .pass : .fail,
                                      message: "f32 vs f64, end to end (deterministic probe; no reference given or stored)",
                                      maxAbsError: e?.maxAbs, relativeError: e?.relative, tolerance: 1e-4))
        } catch {
            checks.append(CheckResult(check: "self-consistency", status: .fail, message: "\(error)"))
        }
        return checks
    }
}
