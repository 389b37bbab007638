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
    var alternativeBases: @Sendable () throws -> [(label: String, stack: PrefixStack)] = { [] }
    /// Other steps of the checkpoint's name on its own base (at most 64, nearest first, labelled
    /// `NAME@STEP`): tried end to end before other bases, to name the step the reference was
    /// computed with (a CI job verifying step N against the reference of step M).
    var alternativeSteps: @Sendable () throws -> [(label: String, stack: PrefixStack)] = { [] }
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

    /// The checks of the checkpoint's composition against the reference: every stack's blocks,
    /// then the model end to end.
    func run() -> Outcome {
        var outcome = Outcome()
        func refuse(_ message: String) -> Outcome {
            outcome.checks.append(CheckResult(check: .reference, status: .fail, message: message, evidence: evidence))
            outcome.unexplained = true
            return outcome
        }
        var input: ForwardInput
        do { input = try forwardInput() } catch {
            return refuse("the reference has no usable inputs (input_ids or inputs_embeds of the right shape): \(error)")
        }
        guard let n = inputLength else {
            return refuse("the reference has no usable inputs (input_ids or inputs_embeds of the right shape)")
        }
        let stacks: [CheckedStack]
        switch checkedStacks(&input) {
        case .success(let found): stacks = found
        case .failure(let refusal): return refuse(refusal.message)
        }
        // Every block of every stack, in order; those the reference covers are checked `jobs` at a
        // time (each job holds one block's weights), then reported in order.
        let layerClock = ContinuousClock.now
        let blocks = stacks.flatMap { checked in layers.filter { $0 < checked.layerCount }.map { (stack: checked, layer: $0) } }
        let results = LayerResults(count: blocks.count)
        let work = blocks.indices.filter {
            blocks[$0].stack.input(blocks[$0].layer) != nil && blocks[$0].stack.output(blocks[$0].layer) != nil
        }
        let workers = max(1, min(jobs, work.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in stride(from: worker, to: work.count, by: workers) {
                let block = blocks[work[index]]
                let clock = ContinuousClock.now
                var layer = checkLayer(block.layer, in: block.stack)
                // The layer's time, on its first check (the others come from the same computation).
                if !layer.checks.isEmpty { layer.checks[0].seconds = CompositionCheck.seconds(since: clock) }
                results.set(work[index], layer)
                layerDone?(results.count, work.count)
            }
        }
        var checked: [PrefixSection?: [Int]] = [:], unchecked: [PrefixSection?: [Int]] = [:]
        for (index, block) in blocks.enumerated() {
            let (checkedStack, l) = (block.stack, block.layer)
            guard let layer = results.get(index) else {
                outcome.checks.append(
                    CheckResult(
                        check: .teacherForced, layer: l, section: checkedStack.section, status: .skip,
                        message:
                            "\(checkedStack.label(l)): not checked: the reference has no \(checkedStack.missingKeys(l).joined(separator: " or "))",
                        evidence: evidence))
                unchecked[checkedStack.section, default: []].append(l)
                continue
            }
            outcome.checks += layer.checks
            if layer.checks.contains(where: { $0.check == .teacherForced && $0.status != .skip }) {
                checked[checkedStack.section, default: []].append(l)
            }
            if layer.unexplained { outcome.unexplained = true }
            if outcome.diagnosis == nil, let failed = layer.checks.first(where: { $0.status == .fail }) {
                var diagnosis = diagnose(layer.fits, layer: l, check: failed)
                if let section = checkedStack.section {
                    diagnosis.section = section
                    diagnosis.summary = "\(section) " + diagnosis.summary
                }
                outcome.diagnosis = diagnosis
            }
            if layer.stop { break }
        }
        let decoderSection: PrefixSection? = stack.isEncoderDecoder ? .decoder : nil
        outcome.layersChecked = checked[decoderSection] ?? []
        outcome.layersUnchecked = unchecked[decoderSection] ?? []
        if stack.isEncoderDecoder {
            outcome.encoderLayersChecked = checked[.encoder] ?? []
            outcome.encoderLayersUnchecked = unchecked[.encoder] ?? []
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

    /// Block `l` of `checked`, teacher-forced on the reference's rows: the rows' count and the
    /// prefix rows first, then the block's output; a failure is matched against every hypothesis
    /// that applies to the block.
    func checkLayer(_ l: Int, in checked: CheckedStack) -> LayerOutcome {
        var result = LayerOutcome()
        let n = checked.rows
        guard let input = checked.input(l), let output = checked.output(l) else { return result }
        let label = checked.label(l), section = checked.section
        func fail(_ check: CheckKind, _ message: String) {
            result.checks.append(
                CheckResult(check: check, layer: l, section: section, status: .fail, message: "\(label): \(message)", evidence: evidence))
        }
        let prefix: LayerPrefix?
        do { prefix = try checked.prefix(l) } catch {
            fail(.teacherForced, "cannot read the prefix: \(error)")
            return result
        }
        let d = stack.config.hiddenSize, mask = checked.mask, batch = mask.count
        let form = checked.referenceForm ?? prefix?.form ?? .kv
        let pn = prefix == nil ? 0 : stack.prefix.prefixLength
        let expectedIn = form == .hidden ? pn + n : n
        guard input.shape.rank == 3, output.shape.rank == 3, input.shape[0] == batch, output.shape[0] == batch,
            input.shape[2] == d, output.shape[2] == d
        else {
            fail(
                .teacherForced,
                "reference tensors are \(input.shape) in, \(output.shape) out; the checkpoint implies [\(batch), \(expectedIn), \(d)] and [\(batch), \(n), \(d)]"
            )
            result.unexplained = true
            result.stop = true
            return result
        }
        let (inRows, outRows) = (input.shape[1], output.shape[1])
        // Rows that grow by Pn per layer: the prefix rows were passed on.
        if outRows != n || (form == .hidden && inRows > expectedIn) || (form == .kv && inRows != n) {
            if form == .hidden, pn > 0, inRows >= expectedIn, (inRows - n) % pn == 0, outRows == inRows {
                result.checks.append(
                    CheckResult(
                        check: .teacherForced, layer: l, section: section, status: .fail,
                        message: "\(label): reference has \(outRows) rows, expected \(n): \(BugClass.keptPrefixPositions.explanation)",
                        rowsIn: inRows, expectedRowsIn: expectedIn, rowsOut: outRows, expectedRowsOut: n,
                        fix: BugClass.keptPrefixPositions.fix, evidence: evidence))
                result.fits = [CandidateFit(bug: .keptPrefixPositions, relativeError: 0)]
            } else {
                result.checks.append(
                    CheckResult(
                        check: .teacherForced, layer: l, section: section, status: .fail,
                        message:
                            "\(label): reference has \(inRows) rows in and \(outRows) out; expected \(expectedIn) and \(n), which no known bug explains",
                        rowsIn: inRows, expectedRowsIn: expectedIn, rowsOut: outRows, expectedRowsOut: n, evidence: evidence))
                result.unexplained = true
            }
            result.stop = true
            return result
        }
        let context: LayerContext?
        switch checked.context(l) {
        case .success(let found): context = found
        case .failure(let unavailable):
            result.checks.append(
                CheckResult(
                    check: .teacherForced, layer: l, section: section, status: .skip, message: "\(label): \(unavailable.message)",
                    evidence: evidence))
            return result
        }
        let situation = LayerSituation(
            layer: l, stack: checked, prefix: prefix, context: context, rotatesKeys: stack.rotatesKeys, layout: stack.prefix.layout)
        var hbar = input
        if form == .hidden, pn > 0 {
            if inRows == pn + n {
                hbar = ErrorMetric.rows(input, pn..<(pn + n))
                if case .hidden(let p)? = prefix,
                    let check = checkPrefixRows(situation, p, input: input, n: n, expectedIn: expectedIn, hbar: &hbar, fits: &result.fits)
                {
                    result.checks.append(check)
                }
            } else if inRows == n {
                let bug = checked.ignoredBug
                result.checks.append(
                    CheckResult(
                        check: .prefixRows, layer: l, section: section, status: .fail,
                        message: "\(label): reference has \(n) rows in, expected \(pn + n): \(bug.explanation)",
                        rowsIn: inRows, expectedRowsIn: pn + n, fix: bug.fix, evidence: evidence))
                result.fits.append(CandidateFit(bug: bug, relativeError: 0))
            } else {
                result.checks.append(
                    CheckResult(
                        check: .prefixRows, layer: l, section: section, status: .fail,
                        message: "\(label): reference has \(inRows) rows in, expected \(pn + n), which no known bug explains",
                        rowsIn: inRows, expectedRowsIn: pn + n, evidence: evidence))
                result.unexplained = true
                result.stop = true
                return result
            }
        }
        // The checkpoint's own prefix on the reference's input rows.
        let real = { (b: Int, r: Int) in mask[b][r] }
        do {
            let ours = try runLayer(l, hbar, mask, prefix, context: context).output
            guard let (abs, rel) = ErrorMetric.compare(ours, output, include: real) else { return result }
            let pass = rel <= tolerances.perLayer
            var check = CheckResult(
                check: .teacherForced, layer: l, section: section, status: pass ? .pass : .fail,
                message: "\(label): \(checked.describe(l, prefix, context, inRows))",
                maxAbsError: abs, relativeError: rel, tolerance: tolerances.perLayer,
                rowsIn: inRows, expectedRowsIn: expectedIn, rowsOut: outRows, expectedRowsOut: n, evidence: evidence)
            if !pass {
                let alternatives = blockAlternatives(situation, hbar: hbar, output: output, n: n)
                result.fits += alternatives
                if let best = alternatives.min(by: { $0.relativeError < $1.relativeError }), best.relativeError <= tolerances.perLayer * 10
                {
                    check.message += ": \(best.bug.explanation)"
                    check.fix = best.bug.fix
                }
            }
            result.checks.append(check)
        } catch {
            fail(.teacherForced, "\(error)")
        }
        return result
    }

    /// The reference's prefix rows (the first `Pn` of block `l`'s input) against the checkpoint's
    /// `P^l`; when they differ, against what a wrong composition would have fed instead. A
    /// bidirectional stack that appends the prefix after the inputs passes, and `hbar` becomes
    /// the first `N` rows.
    func checkPrefixRows(
        _ situation: LayerSituation, _ p: Tensor, input: Tensor, n: Int, expectedIn: Int, hbar: inout Tensor, fits: inout [CandidateFit]
    ) -> CheckResult? {
        let l = situation.layer, checked = situation.stack, batch = checked.mask.count
        let pn = p.shape[0]
        let rows = ErrorMetric.rows(input, 0..<pn)
        let broadcast = ErrorMetric.broadcast(p, batch: batch)
        guard let (abs, rel) = ErrorMetric.compare(rows, broadcast, include: { _, _ in true }) else { return nil }
        let pass = rel <= tolerances.perLayer
        var check = CheckResult(
            check: .prefixRows, layer: l, section: checked.section, status: pass ? .pass : .fail,
            message: "\(checked.label(l)): the reference's prefix rows are\(pass ? "" : " not") P^\(l)",
            maxAbsError: abs, relativeError: rel, tolerance: tolerances.perLayer, rowsIn: input.shape[1], expectedRowsIn: expectedIn,
            evidence: evidence)
        guard !pass else { return check }
        // Appended: the prefix sits in the last Pn rows, after the inputs.
        let appended = ErrorMetric.compare(ErrorMetric.rows(input, n..<(n + pn)), broadcast, include: { _, _ in true })
        if let e = appended, checked.bidirectional, e.relative <= tolerances.perLayer {
            // A bidirectional stack adds positions once, before the first block, and attends in
            // both directions: appending the prefix is the same composition as prepending it, so
            // the kept rows are the first N and nothing is wrong.
            check.status = .pass
            (check.maxAbsError, check.relativeError) = (e.maxAbs, e.relative)
            check.message =
                "\(checked.label(l)): the reference appends P^\(l) after the inputs, which in a bidirectional encoder is the same composition as prepending it"
            hbar = ErrorMetric.rows(input, 0..<n)
            return check
        }
        var alternatives: [CandidateFit] = PrefixRowsHypothesis.all.compactMap { hypothesis in
            guard hypothesis.applies(situation), let candidate = prefixRows(hypothesis.prefix, situation, n: n),
                let e = ErrorMetric.compare(rows, candidate, include: { _, _ in true })
            else { return nil }
            return CandidateFit(bug: hypothesis.bug, relativeError: e.relative)
        }
        if let e = appended { alternatives.append(CandidateFit(bug: .prefixAppendedOrIgnored, relativeError: e.relative)) }
        fits += alternatives
        if let best = alternatives.min(by: { $0.relativeError < $1.relativeError }), best.relativeError <= tolerances.perLayer * 10 {
            check.message += ": \(best.bug.explanation)"
            check.fix = best.bug.fix
        }
        return check
    }

    /// The `[B, Pn, d]` rows a choice of prefix would have fed block `situation.layer`.
    func prefixRows(_ choice: PrefixChoice, _ situation: LayerSituation, n: Int) -> Tensor? {
        if case .carried = choice { return carriedPrefix(situation.layer, in: situation.stack, n: n) }
        guard case .hidden(let p)?? = prefix(choice, situation, n: n) else { return nil }
        return ErrorMetric.broadcast(p, batch: situation.stack.mask.count)
    }

    /// The prefix a choice feeds block `situation.layer` (`.some(nil)`: none), or `nil` when
    /// the choice cannot be formed for the block.
    func prefix(_ choice: PrefixChoice, _ situation: LayerSituation, n: Int) -> LayerPrefix?? {
        let l = situation.layer, checked = situation.stack
        switch choice {
        case .own: return .some(situation.prefix)
        case .none: return .some(nil)
        case .neighbour(let offset):
            let other = l + offset
            guard other >= 0, other < checked.layerCount, let found = try? checked.prefix(other) else { return nil }
            return .some(found)
        case .carried:
            guard let carried = carriedPrefix(l, in: checked, n: n) else { return nil }
            let (pn, d) = (carried.shape[1], stack.config.hiddenSize)
            return .some(.hidden(Tensor(shape: [pn, d], doubles: Array(carried.doubles().prefix(pn * d)))))
        case .otherLayout:
            let layout = situation.layout
            let other: PrefixLayout = layout == .peftSeq2Seq ? .direct : .peftSeq2Seq
            let index = other.storedLayer(forBlock: l, stored: storedCount)
            guard index != layout.storedLayer(forBlock: l, stored: storedCount), index < storedCount,
                let found = try? stack.prefix.layer(index)
            else { return nil }
            return .some(found)
        }
    }

    /// `Y^{l-1}[0..<Pn]`, `[B, Pn, d]`, computed from the reference's own input to block `l-1`
    /// of the same stack (whatever prefix rows the reference fed it).
    func carriedPrefix(_ l: Int, in checked: CheckedStack, n: Int) -> Tensor? {
        let pn = stack.prefix.prefixLength
        guard l > 0, let previous = checked.input(l - 1), previous.shape.rank == 3, previous.shape[1] == pn + n,
            case .hidden? = try? checked.prefix(l - 1), case .success(let context) = checked.context(l - 1)
        else { return nil }
        let hbar = ErrorMetric.rows(previous, pn..<(pn + n))
        let own = ErrorMetric.rows(previous, 0..<pn)
        let fed = LayerPrefix.hidden(
            Tensor(shape: [pn, stack.config.hiddenSize], doubles: Array(own.doubles().prefix(pn * stack.config.hiddenSize))))
        return (try? runLayer(l - 1, hbar, checked.mask, fed, context: context, prefixOutputs: true))?.prefixOutputs
    }

    /// How well each hypothesis that applies to the block reproduces the reference's output (the
    /// best fit per bug).
    func blockAlternatives(_ situation: LayerSituation, hbar: Tensor, output: Tensor, n: Int) -> [CandidateFit] {
        var fits: [CandidateFit] = []
        let mask = situation.stack.mask
        let real = { (b: Int, r: Int) in mask[b][r] }
        for hypothesis in LayerHypothesis.all where hypothesis.applies(situation) {
            guard let prefix = prefix(hypothesis.prefix, situation, n: n) else { continue }
            var context = situation.context
            if hypothesis.dropsCrossPrefix { context?.crossPrefix = nil }
            guard let run = try? runLayer(situation.layer, hbar, mask, prefix, hypothesis.step, context: context),
                let e = ErrorMetric.compare(run.output, output, include: real)
            else { continue }
            if let existing = fits.firstIndex(where: { $0.bug == hypothesis.bug }) {
                fits[existing].relativeError = min(fits[existing].relativeError, e.relative)
            } else {
                fits.append(CandidateFit(bug: hypothesis.bug, relativeError: e.relative))
            }
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
