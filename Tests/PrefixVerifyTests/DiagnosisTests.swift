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

/// Each wrong composition, injected by the independent NumPy reference, is named correctly,
/// with the layer where it first appears; N == Pn included.
@Suite("Diagnosis of wrong compositions")
struct DiagnosisTests {
    static let root = Processes.repositoryRoot + "/fixtures/verify"

    struct Case: CustomTestStringConvertible, Sendable {
        let model: String, pn: Int, n: Int, bug: String, expected: BugClass, layer: Int?
        var testDescription: String { "\(model) Pn=\(pn) N=\(n) \(bug)" }
    }

    static let cases: [Case] = ["gpt2", "llama"].flatMap { model in
        [(4, 6), (4, 4)].flatMap { pn, n -> [Case] in
            var list: [Case] = [
                Case(model: model, pn: pn, n: n, bug: "kept_prefix_positions", expected: .keptPrefixPositions, layer: 0),
                Case(model: model, pn: pn, n: n, bug: "kept_first_n", expected: .keptFirstN, layer: 0),
                Case(model: model, pn: pn, n: n, bug: "prefix_appended", expected: .prefixAppendedOrIgnored, layer: 0),
                Case(model: model, pn: pn, n: n, bug: "prefix_ignored", expected: .prefixAppendedOrIgnored, layer: 0),
                Case(model: model, pn: pn, n: n, bug: "reused_previous_prefix", expected: .reusedPreviousPrefix, layer: 1),
                Case(model: model, pn: pn, n: n, bug: "prefix_outputs_carried", expected: .prefixOutputsCarried, layer: 1),
                Case(model: model, pn: pn, n: n, bug: "layer_off_by_one", expected: .layerOffByOne, layer: 0),
                Case(model: model, pn: pn, n: n, bug: "kv_swapped", expected: .keyValueSwapped, layer: 0),
                Case(
                    model: model, pn: pn, n: n, bug: "inputs_at_zero", expected: .inputsAtWrongPosition, layer: model == "llama" ? 0 : nil),
                Case(model: model, pn: pn, n: n, bug: "wrong_base", expected: .wrongBase, layer: nil),
            ]
            if model == "llama" { list.append(Case(model: model, pn: pn, n: n, bug: "unrotated_keys", expected: .unrotatedKeys, layer: 0)) }
            return list
        }
    }

    static func stack(_ model: String, pn: Int, n: Int) throws -> PrefixStack {
        let config = try HFConfig.read(path: "\(root)/\(model)/config.json").config
        let weights = try NPZ.read(path: "\(root)/\(model)/weights.npz").compactMap { e in e.value.tensor.map { NamedTensor(e.name, $0) } }
        let prefix = try NPZ.read(path: "\(root)/\(model)/pn\(pn)-n\(n)/prefix_hidden.npz")
        let layers = prefix.compactMap { $0.value.tensor.map { LayerPrefix.hidden($0) } }
        return try PrefixStack(
            config: config, weights: InMemoryTensors(weights),
            prefix: PrefixSource(CheckpointContent(form: .hidden, prefixLength: pn, layers: layers)))
    }

    func check(_ c: Case) throws -> CompositionCheck.Outcome {
        let stack = try Self.stack(c.model, pn: c.pn, n: c.n)
        let reference = try ActivationExchange.read(path: "\(Self.root)/\(c.model)/pn\(c.pn)-n\(c.n)/\(c.bug).npz")
        return CompositionCheck(
            stack: stack, reference: reference, tolerances: .for(.f64), useDouble: true,
            layers: Array(0..<stack.config.numLayers), jobs: 2, endToEnd: true
        ).run()
    }

    @Test("the correct composition passes every check", arguments: ["gpt2", "llama"])
    func correct(model: String) throws {
        for (pn, n) in [(4, 6), (4, 4)] {
            let outcome = try check(Case(model: model, pn: pn, n: n, bug: "correct", expected: .unknown, layer: nil))
            #expect(outcome.checks.allSatisfy { $0.status == .pass }, "\(outcome.checks.filter { $0.status != .pass })")
            #expect(outcome.diagnosis == nil && !outcome.unexplained)
            #expect(outcome.checks.contains { $0.check == .endToEnd } && outcome.checks.contains { $0.check == .prefixRows })
        }
    }

    @Test("each injected bug is named, at the first layer it appears", arguments: cases)
    func named(c: Case) throws {
        let outcome = try check(c)
        let diagnosis = try #require(
            outcome.diagnosis, "no diagnosis; checks: \(outcome.checks.filter { $0.status == .fail }.map(\.message))")
        #expect(diagnosis.bug == c.expected, "named \(diagnosis.bug): \(diagnosis.summary) \(diagnosis.candidates)")
        #expect(diagnosis.layer == c.layer, "\(diagnosis.summary)")
        #expect(!outcome.unexplained)
        #expect(outcome.checks.contains { $0.status == .fail })
    }
}
