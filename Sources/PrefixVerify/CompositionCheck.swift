import Foundation
import PrefixCompute
import PrefixCore
import PrefixFormats

/// Checks a checkpoint's composition against reference activations, layer by layer, and names
/// the known bug the evidence matches when a check fails.
struct CompositionCheck {
    let stack: PrefixStack
    let reference: ActivationExchange
    let tolerances: Tolerances
    let useDouble: Bool
    /// Layers this run checks (sharding), and how many at once.
    let layers: [Int]
    let jobs: Int
    let endToEnd: Bool
    /// How independent the reference is; every composition check carries it.
    var evidence: EvidenceKind = .independentReference
    /// Other base weights the checkpoint's prefix fits (a store's other bases, labelled
    /// `base:FP`): tried end to end when the reference is not reproduced, to name the base it
    /// was computed with.
    var alternativeBases: @Sendable () -> [(label: String, stack: PrefixStack)] = { [] }
    /// Other steps of the checkpoint's name on its own base (at most 64, nearest first, labelled
    /// `NAME@STEP`): tried end to end before other bases, to name the step the reference was
    /// computed with (a CI job verifying step N against the reference of step M).
    var alternativeSteps: @Sendable () -> [(label: String, stack: PrefixStack)] = { [] }
    /// Told after each layer's check: the layers done and the layers to check.
    var layerDone: (@Sendable (Int, Int) -> Void)?

    struct Outcome {
        var checks: [CheckResult] = []
        var diagnosis: Diagnosis?
        var unexplained = false
        var perLayerSeconds = 0.0
        var endToEndSeconds = 0.0
        /// Layers checked per layer, layers of this run the reference does not cover, and
        /// whether the end-to-end check passed.
        var layersChecked: [Int] = []
        var layersUnchecked: [Int] = []
        var endToEndPassed = false
        /// An encoder-decoder's encoder layers checked and not covered (`nil`: one stack).
        var encoderLayersChecked: [Int]?
        var encoderLayersUnchecked: [Int]?
    }

    /// The reference's form: its `meta`, else what its first layer's row count says.
    var referenceForm: PrefixForm {
        if let form = reference.metaString("form") { return form == "kv" ? .kv : .hidden }
        let n = inputLength ?? 0
        return reference.layerInputs[0]?.shape[1] == n ? .kv : .hidden
    }

    var inputLength: Int? { reference.inputIDs?.shape[1] ?? reference.inputsEmbeds?.shape[1] }

