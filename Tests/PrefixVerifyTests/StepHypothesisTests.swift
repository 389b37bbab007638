import Foundation
import PrefixCompute
import PrefixConvert
import PrefixCore
import PrefixFormats
import PrefixRuntime
import PrefixStore
import TestSupport
import Testing

@testable import PrefixVerify

/// Each hypothesis is a change to one step's inputs, and the engine's step runs exactly that.
@Suite("Step hypotheses")
struct StepHypothesisTests {
    static func llama() throws -> PrefixStack { try DiagnosisTests.stack("llama", pn: 4, n: 6) }

    @Test("positions, mask alignment and kept rows are compositions of the step, not new math")
    func compositions() throws {
        let stack = try Self.llama()
        let prefix = try stack.prefix.layer(0)
        func step(_ h: StepHypothesis) throws -> (LayerPrefix?, LayerComposition) {
            try h.step(prefix, layer: 0, context: nil, stack: stack, as: Double.self)
        }
        #expect(try step(.asGiven) == (prefix, .prefixTuning))
        #expect(try step(.keptFirstN) == (prefix, LayerComposition(keptRows: .first)))
        #expect(
            try StepHypothesis.inputsAtZero.step(nil, layer: 0, context: nil, stack: stack, as: Double.self) == (
                nil, LayerComposition(inputStart: 0)
            ))
        #expect(try step(.inputsAtZero) == (prefix, LayerComposition(inputStart: 0)))
        #expect(try step(.causalTopLeft) == (prefix, LayerComposition(causalAlignment: .topLeft)))
    }

    @Test("swapped keys and values, and un-rotated keys, are the prefix's own keys and values transformed")
    func keysAndValues() throws {
        let stack = try Self.llama()
        let prefix = try stack.prefix.layer(1)
        let (key, value) = try stack.prefixKeysValues(prefix, layer: 1, as: Double.self)
        #expect(key.shape == [stack.config.numKVHeads, 4, stack.config.headDim] && key.shape == value.shape)
        let swapped = try StepHypothesis.keyValueSwapped.step(prefix, layer: 1, context: nil, stack: stack, as: Double.self)
        #expect(swapped.prefix == .kv(key: value, value: key) && swapped.composition == .prefixTuning)
        let unrotated = try StepHypothesis.unrotatedKeys.step(prefix, layer: 1, context: nil, stack: stack, as: Double.self)
        guard case .kv(let plain, let sameValue)? = unrotated.prefix else {
            Issue.record("un-rotated keys are a key/value prefix")
            return
        }
        #expect(sameValue == value && plain != key)
        // Rotation keeps each pair's norm: un-rotating changes directions, not lengths.
        let a = key.doubles(), b = plain.doubles()
        let norm = { (v: [Double]) in v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        #expect(abs(norm(a) - norm(b)) <= 1e-12 * norm(a))
        // A key/value prefix is used as it is.
        let kv = LayerPrefix.kv(key: key, value: value)
        #expect(try stack.prefixKeysValues(kv, layer: 1, as: Double.self) == (key, value))
    }

    @Test("each hypothesis changes the layer's output, and the prefix-tuning step reproduces the NumPy reference")
    func outputs() throws {
        let stack = try Self.llama()
        let reference = try ActivationExchange.read(path: "\(DiagnosisTests.root)/llama/pn4-n6/correct.npz")
        let check = CompositionCheck(
            stack: stack, reference: reference, tolerances: .for(.f64), useDouble: true, layers: [0, 1], jobs: 1, endToEnd: true)
        let rows = try #require(reference.layerInputs[0]), expected = try #require(reference.layerOutputs[0])
        let mask = try check.forwardInput().mask
        let hbar = ErrorMetric.rows(rows, 4..<10)
        let prefix = try stack.prefix.layer(0)
        let correct = try check.runLayer(0, hbar, mask, prefix).output
        #expect((ErrorMetric.compare(correct, expected, include: { mask[$0][$1] })?.relative ?? 1) <= 1e-12)
        for hypothesis in StepHypothesis.allCases where hypothesis != .asGiven {
            let output = try check.runLayer(0, hbar, mask, prefix, hypothesis).output
            let error = ErrorMetric.compare(output, expected, include: { mask[$0][$1] })?.relative ?? 0
            #expect(error > 1e-6, "\(hypothesis) left layer 0's output unchanged")
        }
    }
}
