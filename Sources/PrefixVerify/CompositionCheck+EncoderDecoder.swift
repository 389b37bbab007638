import Foundation
import PrefixCompute
import PrefixCore
import PrefixFormats

extension CompositionCheck {
    // Encoder-decoders: the encoder's blocks on the reference's encoder rows, the decoder's on its
    // decoder rows with cross-attention over the reference's encoder output (so a decoder block is
    // checked on exactly what it read), then both stacks end to end. A failure is matched against
    // the other semantics: PEFT's (no encoder prefix, no cross-attention prefix, block i from
    // stored layer 2i mod L) for a checkpoint stored with the paper's, and the reverse.

    /// The checks of an encoder-decoder's composition against the reference.
    func runEncoderDecoder() -> Outcome {
        var outcome = Outcome()
        let config = stack.config
        func refuse(_ message: String) -> Outcome {
            outcome.checks.append(CheckResult(check: .reference, status: .fail, message: message, evidence: evidence))
            outcome.unexplained = true
            return outcome
        }
        guard let n = inputLength, var input = try? forwardInput() else {
            return refuse("the reference has no usable inputs (input_ids or inputs_embeds of the right shape)")
        }
        guard let decoderIDs = reference.decoderInputIDs, decoderIDs.shape.rank == 2, decoderIDs.shape[0] == input.batch,
            (try? input.setDecoderIDs(decoderIDs)) != nil
        else {
            return refuse(
                "the reference has no decoder_input_ids [\(input.batch), T]: an encoder-decoder's decoder runs on its own ids, which the reference must name"
            )
        }
        if reference.encoderLayerCount > stack.encoderLayers || reference.layerCount > config.numLayers {
            return refuse(
                "the reference has \(reference.encoderLayerCount) encoder and \(reference.layerCount) decoder layers, the model \(stack.encoderLayers) and \(config.numLayers)"
            )
        }
        let t = decoderIDs.shape[1]
        let encoderMask = input.mask
        let decoderMask = Array(repeating: Array(repeating: true, count: t), count: input.batch)
        let layerClock = ContinuousClock.now
        var encoderChecked: [Int] = [], encoderUnchecked: [Int] = []
        var first: (diagnosis: Diagnosis, section: PrefixSection)?
        // Every block of both stacks, in order; those the reference covers are checked `jobs` at
        // a time (each job holds one block's weights), then reported in order.
        let blocks = [(PrefixSection.encoder, stack.encoderLayers), (.decoder, config.numLayers)].flatMap { section, count in
            layers.filter { $0 < count }.map { l in
                (
                    section: section, layer: l, count: count,
                    rows: section == .encoder ? reference.encoderLayerInputs[l] : reference.layerInputs[l],
                    expected: section == .encoder ? reference.encoderLayerOutputs[l] : reference.layerOutputs[l]
                )
            }
        }
        let results = LayerResults(count: blocks.count)
        let work = blocks.indices.filter { blocks[$0].rows != nil && blocks[$0].expected != nil }
        let workers = max(1, min(jobs, work.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in stride(from: worker, to: work.count, by: workers) {
                let block = blocks[work[index]]
                guard let rows = block.rows, let expected = block.expected else { continue }
                results.set(
                    work[index],
                    checkSectionLayer(
                        block.layer, section: block.section, rows: rows, expected: expected,
                        mask: block.section == .encoder ? encoderMask : decoderMask))
            }
        }
        for (index, block) in blocks.enumerated() {
            let (section, l, count) = (block.section, block.layer, block.count)
            guard let layer = results.get(index) else {
                let label = layerLabel(l, layerCount: count)
                outcome.checks.append(
                    CheckResult(
                        check: .teacherForced, layer: l, section: section, status: .skip,
                        message: "\(section) layer \(l): not checked: the reference has no \(section).\(label).input/.output",
                        evidence: evidence))
                if section == .encoder { encoderUnchecked.append(l) } else { outcome.layersUnchecked.append(l) }
                continue
            }
            outcome.checks += layer.checks
            if layer.checks.contains(where: { $0.check == .teacherForced && $0.status != .skip }) {
                if section == .encoder { encoderChecked.append(l) } else { outcome.layersChecked.append(l) }
            }
            if layer.unexplained { outcome.unexplained = true }
            if first == nil, let failed = layer.checks.first(where: { $0.status == .fail }) {
                var diagnosis = diagnose(layer.fits, layer: l, check: failed)
                diagnosis.section = section
                diagnosis.summary = "\(section) " + diagnosis.summary
                first = (diagnosis, section)
            }
        }
        outcome.diagnosis = first?.diagnosis
        outcome.perLayerSeconds = Self.seconds(since: layerClock)
        outcome.encoderLayersChecked = encoderChecked
        outcome.encoderLayersUnchecked = encoderUnchecked
        if endToEnd, !outcome.unexplained {
            let clock = ContinuousClock.now
            let (checks, diagnosis) = checkEncoderDecoderEndToEnd(input, n: n, t: t)
            outcome.checks += checks
            outcome.endToEndPassed = checks.contains { $0.check == .endToEnd && $0.status == .pass }
            if outcome.diagnosis == nil || (outcome.diagnosis?.bug == .unknown && diagnosis.map { $0.bug != .unknown } == true) {
                outcome.diagnosis = diagnosis
            }
            outcome.endToEndSeconds = Self.seconds(since: clock)
        }
        return outcome
    }

    /// The prefix stored layer `layer` holds of the decoder section, read as the checkpoint
    /// stores it.
    private func storedLayer(_ index: Int) -> LayerPrefix? { try? stack.prefix.layer(index) }

    /// The stored layers: `L` of PEFT's layout, else the decoder's blocks.
    private var storedCount: Int { stack.prefix.storedLayers ?? stack.config.numLayers }

    /// One block of one stack, teacher-forced on the reference's rows.
    func checkSectionLayer(_ l: Int, section: PrefixSection, rows: Tensor, expected: Tensor, mask: [[Bool]]) -> LayerOutcome {
        var result = LayerOutcome()
        let d = stack.config.hiddenSize, batch = mask.count, n = mask.first?.count ?? 0
        let isEncoder = section == .encoder
        let prefix: LayerPrefix?
        do {
            if isEncoder {
                prefix = try stack.prefix.encoderLayer.map { load in try load(l) }
            } else {
                prefix = try stack.prefix.layer(stack.prefix.layout.storedLayer(forBlock: l, stored: storedCount))
            }
        } catch {
            result.checks.append(
                CheckResult(
                    check: .teacherForced, layer: l, section: section, status: .fail,
                    message: "\(section) layer \(l): cannot read the prefix: \(error)", evidence: evidence))
            return result
        }
        let pn = prefix?.form == .hidden ? prefix?.prefixLength ?? 0 : 0
        guard rows.shape.rank == 3, expected.shape.rank == 3, rows.shape[0] == batch, expected.shape[0] == batch, rows.shape[2] == d,
            expected.shape[2] == d, rows.shape[1] == pn + n, expected.shape[1] == n
        else {
            result.checks.append(
                CheckResult(
                    check: .teacherForced, layer: l, section: section, status: .fail,
                    message:
                        "\(section) layer \(l): reference tensors are \(rows.shape) in, \(expected.shape) out; the checkpoint implies [\(batch), \(pn + n), \(d)] and [\(batch), \(n), \(d)]",
                    rowsIn: rows.shape.rank == 3 ? rows.shape[1] : nil, expectedRowsIn: pn + n,
                    rowsOut: expected.shape.rank == 3 ? expected.shape[1] : nil, expectedRowsOut: n, evidence: evidence))
            result.unexplained = true
            return result
        }
        var hbar = rows
        if pn > 0, case .hidden(let p)? = prefix {
            // The reference's prefix rows against the checkpoint's own.
            let given = ErrorMetric.rows(rows, 0..<pn)
            hbar = ErrorMetric.rows(rows, pn..<(pn + n))
            if let (abs, rel) = ErrorMetric.compare(given, ErrorMetric.broadcast(p, batch: batch), include: { _, _ in true }) {
                let pass = rel <= tolerances.perLayer
                result.checks.append(
                    CheckResult(
                        check: .prefixRows, layer: l, section: section, status: pass ? .pass : .fail,
                        message: "\(section) layer \(l): the reference's prefix rows are\(pass ? "" : " not") P^\(l)", maxAbsError: abs,
                        relativeError: rel, tolerance: tolerances.perLayer, rowsIn: pn + n, expectedRowsIn: pn + n, evidence: evidence))
            }
        }
        let context: LayerContext
        if isEncoder {
            context = .encoder
        } else {
            guard let encoded = reference.encoderFinal else {
                result.checks.append(
                    CheckResult(
                        check: .teacherForced, layer: l, section: section, status: .skip,
                        message: "decoder layer \(l): not checked: the reference has no encoder.final for its cross-attention",
                        evidence: evidence))
                return result
            }
            context = .decoder(
                encoderStates: encoded, encoderMask: encoderMaskFromReference(batch: batch),
                crossPrefix: try? stack.prefix.crossLayer.map { load in try load(l) })
        }
        let real = { (b: Int, r: Int) in mask[b][r] }
        func run(_ prefix: LayerPrefix?, _ context: LayerContext, _ hypothesis: StepHypothesis = .asGiven) throws -> Tensor {
            try runLayer(l, hbar, mask, prefix, hypothesis, context: context).output
        }
        do {
            let ours = try run(prefix, context)
            guard let (abs, rel) = ErrorMetric.compare(ours, expected, include: real) else { return result }
            let pass = rel <= tolerances.perLayer
            var check = CheckResult(
                check: .teacherForced, layer: l, section: section, status: pass ? .pass : .fail,
                message: "\(section) layer \(l): \(describe(l, isEncoder: isEncoder, prefix: prefix, context: context))",
                maxAbsError: abs, relativeError: rel, tolerance: tolerances.perLayer, rowsIn: pn + n, expectedRowsIn: pn + n, rowsOut: n,
                expectedRowsOut: n, evidence: evidence)
            if !pass {
                var fits: [CandidateFit] = []
                func fit(_ bug: BugClass, _ prefix: LayerPrefix?, _ context: LayerContext, _ hypothesis: StepHypothesis = .asGiven) {
                    guard let output = try? run(prefix, context, hypothesis), let e = ErrorMetric.compare(output, expected, include: real)
                    else {
                        return
                    }
                    fits.append(CandidateFit(bug: bug, relativeError: e.relative))
                }
                if prefix != nil {
                    fit(isEncoder ? .encoderPrefixMissing : .prefixAppendedOrIgnored, nil, context)
                    fit(.keyValueSwapped, prefix, context, .keyValueSwapped)
                    if !isEncoder { fit(.causalMaskNotOffset, prefix, context, .causalTopLeft) }
                }
                if !isEncoder {
                    let stored = storedCount, layout = stack.prefix.layout
                    let other: (PrefixLayout, BugClass) =
                        layout == .peftSeq2Seq ? (.direct, .directLayerMapping) : (.peftSeq2Seq, .peftLayerMapping)
                    let otherIndex = other.0.storedLayer(forBlock: l, stored: stored)
                    if otherIndex != layout.storedLayer(forBlock: l, stored: stored), otherIndex < stored {
                        fit(other.1, storedLayer(otherIndex), context)
                    }
                    if context.crossPrefix != nil {
                        var dropped = context
                        dropped.crossPrefix = nil
                        fit(.crossPrefixDropped, prefix, dropped)
                    }
                }
                result.fits = fits
                if let best = fits.min(by: { $0.relativeError < $1.relativeError }), best.relativeError <= tolerances.perLayer * 10 {
                    check.message += ": \(best.bug.explanation)"
                    check.fix = best.bug.fix
                }
            }
            result.checks.append(check)
        } catch {
            result.checks.append(
                CheckResult(
                    check: .teacherForced, layer: l, section: section, status: .fail, message: "\(section) layer \(l): \(error)",
                    evidence: evidence))
        }
        return result
    }

    /// What a block's check composed: its prefix (and where the decoder's came from) and, for a
    /// decoder block, what its cross-attention read.
    private func describe(_ l: Int, isEncoder: Bool, prefix: LayerPrefix?, context: LayerContext) -> String {
        let pn = stack.prefix.prefixLength
        if isEncoder {
            return prefix == nil ? "no prefix (the encoder is unprefixed)" : "Pn = \(pn) prefix keys/values of the encoder section"
        }
        let stored = stack.prefix.layout.storedLayer(forBlock: l, stored: storedCount)
        let source = stack.prefix.layout == .peftSeq2Seq ? "stored layer \(stored) (PEFT: 2i mod \(storedCount))" : "its own layer"
        let cross = context.crossPrefix == nil ? "encoder output" : "Pn cross prefix + encoder output"
        return "self-attention prefix from \(source), cross-attention over the reference's \(cross)"
    }

    /// The encoder's mask from the reference (all real when it has none).
    private func encoderMaskFromReference(batch: Int) -> [[Bool]] {
        (try? forwardInput().mask) ?? Array(repeating: Array(repeating: true, count: inputLength ?? 0), count: batch)
    }

    /// Inputs -> encoder output, decoder final and logits; when they differ, the other
    /// semantics run end to end as explanations.
    func checkEncoderDecoderEndToEnd(_ input: ForwardInput, n: Int, t: Int) -> ([CheckResult], Diagnosis?) {
        var checks: [CheckResult] = []
        guard let final = reference.final else {
            return ([CheckResult(check: .endToEnd, status: .skip, message: "the reference has no 'final'", evidence: evidence)], nil)
        }
        let d = stack.config.hiddenSize, batch = input.batch
        guard final.shape.dimensions == [batch, t, d] else {
            return (
                [
                    CheckResult(
                        check: .endToEnd, status: .fail,
                        message: "the reference's final is \(final.shape), expected the decoder's [\(batch), \(t), \(d)]",
                        evidence: evidence)
                ], nil
            )
        }
        let mask = input.mask
        let real = { (b: Int, r: Int) in mask[b][r] }
        let all = { (_: Int, _: Int) in true }
        let wantLogits = reference.logits != nil && stack.computesLogits
        func forward(_ s: PrefixStack) throws -> ForwardResult {
            useDouble
                ? try s.forward(input, as: Double.self, options: ForwardOptions(logits: wantLogits))
                : try s.forward(input, as: Float.self, options: ForwardOptions(logits: wantLogits))
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
            let e = ErrorMetric.compare(ours.final, final, include: all)
            let pass = (e?.relative ?? .infinity) <= tolerances.endToEnd
            checks.append(
                CheckResult(
                    check: .endToEnd, section: .decoder, status: pass ? .pass : .fail,
                    message: "inputs and decoder ids -> decoder final over \(stack.config.numLayers) layers", maxAbsError: e?.maxAbs,
                    relativeError: e?.relative, tolerance: tolerances.endToEnd, rowsOut: t, expectedRowsOut: t, evidence: evidence))
            if let logits = reference.logits {
                if let ourLogits = ours.logits, let le = ErrorMetric.compare(ourLogits, logits, include: all) {
                    checks.append(
                        CheckResult(
                            check: .logits, status: le.relative <= tolerances.endToEnd ? .pass : .fail, message: "LM head output",
                            maxAbsError: le.maxAbs, relativeError: le.relative, tolerance: tolerances.endToEnd, evidence: evidence))
                } else {
                    checks.append(
                        CheckResult(
                            check: .logits, status: .fail,
                            message: ours.logits.map { "the reference's logits are \(logits.shape), this model gives \($0.shape)" }
                                ?? "the reference has logits but nothing here computes them", evidence: evidence))
                }
            }
            let failed = checks.first { $0.status == .fail }
            guard let failed else { return (checks, nil) }
            // The other semantics, end to end.
            var fits: [CandidateFit] = []
            func fit(_ bug: BugClass, _ change: (inout PrefixSource) -> Void) throws {
                var source = stack.prefix
                change(&source)
                let other = try PrefixStack(config: stack.config, weights: stack.weightSource, prefix: source)
                guard let e = ErrorMetric.compare(try forward(other).final, final, include: all) else { return }
                fits.append(CandidateFit(bug: bug, relativeError: e.relative))
            }
            if stack.prefix.encoderLayer != nil { try fit(.encoderPrefixMissing) { $0.encoderLayer = nil } }
            if stack.prefix.crossLayer != nil { try fit(.crossPrefixDropped) { $0.crossLayer = nil } }
            if stack.prefix.encoderLayer == nil, stack.prefix.crossLayer == nil {
                let layout = stack.prefix.layout
                try fit(layout == .peftSeq2Seq ? .directLayerMapping : .peftLayerMapping) {
                    $0.layout = layout == .peftSeq2Seq ? .direct : .peftSeq2Seq
                }
            }
            // Unless the other semantics explain it: another step of the name, or another base,
            // that reproduces the decoder's output.
            if !fits.contains(where: { $0.relativeError <= tolerances.endToEnd }),
                let found = try reproducingAlternative(
                    final: final, include: all, ownError: e?.relative, fits: &fits, forward: { try forward($0).final })
            {
                return (checks, found)
            }
            return (checks, diagnose(fits, layer: nil, check: failed))
        } catch {
            checks.append(CheckResult(check: .endToEnd, status: .fail, message: "\(error)", evidence: evidence))
            return (checks, nil)
        }
    }
}
