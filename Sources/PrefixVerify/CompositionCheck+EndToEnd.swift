import Foundation
import PrefixCompute
import PrefixCore
import PrefixFormats

extension CompositionCheck {
    // The end-to-end check: inputs -> final, logits and pooler; when it fails, the inputs
    // (positions, embeddings) and the other stored bases as explanations.

    func checkEndToEnd(_ input: ForwardInput, n: Int) -> ([CheckResult], Diagnosis?) {
        var checks: [CheckResult] = []
        guard let final = reference.final else {
            return ([CheckResult(check: .endToEnd, status: .skip, message: "the reference has no 'final'", evidence: evidence)], nil)
        }
        let mask = input.mask
        let real = { (b: Int, r: Int) in mask[b][r] }
        func forward(_ s: PrefixStack) throws -> ForwardResult {
            useDouble
                ? try s.forward(input, as: Double.self, options: ForwardOptions(logits: reference.logits != nil && s.computesLogits))
                : try s.forward(input, as: Float.self, options: ForwardOptions(logits: reference.logits != nil && s.computesLogits))
        }
        guard final.shape.dimensions == [mask.count, n, stack.config.hiddenSize] else {
            return (
                [
                    CheckResult(
                        check: .endToEnd, status: .fail,
                        message: "the reference's final is \(final.shape), expected [\(mask.count), \(n), \(stack.config.hiddenSize)]",
                        evidence: evidence)
                ], nil
            )
        }
        do {
            let ours = try forward(stack)
            let e = ErrorMetric.compare(ours.final, final, include: real)
            let pass = (e?.relative ?? .infinity) <= tolerances.endToEnd
            checks.append(
                CheckResult(
                    check: .endToEnd, status: pass ? .pass : .fail, message: "inputs -> final over \(stack.config.numLayers) layers",
                    maxAbsError: e?.maxAbs, relativeError: e?.relative, tolerance: tolerances.endToEnd, rowsOut: n, expectedRowsOut: n,
                    evidence: evidence))
            if let logits = reference.logits {
                let what = ours.logits?.shape.rank == 2 ? "sequence classifier output" : "LM or task head output, real rows"
                if let ourLogits = ours.logits,
                    let le = ourLogits.shape.rank == 2
                        ? ErrorMetric.comparePerSequence(ourLogits, logits) : ErrorMetric.compare(ourLogits, logits, include: real)
                {
                    checks.append(
                        CheckResult(
                            check: .logits, status: le.relative <= tolerances.endToEnd ? .pass : .fail, message: what,
                            maxAbsError: le.maxAbs, relativeError: le.relative, tolerance: tolerances.endToEnd, evidence: evidence))
                } else {
                    checks.append(
                        CheckResult(
                            check: .logits, status: .fail,
                            message: ours.logits.map {
                                "the reference's logits are \(logits.shape), this checkpoint's head gives \($0.shape)"
                            }
                                ?? "the reference has logits but nothing here computes them",
                            evidence: evidence))
                }
            }
            if let pooled = reference.poolerOutput {
                if let ourPooled = ours.pooled, let pe = ErrorMetric.comparePerSequence(ourPooled, pooled) {
                    checks.append(
                        CheckResult(
                            check: .pooler, status: pe.relative <= tolerances.endToEnd ? .pass : .fail,
                            message: "pooler output tanh(dense(row 0))", maxAbsError: pe.maxAbs, relativeError: pe.relative,
                            tolerance: tolerances.endToEnd, evidence: evidence))
                } else {
                    checks.append(
                        CheckResult(
                            check: .pooler, status: .fail,
                            message: ours.pooled == nil
                                ? "the reference has a pooler output but this base has no pooler"
                                : "the reference's pooler output is \(pooled.shape), expected [\(mask.count), \(stack.config.hiddenSize)]",
                            evidence: evidence))
                }
            }
            guard !pass else { return (checks, nil) }
            // Not explained per layer: the inputs themselves (embeddings, positions) or the base.
            var fits: [CandidateFit] = []
            let shifted = try stack.with(positions: PositionConvention(prefixStart: stack.prefix.positions.prefixStart, inputStart: 0))
            if let e = ErrorMetric.compare(try forward(shifted).final, final, include: real) {
                fits.append(CandidateFit(bug: .inputsAtWrongPosition, relativeError: e.relative))
            }
            let positionsExplain = fits.contains { $0.relativeError <= tolerances.endToEnd }
            if !positionsExplain,
                let found = try reproducingAlternative(
                    final: final, include: real, ownError: checks[0].relativeError, fits: &fits, forward: { try forward($0).final })
            {
                return (checks, found)
            }
            // No base at hand reproduces it, but the inputs to layer 0 (embeddings) already differ.
            if !positionsExplain, let first = reference.layerInputs[0], let ourFirst = ours.layerInputs.first {
                let offset = first.shape[1] - n, ourOffset = ourFirst.shape[1] - n
                if offset >= 0, ourOffset >= 0,
                    let e = ErrorMetric.compare(
                        ErrorMetric.rows(ourFirst, ourOffset..<(ourOffset + n)),
                        ErrorMetric.rows(first, offset..<(offset + n)), include: real),
                    e.relative > tolerances.perLayer
                {
                    let tried = fits.filter { $0.bug == .wrongBase }.count
                    let summary =
                        "the reference's layer-0 input rows differ from this base's embeddings (relative error \(String(format: "%.1e", e.relative))): "
                        + "it was most likely computed with other base weights; \(tried == 0 ? "the store holds no other base that fits" : "none of the \(tried) other stored base(s) that fit reproduces it")"
                    return (
                        checks,
                        Diagnosis(
                            bug: .wrongBase, layer: nil, summary: summary, relativeError: nil, fix: BugClass.wrongBase.fix,
                            candidates: fits.sorted { $0.relativeError < $1.relativeError })
                    )
                }
            }
            return (checks, diagnose(fits, layer: nil, check: checks[0]))
        } catch {
            checks.append(CheckResult(check: .endToEnd, status: .fail, message: "\(error)", evidence: evidence))
            return (checks, nil)
        }
    }
}

