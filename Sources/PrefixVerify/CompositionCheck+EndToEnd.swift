import Foundation
import PrefixCompute
import PrefixCore
import PrefixFormats

extension CompositionCheck {
    // The end-to-end check: inputs -> (encoder output,) final, logits and pooler; when the hidden
    // states differ, the model-wide hypotheses, the other steps and bases, and the inputs
    // themselves as explanations.

    /// Inputs (and an encoder-decoder's decoder ids) -> the model's outputs, against the reference.
    func checkEndToEnd(_ input: ForwardInput, n: Int) -> ([CheckResult], Diagnosis?) {
        var checks: [CheckResult] = []
        guard let final = reference.final else {
            return ([CheckResult(check: .endToEnd, status: .skip, message: "the reference has no 'final'", evidence: evidence)], nil)
        }
        let encoderDecoder = stack.isEncoderDecoder
        let d = stack.config.hiddenSize, batch = input.batch, mask = input.mask
        // The decoder's rows are all real; a one-stack model's are its inputs'.
        let rows = input.decoderIDs?.first?.count ?? n
        let real = { (b: Int, r: Int) in mask[b][r] }
        let all = { (_: Int, _: Int) in true }
        let kept = encoderDecoder ? all : real
        func forward(_ s: PrefixStack) throws -> ForwardResult {
            let options = ForwardOptions(logits: reference.logits != nil && s.computesLogits)
            return useDouble
                ? try s.forward(input, as: Double.self, options: options) : try s.forward(input, as: Float.self, options: options)
        }
        guard final.shape.dimensions == [batch, rows, d] else {
            return (
                [
                    CheckResult(
                        check: .endToEnd, status: .fail,
                        message:
                            "the reference's final is \(final.shape), expected \(encoderDecoder ? "the decoder's " : "")[\(batch), \(rows), \(d)]",
                        evidence: evidence)
                ], nil
            )
        }
        do {
            let ours = try forward(stack)
            if let encoded = reference.encoderFinal, let ourEncoded = ours.encoder?.final {
                let e = ErrorMetric.compare(ourEncoded, encoded, include: real)
                checks.append(
                    CheckResult(
                        check: .endToEnd, section: .encoder, status: (e?.relative ?? .infinity) <= tolerances.endToEnd ? .pass : .fail,
                        message: "inputs -> encoder output over \(stack.encoderLayers) layers, real rows", maxAbsError: e?.maxAbs,
                        relativeError: e?.relative, tolerance: tolerances.endToEnd, rowsOut: n, expectedRowsOut: n, evidence: evidence))
            }
            let e = ErrorMetric.compare(ours.final, final, include: kept)
            checks.append(
                CheckResult(
                    check: .endToEnd, section: encoderDecoder ? .decoder : nil,
                    status: (e?.relative ?? .infinity) <= tolerances.endToEnd ? .pass : .fail,
                    message: encoderDecoder
                        ? "inputs and decoder ids -> decoder final over \(stack.config.numLayers) layers"
                        : "inputs -> final over \(stack.config.numLayers) layers",
                    maxAbsError: e?.maxAbs, relativeError: e?.relative, tolerance: tolerances.endToEnd, rowsOut: rows,
                    expectedRowsOut: rows,
                    evidence: evidence))
            if let logits = reference.logits {
                checks.append(logitsCheck(ours.logits, logits, include: kept, encoderDecoder: encoderDecoder))
            }
            if let pooled = reference.poolerOutput { checks.append(poolerCheck(ours.pooled, pooled, batch: batch)) }
            // The hidden states decide what the composition got wrong; a head alone is not a composition.
            guard let failed = checks.first(where: { $0.check == .endToEnd && $0.status == .fail }) else { return (checks, nil) }
            var fits: [CandidateFit] = []
            for hypothesis in ModelHypothesis.all where hypothesis.applies(stack) {
                guard let other = try hypothesis.stack(stack),
                    let e = ErrorMetric.compare(try forward(other).final, final, include: kept)
                else { continue }
                fits.append(CandidateFit(bug: hypothesis.bug, relativeError: e.relative))
            }
            let explained = fits.contains { $0.relativeError <= tolerances.endToEnd }
            if !explained,
                let found = try reproducingAlternative(
                    final: final, include: kept, ownError: e?.relative, fits: &fits, forward: { try forward($0).final })
            {
                return (checks, found)
            }
            if !explained, let differing = embeddingsDiffer(ours, n: n, mask: mask, fits: fits) { return (checks, differing) }
            return (checks, diagnose(fits, layer: nil, check: failed))
        } catch {
            checks.append(CheckResult(check: .endToEnd, status: .fail, message: "\(error)", evidence: evidence))
            return (checks, nil)
        }
    }

    /// The model's logits against the reference's: per sequence for a sequence classifier, per
    /// kept row otherwise.
    private func logitsCheck(_ ours: Tensor?, _ logits: Tensor, include: (Int, Int) -> Bool, encoderDecoder: Bool) -> CheckResult {
        let what =
            encoderDecoder ? "LM head output" : ours?.shape.rank == 2 ? "sequence classifier output" : "LM or task head output, real rows"
        if let ours,
            let e = ours.shape.rank == 2
                ? ErrorMetric.comparePerSequence(ours, logits) : ErrorMetric.compare(ours, logits, include: include)
        {
            return CheckResult(
                check: .logits, status: e.relative <= tolerances.endToEnd ? .pass : .fail, message: what, maxAbsError: e.maxAbs,
                relativeError: e.relative, tolerance: tolerances.endToEnd, evidence: evidence)
        }
        return CheckResult(
            check: .logits, status: .fail,
            message: ours.map { "the reference's logits are \(logits.shape), this checkpoint's head gives \($0.shape)" }
                ?? "the reference has logits but nothing here computes them", evidence: evidence)
    }

