import PrefixCompute
import PrefixCore
import TestSupport
import Testing

/// The engine against the independent NumPy reference, every layer, both prefix forms, f64 and
/// f32, with semantics.md's tolerances (per layer teacher-forced tolerances bound each layer's
/// output here because errors compound only mildly over two layers; end to end for `final`).
@Suite("Forward pass against the NumPy reference")
struct ForwardFixtureTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let model: String
        let pn: Int
        let n: Int
        var testDescription: String { "\(model) Pn=\(pn) N=\(n)" }
    }

    static let cases = EngineFixture.models.flatMap { m in EngineFixture.cases.map { Case(model: m, pn: $0.0, n: $0.1) } }

    /// Compares every recorded layer and the final output; returns the worst errors.
    private func compare(
        _ result: ForwardResult, _ expected: [String: Tensor], fixture: EngineFixture, layerTolerance: Double,
        endTolerance: Double, logits: Bool
    ) throws {
        let mask = fixture.mask
        let pn = fixture.prefixLength
        let real = { (b: Int, r: Int) in mask[b][r] }
        for l in 0..<fixture.config.numLayers {
            let label = layerLabel(l, layerCount: fixture.config.numLayers)
            let input = try #require(expected["\(label).input"])
            let inputRows: (Int, Int) -> Bool = result.form == .hidden ? { b, r in r < pn || mask[b][r - pn] } : real
            let inputError = Closeness.relativeError(result.layerInputs[l], input, include: inputRows)
            #expect(inputError <= layerTolerance, "\(label).input: \(inputError)")
            let outputError = Closeness.relativeError(result.layerOutputs[l], try #require(expected["\(label).output"]), include: real)
            #expect(outputError <= layerTolerance, "\(label).output: \(outputError)")
        }
        let finalError = Closeness.relativeError(result.final, try #require(expected["final"]), include: real)
        #expect(finalError <= endTolerance, "final: \(finalError)")
        if logits {
            let logitsError = Closeness.relativeError(try #require(result.logits), try #require(expected["logits"]), include: real)
            #expect(logitsError <= endTolerance, "logits: \(logitsError)")
        }
    }

    @Test("hidden form matches in f64 (1e-12 per layer, 1e-10 end to end)", arguments: cases)
    func hiddenF64(c: Case) throws {
        let fixture = try EngineFixture(c.model, prefixLength: c.pn, inputLength: c.n)
        let stack = try PrefixStack(config: fixture.config, weights: InMemoryTensors(fixture.weights), prefix: PrefixSource(fixture.hidden))
        let result = try stack.forward(fixture.input(), as: Double.self, options: ForwardOptions(logits: true))
        try compare(result, fixture.expectedHidden, fixture: fixture, layerTolerance: 1e-12, endTolerance: 1e-10, logits: true)
        #expect(result.summaries[0].rowsIn == c.pn + c.n && result.summaries[0].rowsKept == c.n)
    }

    @Test("hidden form matches in f32 (1e-5 per layer, 1e-4 end to end)", arguments: cases)
    func hiddenF32(c: Case) throws {
        let fixture = try EngineFixture(c.model, prefixLength: c.pn, inputLength: c.n)
        let stack = try PrefixStack(config: fixture.config, weights: InMemoryTensors(fixture.weights), prefix: PrefixSource(fixture.hidden))
        let result = try stack.forward(fixture.input(), as: Float.self, options: ForwardOptions(logits: true))
        try compare(result, fixture.expectedHidden, fixture: fixture, layerTolerance: 1e-5, endTolerance: 1e-4, logits: true)
    }

    @Test("computing the prefix rows too gives the same kept rows", arguments: cases)
    func fullRows(c: Case) throws {
        let fixture = try EngineFixture(c.model, prefixLength: c.pn, inputLength: c.n)
        let stack = try PrefixStack(config: fixture.config, weights: InMemoryTensors(fixture.weights), prefix: PrefixSource(fixture.hidden))
        let result = try stack.forward(fixture.input(), as: Double.self, options: ForwardOptions(computePrefixRows: true))
        try compare(result, fixture.expectedHidden, fixture: fixture, layerTolerance: 1e-12, endTolerance: 1e-10, logits: false)
        #expect(result.prefixOutputs.count == fixture.config.numLayers)
        #expect(result.prefixOutputs[0].shape.dimensions == [2, c.pn, fixture.config.hiddenSize])
    }

    @Test("KV form matches in f64 and f32", arguments: cases)
    func keyValueForm(c: Case) throws {
        let fixture = try EngineFixture(c.model, prefixLength: c.pn, inputLength: c.n)
        let stack = try PrefixStack(config: fixture.config, weights: InMemoryTensors(fixture.weights), prefix: PrefixSource(fixture.kv))
        try compare(
            try stack.forward(fixture.input(), as: Double.self, options: ForwardOptions(logits: true)), fixture.expectedKV,
            fixture: fixture, layerTolerance: 1e-12, endTolerance: 1e-10, logits: true)
        try compare(
            try stack.forward(fixture.input(), as: Float.self, options: ForwardOptions(logits: true)), fixture.expectedKV,
            fixture: fixture, layerTolerance: 1e-5, endTolerance: 1e-4, logits: true)
    }

    @Test("hidden -> KV conversion equals the reference's and runs to the same outputs", arguments: cases)
    func conversion(c: Case) throws {
        let fixture = try EngineFixture(c.model, prefixLength: c.pn, inputLength: c.n)
        let weights = InMemoryTensors(fixture.weights)
        let stack = try PrefixStack(config: fixture.config, weights: weights, prefix: PrefixSource(fixture.hidden))
        let converted = try stack.keyValuePrefix(dtype: .f64)
        #expect(converted.form == .kv && converted.prefixLength == c.pn)
        for (ours, theirs) in zip(converted.layers, fixture.kv.layers) {
            guard case .kv(let k, let v) = ours, case .kv(let rk, let rv) = theirs else { Issue.record("not KV"); continue }
            let reshape = { (t: Tensor) in
                (try? Tensor(dtype: t.dtype, shape: [1, t.shape[0] * t.shape[1], t.shape[2]], bytes: t.withUnsafeBytes { Array($0) })) ?? t
            }
            #expect(Closeness.relativeError(reshape(k), reshape(rk)) <= 1e-12)
            #expect(Closeness.relativeError(reshape(v), reshape(rv)) <= 1e-12)
        }
        // The hidden form and its conversion agree per layer: f64 1e-12, f32 1e-5.
        let kvStack = try PrefixStack(config: fixture.config, weights: weights, prefix: PrefixSource(converted))
        let mask = fixture.mask
        for (type, tolerance) in [(0, 1e-12), (1, 1e-5)] {
            let a = type == 0 ? try stack.forward(fixture.input(), as: Double.self) : try stack.forward(fixture.input(), as: Float.self)
            let b = type == 0 ? try kvStack.forward(fixture.input(), as: Double.self) : try kvStack.forward(fixture.input(), as: Float.self)
            for l in 0..<fixture.config.numLayers {
                let error = Closeness.relativeError(a.layerOutputs[l], b.layerOutputs[l]) { b, r in mask[b][r] }
                #expect(error <= tolerance, "layer \(l), \(type == 0 ? "f64" : "f32"): \(error)")
            }
        }
    }
}