extension CompositionCheck {
    /// Tries the stacks a reference may have been computed with instead: the other steps of the
    /// checkpoint's name on its base (nearest first; the first that reproduces the reference wins),
    /// then the store's other bases the prefix fits (the closest wins), each run end to end
    /// through `forward` and compared with `final`. Every fit is added to `fits`.
    ///
    /// - Returns: the diagnosis naming the step or base that reproduces the reference, if any.
    func reproducingAlternative(
        final: Tensor, include: (Int, Int) -> Bool, ownError: Double?, fits: inout [CandidateFit],
        forward: (PrefixStack) throws -> Tensor
    ) throws -> Diagnosis? {
        func search(_ alternatives: [(label: String, stack: PrefixStack)], as bug: BugClass, firstFound: Bool) throws
            -> (label: String, error: Double)?
        {
            var found: (label: String, error: Double)?
            for (label, other) in alternatives {
                guard let e = ErrorMetric.compare(try forward(other), final, include: include) else { continue }
                fits.append(CandidateFit(bug: bug, relativeError: e.relative))
                if e.relative <= tolerances.endToEnd, e.relative < (found?.error ?? .infinity) {
                    found = (label, e.relative)
                    if firstFound { break }
                }
            }
            return found
        }
        func reproduced(_ bug: BugClass, by found: (label: String, error: Double), own: String, fix: String) -> Diagnosis {
            let summary =
                "\(bug.explanation): \(found.label) reproduces it to \(String(format: "%.1e", found.error)); \(own) is off by \(String(format: "%.1e", ownError ?? .nan))"
            return Diagnosis(
                bug: bug, layer: nil, summary: summary, relativeError: found.error, fix: fix,
                candidates: fits.sorted { $0.relativeError < $1.relativeError })
        }
        if let step = try search(alternativeSteps(), as: .wrongStep, firstFound: true) {
            return reproduced(
                .wrongStep, by: step, own: "this step",
                fix: "verify \(step.label) against this reference, or recompute the reference from this step's adapter")
        }
        if let base = try search(alternativeBases(), as: .wrongBase, firstFound: false) {
            return reproduced(
                .wrongBase, by: base, own: "the checkpoint's own base",
                fix: "verify against \(base.label), or import the checkpoint on it; otherwise recompute the reference")
        }
        return nil
    }
}
