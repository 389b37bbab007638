import PrefixCore

/// One block over a batch of sequences: the step every composition is made of. The batched
/// forward, the teacher-forced check of one layer and the hidden -> key/value conversion all run
/// their blocks through it.
struct LayerStep<T: ComputeScalar> {
    /// Each sequence's input rows `Hbar^l` (`[N, d]`) and their positions.
    var rows: [Matrix<T>]
    var positions: [[Int]]
    /// `B x N`, true for real tokens.
    var mask: [[Bool]]
    /// The layer's prefix (`nil`: the block runs on the input rows alone) and its positions.
    var prefix: LayerPrefix?
    var prefixPositions: [Int]
    /// Each sequence's cross-attention context (decoder blocks of encoder-decoders).
    var cross: [CrossContext<T>]?
    /// Which rows go on, and how the causal mask lines up the first query.
    var keptRows: LayerComposition.KeptRows = .last
    var alignment: CausalAlignment = .afterPast
    /// Run a hidden prefix's own rows through the block too, and return their outputs.
    var prefixRows = false
}

/// What a step computed.
struct StepOutput<T: ComputeScalar> {
    /// Each sequence's rows passed on, `[N, d]`.
    var kept: [Matrix<T>]
    /// Each sequence's prefix-row outputs `Y^l[0 ..< Pn]`, when the prefix rows went through the block.
    var prefixOutputs: [Matrix<T>]?
}

extension PrefixStack {
    /// Runs `block` on `step`. A hidden prefix either goes through the block with the input rows
    /// (`Pn + N` rows, one sequence at a time; needed for its own outputs or to keep the first
    /// rows), or only through the norm and key/value projections, once for every sequence: the
    /// kept rows see it only through those keys and values. A key/value prefix is attended to as
    /// it is. Every sequence without prefix rows goes through the block in one batched call.
    func run<T: ComputeScalar>(_ block: ComposedBlock<T>, _ step: LayerStep<T>) -> StepOutput<T> {
        let batch = step.rows.count
        let pn = step.prefix?.prefixLength ?? 0
        if case .hidden(let p)? = step.prefix, step.prefixRows || step.keptRows == .first {
            let rowsP = Matrix<T>(rows: pn, cols: config.hiddenSize, values: T.elements(of: p))
            var kept: [Matrix<T>] = [], prefixOutputs: [Matrix<T>] = []
            for b in 0..<batch {
                let n = step.rows[b].rows
                let y = block(
                    batch: [rowsP.stacked(on: step.rows[b])], positions: [step.prefixPositions + step.positions[b]], past: [nil],
                    pastPositions: [], keyMasks: [Array(repeating: true, count: pn) + step.mask[b]], cross: step.cross.map { [$0[b]] },
                    alignment: step.alignment)[0]
                prefixOutputs.append(y.rows(0..<pn))
                kept.append(step.keptRows == .first ? y.rows(0..<n) : y.rows(pn..<(pn + n)))
            }
            return StepOutput(kept: kept, prefixOutputs: prefixOutputs)
        }
        var past: (keys: Matrix<T>, values: Matrix<T>)?
        switch step.prefix {
        case .hidden(let p)?:
            past = block.keysValues(
                Matrix<T>(rows: pn, cols: config.hiddenSize, values: T.elements(of: p)), positions: step.prefixPositions)
        case .kv(let key, let value)?:
            past = (PrefixStack.keyValueMatrix(key), PrefixStack.keyValueMatrix(value))
        case nil:
            past = nil
        }
        let keyMasks = past == nil ? step.mask : step.mask.map { Array(repeating: true, count: pn) + $0 }
        let kept = block(
            batch: step.rows, positions: step.positions, past: Array(repeating: past, count: batch), pastPositions: step.prefixPositions,
            keyMasks: keyMasks, cross: step.cross, alignment: step.alignment)
        return StepOutput(kept: kept, prefixOutputs: nil)
    }

    /// The position of every input row under `rule` (``PrefixCore/InputPositionRule``), with the
    /// first input position `start`: real tokens counted from `start` (a padding row takes
    /// `start`), columns from `start`, or, under the padding-skipping rule, token ids other than
    /// the padding id counted from `start` with padding ids at -1 (the table's padding row; with
    /// no ids, columns from 0, as transformers numbers `inputs_embeds`).
    static func inputPositions(mask: [[Bool]], ids: [[Int]]?, rule: InputPositionRule, start: Int) -> [[Int]] {
        switch rule {
        case .realTokens:
            return mask.map { row in
                var next = start
                return row.map { real in
                    defer { if real { next += 1 } }
                    return real ? next : start
                }
            }
        case .column:
            return mask.map { row in Array(start..<(start + row.count)) }
        case .skippingPaddingIDs(let paddingID):
            guard let ids else { return mask.map { row in Array(0..<row.count) } }
            return ids.map { row in
                var next = start
                return row.map { id in
                    defer { if id != paddingID { next += 1 } }
                    // The table's offset is `paddingID + 1`: position -1 reads the padding row.
                    return id != paddingID ? next : -1
                }
            }
        }
    }
}