    func run() -> Outcome {
        if stack.isEncoderDecoder { return runEncoderDecoder() }
        var outcome = Outcome()
        let config = stack.config
        let pn = stack.prefix.prefixLength
        guard let n = inputLength, let input = try? forwardInput() else {
            outcome.checks.append(
                CheckResult(
                    check: .reference, status: .fail,
                    message: "the reference has no usable inputs (input_ids or inputs_embeds of the right shape)", evidence: evidence))
            outcome.unexplained = true
            return outcome
        }
        if reference.layerCount > config.numLayers {
            outcome.checks.append(
                CheckResult(
                    check: .reference, status: .fail,
                    message: "the reference has \(reference.layerCount) layers, the checkpoint \(config.numLayers)", evidence: evidence))
            outcome.unexplained = true
            return outcome
        }
        let mask = input.mask
        let form = referenceForm
        // Per layer, in parallel when asked; each job holds one layer's weights.
        let layerClock = ContinuousClock.now
        let results = LayerResults(count: config.numLayers)
        let work = layers.filter { reference.layerInputs[$0] != nil && reference.layerOutputs[$0] != nil }
        let workers = max(1, min(jobs, work.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in stride(from: worker, to: work.count, by: workers) {
                let l = work[index]
                let clock = ContinuousClock.now
                var layer = checkLayer(l, n: n, pn: pn, mask: mask, form: form)
                // The layer's time, on its first check (the others come from the same computation).
                if !layer.checks.isEmpty { layer.checks[0].seconds = CompositionCheck.seconds(since: clock) }
                results.set(l, layer)
                layerDone?(results.count, work.count)
            }
        }
        var stopped = false
        for l in 0..<config.numLayers {
            guard let layer = results.get(l) else {
                if layers.contains(l), !stopped {
                    let missing = [
                        reference.layerInputs[l] == nil ? ActivationExchange.inputKey(l, layerCount: config.numLayers) : nil,
                        reference.layerOutputs[l] == nil ? ActivationExchange.outputKey(l, layerCount: config.numLayers) : nil,
                    ].compactMap { $0 }
                    outcome.checks.append(
                        CheckResult(
                            check: .teacherForced, layer: l, status: .skip,
                            message: "layer \(l): not checked: the reference has no \(missing.joined(separator: " or "))",
                            evidence: evidence))
                    outcome.layersUnchecked.append(l)
                }
                continue
            }
            outcome.checks += layer.checks
            if layer.checks.contains(where: { $0.check == .teacherForced && $0.status != .skip }) { outcome.layersChecked.append(l) }
            if layer.unexplained { outcome.unexplained = true }
            if outcome.diagnosis == nil, let failed = layer.checks.first(where: { $0.status == .fail }) {
                outcome.diagnosis = diagnose(layer.fits, layer: l, check: failed)
            }
            if layer.stop {
                stopped = true
                break
            }
        }
        outcome.perLayerSeconds = Self.seconds(since: layerClock)
        let endClock = ContinuousClock.now
        if endToEnd, !outcome.unexplained {
            let (checks, diagnosis) = checkEndToEnd(input, n: n)
            outcome.checks += checks
            outcome.endToEndPassed = checks.contains { $0.check == .endToEnd && $0.status == .pass }
            // A per-layer failure no known bug explains may still be explained by the inputs
            // themselves (other base weights, inputs at other positions).
            if outcome.diagnosis == nil || (outcome.diagnosis?.bug == .unknown && diagnosis.map { $0.bug != .unknown } == true) {
                outcome.diagnosis = diagnosis
            } else if var unexplained = outcome.diagnosis, unexplained.bug == .unknown, let diagnosis {
                // Neither explains it: the report still lists what the end-to-end search tried.
                unexplained.candidates = (unexplained.candidates + diagnosis.candidates).sorted { $0.relativeError < $1.relativeError }
                let steps = diagnosis.candidates.filter { $0.bug == .wrongStep }.count
                if steps > 0 { unexplained.summary += "; none of the \(steps) nearest other step(s) of the name reproduces the reference" }
                outcome.diagnosis = unexplained
            }
            outcome.endToEndSeconds = Self.seconds(since: endClock)
        }
        return outcome
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    /// The class a prefix-ignored fit is reported as: in a causal model appending the prefix
    /// computes the same as ignoring it; in a bidirectional encoder appending it is correct.
    var ignoredBug: BugClass { stack.isBidirectional ? .prefixIgnored : .prefixAppendedOrIgnored }

    func forwardInput() throws -> ForwardInput {
        var input: ForwardInput
        if let ids = reference.inputIDs {
            input = try ForwardInput(ids: ids, mask: reference.attentionMask)
        } else {
            guard let embeds = reference.inputsEmbeds else { throw ComputeError(.invalidInput, "no inputs") }
            input = try ForwardInput(embeddings: embeds, mask: reference.attentionMask)
        }
        if let types = reference.tokenTypeIDs { try input.setTokenTypes(types) }
        return input
    }

    // MARK: - One layer

    /// Per-layer outcomes written by parallel jobs.
    final class LayerResults: @unchecked Sendable {
        // Safety: every access goes through `lock`.
        private var items: [LayerOutcome?]
        private let lock = NSLock()
        init(count: Int) { items = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ value: LayerOutcome) { lock.lock(); items[index] = value; lock.unlock() }
        func get(_ index: Int) -> LayerOutcome? { lock.lock(); defer { lock.unlock() }; return items[index] }
        /// How many layers have an outcome.
        var count: Int { lock.lock(); defer { lock.unlock() }; return items.lazy.filter { $0 != nil }.count }
    }

    struct LayerOutcome {
        var checks: [CheckResult] = []
        var fits: [CandidateFit] = []
        var stop = false
        var unexplained = false
    }

    /// Block `l` on `rows` with `prefix`, under `hypothesis` (by default the prefix as given,
    /// composed as prefix-tuning composes it), in the check's precision.
    func runLayer(
        _ l: Int, _ rows: Tensor, _ mask: [[Bool]], _ prefix: LayerPrefix?, _ hypothesis: StepHypothesis = .asGiven,
        context: LayerContext? = nil, prefixOutputs: Bool = false
    ) throws -> LayerRun {
        func run<T: ComputeScalar>(_ type: T.Type) throws -> LayerRun {
            let step = try hypothesis.step(prefix, layer: l, context: context, stack: stack, as: type)
            return try stack.runLayer(
                l, rows: rows, mask: mask, prefix: step.prefix, context: context, composition: step.composition,
                prefixOutputs: prefixOutputs, as: type)
        }
        return useDouble ? try run(Double.self) : try run(Float.self)
    }

    func checkLayer(_ l: Int, n: Int, pn: Int, mask: [[Bool]], form: PrefixForm) -> LayerOutcome {
        var result = LayerOutcome()
        guard let input = reference.layerInputs[l], let output = reference.layerOutputs[l] else { return result }
        let d = stack.config.hiddenSize, batch = mask.count
        let expectedIn = form == .hidden ? pn + n : n
        let (inRows, outRows) = (input.shape[1], output.shape[1])
        guard input.shape[0] == batch, output.shape[0] == batch, input.shape[2] == d, output.shape[2] == d else {
            result.checks.append(
                CheckResult(
                    check: .teacherForced, layer: l, status: .fail,
                    message:
                        "layer \(l): reference tensors are \(input.shape) in, \(output.shape) out; the checkpoint implies [\(batch), \(expectedIn), \(d)] and [\(batch), \(n), \(d)]",
                    evidence: evidence))
            result.unexplained = true
            result.stop = true
            return result
        }
        // Rows that grow by Pn per layer: the prefix rows were passed on.
        if outRows != n || (form == .hidden && inRows > expectedIn) {
            if form == .hidden, inRows >= expectedIn, (inRows - n) % pn == 0, outRows == inRows {
                result.checks.append(
                    CheckResult(
                        check: .teacherForced, layer: l, status: .fail,
                        message: "layer \(l): reference has \(outRows) rows, expected \(n): \(BugClass.keptPrefixPositions.explanation)",
                        rowsIn: inRows, expectedRowsIn: expectedIn, rowsOut: outRows, expectedRowsOut: n,
                        fix: BugClass.keptPrefixPositions.fix, evidence: evidence))
                result.fits = [CandidateFit(bug: .keptPrefixPositions, relativeError: 0)]
            } else {
                result.checks.append(
                    CheckResult(
                        check: .teacherForced, layer: l, status: .fail,
                        message:
                            "layer \(l): reference has \(inRows) rows in and \(outRows) out; expected \(expectedIn) and \(n), which no known bug explains",
                        rowsIn: inRows, expectedRowsIn: expectedIn, rowsOut: outRows, expectedRowsOut: n, evidence: evidence))
                result.unexplained = true
            }
            result.stop = true
            return result
        }
        let prefix: LayerPrefix
        do { prefix = try stack.prefix.layer(l) } catch {
            result.checks.append(
                CheckResult(
                    check: .teacherForced, layer: l, status: .fail, message: "layer \(l): cannot read the prefix: \(error)",
                    evidence: evidence))
            return result
        }
        let real = { (b: Int, r: Int) in mask[b][r] }
        var hbar = input
        var prefixRows: Tensor?
        if form == .hidden {
            if inRows == pn + n {
                prefixRows = ErrorMetric.rows(input, 0..<pn)
                hbar = ErrorMetric.rows(input, pn..<(pn + n))
            } else if inRows == n {
                result.checks.append(
                    CheckResult(
                        check: .prefixRows, layer: l, status: .fail,
                        message:
                            "layer \(l): reference has \(n) rows in, expected \(pn + n): \(ignoredBug.explanation)",
                        rowsIn: inRows, expectedRowsIn: pn + n, fix: ignoredBug.fix, evidence: evidence))
                result.fits.append(CandidateFit(bug: ignoredBug, relativeError: 0))
            } else {
                result.checks.append(
                    CheckResult(
                        check: .prefixRows, layer: l, status: .fail,
                        message: "layer \(l): reference has \(inRows) rows in, expected \(pn + n), which no known bug explains",
                        rowsIn: inRows, expectedRowsIn: pn + n, evidence: evidence))
                result.unexplained = true
                result.stop = true
                return result
            }
        }
        // (a) The reference's prefix rows against the checkpoint's P^l.
        var prefixRowsAppended = false
        if let prefixRows, case .hidden(let p) = prefix {
            let broadcast = ErrorMetric.broadcast(p, batch: batch)
            if let (abs, rel) = ErrorMetric.compare(prefixRows, broadcast, include: { _, _ in true }) {
                let pass = rel <= tolerances.perLayer
                var check = CheckResult(
                    check: .prefixRows, layer: l, status: pass ? .pass : .fail,
                    message: pass
                        ? "layer \(l): the reference's prefix rows are P^\(l)" : "layer \(l): the reference's prefix rows are not P^\(l)",
                    maxAbsError: abs, relativeError: rel, tolerance: tolerances.perLayer, rowsIn: inRows, expectedRowsIn: expectedIn,
                    evidence: evidence)
                if !pass {
                    var alternatives = prefixAlternatives(l, rows: prefixRows, mask: mask, n: n, pn: pn)
                    // Appended: the prefix sits in the last Pn rows, after the inputs.
                    let appended = ErrorMetric.compare(ErrorMetric.rows(input, n..<(n + pn)), broadcast, include: { _, _ in true })
                    if let e = appended, stack.isBidirectional, e.relative <= tolerances.perLayer {
                        // An encoder adds positions once, before the first block, and attends in
                        // both directions: appending the prefix is the same composition as
                        // prepending it, so the kept rows are the first N and nothing is wrong.
                        check.status = .pass
                        (check.maxAbsError, check.relativeError) = (e.maxAbs, e.relative)
                        check.message =
                            "layer \(l): the reference appends P^\(l) after the inputs, which in a bidirectional encoder is the same composition as prepending it"
                        hbar = ErrorMetric.rows(input, 0..<n)
                        result.checks.append(check)
                        prefixRowsAppended = true
                    } else if let e = appended {
                        alternatives.append(CandidateFit(bug: .prefixAppendedOrIgnored, relativeError: e.relative))
                    }
                    if !prefixRowsAppended {
                        result.fits += alternatives
                        if let best = alternatives.min(by: { $0.relativeError < $1.relativeError }),
                            best.relativeError <= tolerances.perLayer * 10
                        {
                            check.message += ": \(best.bug.explanation)"
                            check.fix = best.bug.fix
                        }
                    }
                }
                if !prefixRowsAppended { result.checks.append(check) }
            }
        }
        // (b) Teacher-forced: the checkpoint's own P^l on the reference's input rows.
        do {
            let ours = try runLayer(l, hbar, mask, prefix).output
            guard let (abs, rel) = ErrorMetric.compare(ours, output, include: real) else { return result }
            let pass = rel <= tolerances.perLayer
            var check = CheckResult(
                check: .teacherForced, layer: l, status: pass ? .pass : .fail,
                message: "layer \(l): \(inRows) rows in -> \(form == .hidden ? "\(inRows) out -> kept last \(n)" : "\(n) out")",
                maxAbsError: abs, relativeError: rel, tolerance: tolerances.perLayer,
                rowsIn: inRows, expectedRowsIn: expectedIn, rowsOut: outRows, expectedRowsOut: n, evidence: evidence)
            if !pass {
                let alternatives = blockAlternatives(l, hbar: hbar, output: output, mask: mask, prefix: prefix, n: n, pn: pn)
                result.fits += alternatives
                if let best = alternatives.min(by: { $0.relativeError < $1.relativeError }), best.relativeError <= tolerances.perLayer * 10
                {
                    check.message += ": \(best.bug.explanation)"
                    check.fix = best.bug.fix
                }
            }
            result.checks.append(check)
        } catch {
            result.checks.append(
                CheckResult(check: .teacherForced, layer: l, status: .fail, message: "layer \(l): \(error)", evidence: evidence))
        }
        return result
    }

    /// How well the reference's prefix rows match P^{l-1}, P^{l+1} and Y^{l-1}[0..<Pn].
    func prefixAlternatives(_ l: Int, rows: Tensor, mask: [[Bool]], n: Int, pn: Int) -> [CandidateFit] {
        var fits: [CandidateFit] = []
        let batch = mask.count
        func fit(_ bug: BugClass, _ prefix: LayerPrefix?) {
            guard case .hidden(let p)? = prefix,
                let e = ErrorMetric.compare(rows, ErrorMetric.broadcast(p, batch: batch), include: { _, _ in true })
            else { return }
            fits.append(CandidateFit(bug: bug, relativeError: e.relative))
        }
        if l > 0 { fit(.reusedPreviousPrefix, try? stack.prefix.layer(l - 1)) }
        if l + 1 < stack.config.numLayers { fit(.layerOffByOne, try? stack.prefix.layer(l + 1)) }
        if l > 0, let carried = carriedPrefix(l, mask: mask, n: n, pn: pn),
            let e = ErrorMetric.compare(rows, carried, include: { _, _ in true })
        {
            fits.append(CandidateFit(bug: .prefixOutputsCarried, relativeError: e.relative))
        }
        return fits
    }

    /// `Y^{l-1}[0..<Pn]` computed from the reference's own input to layer l-1.
    func carriedPrefix(_ l: Int, mask: [[Bool]], n: Int, pn: Int) -> Tensor? {
        guard let previous = reference.layerInputs[l - 1], previous.shape[1] == pn + n,
            let prefix = try? stack.prefix.layer(l - 1), case .hidden = prefix
        else { return nil }
        let hbar = ErrorMetric.rows(previous, pn..<(pn + n))
        let own = ErrorMetric.rows(previous, 0..<pn)
        // The prefix rows fed to layer l-1 are whatever the reference fed (P^0 at layer 0, carried later).
        let fed = LayerPrefix.hidden(
            Tensor(shape: [pn, stack.config.hiddenSize], doubles: Array(own.doubles().prefix(pn * stack.config.hiddenSize))))
        return (try? runLayer(l - 1, hbar, mask, fed, prefixOutputs: true))?.prefixOutputs
    }

    /// How well each wrong composition of block l reproduces the reference's output.
    func blockAlternatives(_ l: Int, hbar: Tensor, output: Tensor, mask: [[Bool]], prefix: LayerPrefix, n: Int, pn: Int) -> [CandidateFit] {
        var fits: [CandidateFit] = []
        let real = { (b: Int, r: Int) in mask[b][r] }
        func fit(_ bug: BugClass, _ prefix: LayerPrefix?, _ hypothesis: StepHypothesis) {
            guard let prefix, let run = try? runLayer(l, hbar, mask, prefix, hypothesis),
                let e = ErrorMetric.compare(run.output, output, include: real)
            else { return }
            if let existing = fits.firstIndex(where: { $0.bug == bug }) {
                fits[existing].relativeError = min(fits[existing].relativeError, e.relative)
            } else {
                fits.append(CandidateFit(bug: bug, relativeError: e.relative))
            }
        }
        if case .hidden = prefix { fit(.keptFirstN, prefix, .keptFirstN) }
        fit(ignoredBug, prefix, .prefixIgnored)
        if !stack.isBidirectional { fit(.prefixAppendedOrIgnored, prefix, .prefixIgnoredAtZero) }
        if l > 0 { fit(.reusedPreviousPrefix, try? stack.prefix.layer(l - 1), .asGiven) }
        if l + 1 < stack.config.numLayers { fit(.layerOffByOne, try? stack.prefix.layer(l + 1), .asGiven) }
        if l > 0, let carried = carriedPrefix(l, mask: mask, n: n, pn: pn) {
            let first = Tensor(
                shape: [pn, stack.config.hiddenSize], doubles: Array(carried.doubles().prefix(pn * stack.config.hiddenSize)))
            fit(.prefixOutputsCarried, .hidden(first), .asGiven)
        }
        fit(.keyValueSwapped, prefix, .keyValueSwapped)
        if !stack.isBidirectional { fit(.causalMaskNotOffset, prefix, .causalTopLeft) }
        if stack.rotatesKeys {
            fit(.unrotatedKeys, prefix, .unrotatedKeys)
            fit(.inputsAtWrongPosition, prefix, .inputsAtZero)
        }
        return fits
    }

    // MARK: - Naming the bug

    func diagnose(_ fits: [CandidateFit], layer: Int?, check: CheckResult) -> Diagnosis {
        let sorted = fits.sorted { $0.relativeError < $1.relativeError }
        let where_ = layer.map { "layer \($0): " } ?? ""
        if let best = sorted.first, best.relativeError <= max(tolerances.perLayer * 10, tolerances.endToEnd) {
            let finding: String
            if best.bug == .keptPrefixPositions
                || ((best.bug == .prefixAppendedOrIgnored || best.bug == .prefixIgnored) && best.relativeError == 0 && check.rowsIn != nil
                    && check.rowsIn != check.expectedRowsIn)
            {
                finding = check.message.hasPrefix(where_) ? String(check.message.dropFirst(where_.count)) : check.message
            } else {
                finding =
                    "\(best.bug.explanation) (it reproduces the reference to \(String(format: "%.1e", best.relativeError)); the checkpoint's composition is off by \(String(format: "%.1e", check.relativeError ?? .nan)))"
            }
            return Diagnosis(
                bug: best.bug, layer: layer, summary: where_ + finding, relativeError: best.relativeError, fix: best.bug.fix,
                candidates: sorted)
        }
        return Diagnosis(
            bug: .unknown, layer: layer,
            summary: where_ + "\(BugClass.unknown.explanation) (relative error \(String(format: "%.1e", check.relativeError ?? .nan)))",
            relativeError: check.relativeError, fix: BugClass.unknown.fix, candidates: sorted)
    }
}