    /// The model's pooler output against the reference's.
    private func poolerCheck(_ ours: Tensor?, _ pooled: Tensor, batch: Int) -> CheckResult {
        if let ours, let e = ErrorMetric.comparePerSequence(ours, pooled) {
            return CheckResult(
                check: .pooler, status: e.relative <= tolerances.endToEnd ? .pass : .fail, message: "pooler output tanh(dense(row 0))",
                maxAbsError: e.maxAbs, relativeError: e.relative, tolerance: tolerances.endToEnd, evidence: evidence)
        }
        return CheckResult(
            check: .pooler, status: .fail,
            message: ours == nil
                ? "the reference has a pooler output but this base has no pooler"
                : "the reference's pooler output is \(pooled.shape), expected [\(batch), \(stack.config.hiddenSize)]",
            evidence: evidence)
    }

    /// When no stored base reproduces the reference but its first block's input rows already
    /// differ from this base's embeddings: the diagnosis that other base weights computed it.
    private func embeddingsDiffer(_ ours: ForwardResult, n: Int, mask: [[Bool]], fits: [CandidateFit]) -> Diagnosis? {
        let (first, ourFirst) =
            stack.isEncoderDecoder
            ? (reference.encoderLayerInputs[0], ours.encoder?.layerInputs.first) : (reference.layerInputs[0], ours.layerInputs.first)
        guard let first, let ourFirst, first.shape.rank == 3 else { return nil }
        let offset = first.shape[1] - n, ourOffset = ourFirst.shape[1] - n
        guard offset >= 0, ourOffset >= 0,
            let e = ErrorMetric.compare(
                ErrorMetric.rows(ourFirst, ourOffset..<(ourOffset + n)), ErrorMetric.rows(first, offset..<(offset + n)),
                include: { mask[$0][$1] }),
            e.relative > tolerances.perLayer
        else { return nil }
        let tried = fits.filter { $0.bug == .wrongBase }.count
        let summary =
            "the reference's layer-0 input rows differ from this base's embeddings (relative error \(String(format: "%.1e", e.relative))): "
            + "it was most likely computed with other base weights; \(tried == 0 ? "the store holds no other base that fits" : "none of the \(tried) other stored base(s) that fit reproduces it")"
        return Diagnosis(
            bug: .wrongBase, layer: nil, summary: summary, relativeError: nil, fix: BugClass.wrongBase.fix,
            candidates: fits.sorted { $0.relativeError < $1.relativeError })
    }
}

/// A model-wide wrong composition the end-to-end check tries when the model's output differs:
/// the bug, the models it applies to, and the stack computed under it.
struct ModelHypothesis: Sendable {
    /// The bug a fit names.
    let bug: BugClass
    /// Whether it applies to the model.
    let applies: @Sendable (PrefixStack) -> Bool
    /// The stack the hypothesis computes with.
    let stack: @Sendable (PrefixStack) throws -> PrefixStack?

    /// A hypothesis that changes the checkpoint's prefix source.
    init(
        _ bug: BugClass, when applies: @escaping @Sendable (PrefixStack) -> Bool,
        prefix change: @escaping @Sendable (inout PrefixSource) -> Void
    ) {
        self.bug = bug
        self.applies = applies
        self.stack = { model in
            var source = model.prefix
            change(&source)
            return try PrefixStack(config: model.config, weights: model.weightSource, prefix: source)
        }
    }

    /// A hypothesis that computes with another stack.
    init(
        _ bug: BugClass, when applies: @escaping @Sendable (PrefixStack) -> Bool,
        stack: @escaping @Sendable (PrefixStack) throws -> PrefixStack?
    ) {
        self.bug = bug
        self.applies = applies
        self.stack = stack
    }

    /// Every hypothesis the end-to-end check tries, in the order fits are reported.
    static let all: [ModelHypothesis] = [
        ModelHypothesis(.inputsAtWrongPosition, when: { !$0.isEncoderDecoder }) { model in
            try model.with(positions: PositionConvention(prefixStart: model.prefix.positions.prefixStart, inputStart: 0))
        },
        ModelHypothesis(.encoderPrefixMissing, when: { $0.prefix.encoderLayer != nil }, prefix: { $0.encoderLayer = nil }),
        ModelHypothesis(.crossPrefixDropped, when: { $0.prefix.crossLayer != nil }, prefix: { $0.crossLayer = nil }),
        ModelHypothesis(
            .directLayerMapping, when: { $0.isEncoderDecoder && $0.prefix.layout == .peftSeq2Seq && !hasSectionPrefixes($0) },
            prefix: { $0.layout = .direct }),
        ModelHypothesis(
            .peftLayerMapping, when: { $0.isEncoderDecoder && $0.prefix.layout == .direct && !hasSectionPrefixes($0) },
            prefix: { $0.layout = .peftSeq2Seq }),
    ]

    /// Whether the checkpoint has the paper's encoder or cross-attention prefixes (PEFT's layout
    /// has neither).
    private static func hasSectionPrefixes(_ model: PrefixStack) -> Bool {
        model.prefix.encoderLayer != nil || model.prefix.crossLayer != nil
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
        if let step = try search(try alternativeSteps(), as: .wrongStep, firstFound: true) {
            return reproduced(
                .wrongStep, by: step, own: "this step",
                fix: "verify \(step.label) against this reference, or recompute the reference from this step's adapter")
        }
        if let base = try search(try alternativeBases(), as: .wrongBase, firstFound: false) {
            return reproduced(
                .wrongBase, by: base, own: "the checkpoint's own base",
                fix: "verify against \(base.label), or import the checkpoint on it; otherwise recompute the reference")
        }
        return nil
    }
}
