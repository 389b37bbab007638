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

/// The one checker over stacks: a decoder-only model is one stack, an encoder-decoder two, and
/// both go through the same per-layer check, hypothesis table and end-to-end check.
@Suite("Composition check over stacks")
struct CompositionCheckTests {
    static let seq2seq = Processes.repositoryRoot + "/fixtures/seq2seq"

    /// The stack of a T5 fixture's checkpoint: PEFT's adapter, or the paper's prefix file.
    static func t5(paper: Bool, _ dir: TemporaryDirectory) throws -> PrefixStack {
        let store = try Store.create(at: dir.path + "/s")
        var options = ImportOptions()
        options.base = "\(seq2seq)/t5/base"
        options.name = "ck"
        let report = try Importer.run(
            store, source: paper ? "\(seq2seq)/t5/paper/prefix.safetensors" : "\(seq2seq)/t5/adapter", options: options)
        return try store.stack(for: try #require(report.checkpoint))
    }

    static func check(_ stack: PrefixStack, _ reference: String, jobs: Int = 1, tolerances: DType = .f64) throws
        -> CompositionCheck.Outcome
    {
        let exchange = try ActivationExchange.read(path: reference)
        return CompositionCheck(
            stack: stack, reference: exchange, tolerances: .for(tolerances), useDouble: true,
            layers: Array(0..<max(stack.config.numLayers, stack.encoderLayers)), jobs: jobs, endToEnd: true
        ).run()
    }

    @Test("an encoder-decoder is two stacks, encoder then decoder, named by section with their own keys and rows")
    func stacks() throws {
        let dir = TemporaryDirectory()
        let stack = try Self.t5(paper: true, dir)
        let exchange = try ActivationExchange.read(path: "\(Self.seq2seq)/t5/paper/numpy_expected.npz")
        let check = CompositionCheck(
            stack: stack, reference: exchange, tolerances: .for(.f64), useDouble: true, layers: [0], jobs: 1, endToEnd: false)
        var input = try check.forwardInput()
        let stacks = try check.checkedStacks(&input).get()
        #expect(stacks.map(\.section) == [.encoder, .decoder])
        #expect(stacks.map(\.layerCount) == [stack.encoderLayers, stack.config.numLayers])
        #expect(stacks[0].rows == exchange.inputIDs?.shape[1] && stacks[1].rows == exchange.decoderInputIDs?.shape[1])
        #expect(stacks[0].label(1) == "encoder layer 1" && stacks[1].label(1) == "decoder layer 1")
        #expect(stacks[1].keys(0).output.hasPrefix("decoder.layer_") && stacks[0].keys(0).input.hasPrefix("encoder.layer_"))
        #expect(stacks[0].bidirectional && !stacks[1].bidirectional)
        #expect(stacks[0].ignoredBug == .encoderPrefixMissing && stacks[1].ignoredBug == .prefixAppendedOrIgnored)
        // A decoder block reads the encoder's output; without it the block is skipped, not failed.
        var noEncoder = exchange
        noEncoder.encoderFinal = nil
        let without = CompositionCheck(
            stack: stack, reference: noEncoder, tolerances: .for(.f64), useDouble: true, layers: [0], jobs: 1, endToEnd: false)
        let decoder = try without.checkedStacks(&input).get()[1]
        if case .success = decoder.context(0) { Issue.record("a decoder block's context needs the encoder's output") }
        let skipped = without.checkLayer(0, in: decoder)
        #expect(skipped.checks.last?.status == .skip && skipped.checks.last?.message.contains("encoder.final") == true, "\(skipped.checks)")
    }

    @Test("the paper's semantics pass both stacks block by block; each of PEFT's differences is named with its section and layer")
    func encoderDecoder() throws {
        let dir = TemporaryDirectory()
        let paper = try Self.t5(paper: true, dir)
        let passing = try Self.check(paper, "\(Self.seq2seq)/t5/paper/numpy_expected.npz", jobs: 3)
        #expect(passing.diagnosis == nil && !passing.unexplained && passing.endToEndPassed)
        #expect(
            passing.encoderLayersChecked == Array(0..<paper.encoderLayers) && passing.layersChecked == Array(0..<paper.config.numLayers))
        #expect(passing.checks.filter { $0.check == .teacherForced }.allSatisfy { $0.status == .pass && $0.section != nil })
        let encoder = try #require(try Self.check(paper, "\(Self.seq2seq)/t5/paper/numpy_no_encoder.npz").diagnosis)
        #expect(encoder.bug == .encoderPrefixMissing && encoder.section == .encoder && encoder.layer == 0, "\(encoder)")
        #expect(encoder.summary.hasPrefix("encoder layer 0: "))
        let cross = try #require(try Self.check(paper, "\(Self.seq2seq)/t5/paper/numpy_no_cross.npz").diagnosis)
        #expect(cross.bug == .crossPrefixDropped && cross.section == .decoder, "\(cross)")
        let peftDir = TemporaryDirectory()
        let peft = try Self.t5(paper: false, peftDir)
        // (Its reference's norms took their mean square in float32, as transformers' T5 does.)
        let direct = try #require(try Self.check(peft, "\(Self.seq2seq)/t5/numpy_peft_direct.npz", tolerances: .f32).diagnosis)
        #expect(direct.bug == .directLayerMapping && direct.layer == 1 && direct.section == .decoder, "\(direct.summary)")
    }

    @Test("--jobs changes how blocks are scheduled, never what is reported")
    func jobs() throws {
        let dir = TemporaryDirectory()
        let paper = try Self.t5(paper: true, dir)
        let reference = "\(Self.seq2seq)/t5/paper/numpy_no_cross.npz"
        let (one, three) = (try Self.check(paper, reference, jobs: 1), try Self.check(paper, reference, jobs: 3))
        func strip(_ checks: [CheckResult]) -> [String] {
            checks.map {
                "\($0.check) \($0.section.map { "\($0)" } ?? "-") \($0.layer ?? -1) \($0.status) \($0.message) \($0.relativeError ?? -1)"
            }
        }
        #expect(strip(one.checks) == strip(three.checks))
        #expect(one.diagnosis?.bug == three.diagnosis?.bug && one.diagnosis?.candidates == three.diagnosis?.candidates)
    }

    @Test("a key/value reference whose rows in are not N is refused as a row mismatch, and the check stops there")
    func keyValueRows() throws {
        let stack = try DiagnosisTests.stack("llama", pn: 4, n: 6)
        var reference = try ActivationExchange.read(path: "\(DiagnosisTests.root)/llama/pn4-n6/correct.npz")
        reference.meta = #"{"form": "kv"}"#
        let check = CompositionCheck(
            stack: stack, reference: reference, tolerances: .for(.f64), useDouble: true, layers: [0, 1], jobs: 1, endToEnd: true)
        let outcome = check.run()
        let failed = try #require(outcome.checks.first { $0.status == .fail })
        #expect(failed.layer == 0 && failed.rowsIn == 10 && failed.expectedRowsIn == 6, "\(failed)")
        #expect(failed.message.contains("which no known bug explains") && outcome.unexplained)
        #expect(!outcome.checks.contains { $0.layer == 1 }, "the check goes on after a row mismatch")
    }

    @Test("a reference tensor of the wrong rank is refused, not indexed")
    func wrongRank() throws {
        let stack = try DiagnosisTests.stack("gpt2", pn: 4, n: 6)
        var reference = try ActivationExchange.read(path: "\(DiagnosisTests.root)/gpt2/pn4-n6/correct.npz")
        let input = try #require(reference.layerInputs[0])
        reference.layerInputs[0] = Tensor(shape: [input.shape[0] * input.shape[1], input.shape[2]], doubles: input.doubles())
        let outcome = CompositionCheck(
            stack: stack, reference: reference, tolerances: .for(.f64), useDouble: true, layers: [0], jobs: 1, endToEnd: false
        ).run()
        let failed = try #require(outcome.checks.first { $0.status == .fail })
        #expect(failed.message.hasPrefix("layer 0: reference tensors are") && outcome.unexplained, "\(failed.message)")
    }
}

/// The hypothesis tables: which wrong compositions are tried for which blocks.
@Suite("Hypothesis tables")
struct HypothesisTableTests {
    static func situation(
        layer: Int = 1, section: PrefixSection?, bidirectional: Bool, prefix: LayerPrefix?, rotates: Bool = false,
        layout: PrefixLayout = .direct, cross: Bool = false
    ) -> LayerSituation {
        let stack = CheckedStack(
            section: section, layerCount: 4, mask: [[true]], bidirectional: bidirectional, referenceForm: nil, input: { _ in nil },
            output: { _ in nil }, prefix: { _ in nil }, context: { _ in .success(nil) }, keys: { _ in ("i", "o") },
            describe: { _, _, _, _ in "" })
        let one = Tensor(shape: [1, 1, 1, 1], doubles: [1])
        let context: LayerContext? =
            section == .decoder
            ? .decoder(
                encoderStates: Tensor(shape: [1, 1, 1], doubles: [0]), encoderMask: [[true]],
                crossPrefix: cross ? .kv(key: one, value: one) : nil)
            : nil
        return LayerSituation(layer: layer, stack: stack, prefix: prefix, context: context, rotatesKeys: rotates, layout: layout)
    }

    static func bugs(_ situation: LayerSituation) -> Set<BugClass> {
        Set(LayerHypothesis.all.filter { $0.applies(situation) }.map(\.bug))
    }

    static let hidden = LayerPrefix.hidden(Tensor(shape: [2, 2], doubles: [1, 2, 3, 4]))
    static let kv = LayerPrefix.kv(
        key: Tensor(shape: [1, 2, 1, 1], doubles: [1, 2]), value: Tensor(shape: [1, 2, 1, 1], doubles: [3, 4]))

    @Test("a causal rotary decoder is tried for every one-stack bug; a causal learned-position one not for rotation")
    func causal() {
        let rotary = Self.bugs(Self.situation(section: nil, bidirectional: false, prefix: Self.hidden, rotates: true))
        #expect(
            rotary == [
                .keptFirstN, .prefixAppendedOrIgnored, .reusedPreviousPrefix, .layerOffByOne, .prefixOutputsCarried, .keyValueSwapped,
                .causalMaskNotOffset, .unrotatedKeys, .inputsAtWrongPosition,
            ])
        let learned = Self.bugs(Self.situation(section: nil, bidirectional: false, prefix: Self.kv))
        #expect(
            learned == [
                .prefixAppendedOrIgnored, .reusedPreviousPrefix, .layerOffByOne, .prefixOutputsCarried, .keyValueSwapped,
                .causalMaskNotOffset,
            ])
    }

    @Test("a bidirectional encoder: an ignored prefix is its own bug, and no causal mask can be misaligned")
    func bidirectional() {
        let bugs = Self.bugs(Self.situation(section: nil, bidirectional: true, prefix: Self.kv))
        #expect(bugs.contains(.prefixIgnored) && !bugs.contains(.prefixAppendedOrIgnored) && !bugs.contains(.causalMaskNotOffset))
        // The last block has no next layer's prefix to take; the first no previous one.
        #expect(!Self.bugs(Self.situation(layer: 3, section: nil, bidirectional: true, prefix: Self.kv)).contains(.layerOffByOne))
        #expect(!Self.bugs(Self.situation(layer: 0, section: nil, bidirectional: true, prefix: Self.kv)).contains(.reusedPreviousPrefix))
    }

    @Test("an encoder-decoder: the encoder's missing prefix, the other layer mapping, a dropped cross prefix")
    func encoderDecoder() {
        let encoder = Self.bugs(Self.situation(section: .encoder, bidirectional: true, prefix: Self.kv))
        #expect(encoder.contains(.encoderPrefixMissing) && !encoder.contains(.prefixIgnored) && !encoder.contains(.peftLayerMapping))
        #expect(Self.bugs(Self.situation(section: .encoder, bidirectional: true, prefix: nil)).isEmpty)
        let peft = Self.bugs(Self.situation(section: .decoder, bidirectional: false, prefix: Self.kv, layout: .peftSeq2Seq))
        #expect(peft.contains(.directLayerMapping) && !peft.contains(.peftLayerMapping) && !peft.contains(.crossPrefixDropped))
        #expect(!peft.contains(.layerOffByOne) && !peft.contains(.reusedPreviousPrefix))
        let paper = Self.bugs(Self.situation(section: .decoder, bidirectional: false, prefix: Self.kv, cross: true))
        #expect(paper.contains(.peftLayerMapping) && paper.contains(.crossPrefixDropped))
    }

    @Test("the model-wide hypotheses: positions for one stack, the other semantics for an encoder-decoder")
    func modelWide() throws {
        let llama = try DiagnosisTests.stack("llama", pn: 4, n: 6)
        #expect(ModelHypothesis.all.filter { $0.applies(llama) }.map(\.bug) == [.inputsAtWrongPosition])
        let (peftDir, paperDir) = (TemporaryDirectory(), TemporaryDirectory())
        let peft = try CompositionCheckTests.t5(paper: false, peftDir)
        #expect(ModelHypothesis.all.filter { $0.applies(peft) }.map(\.bug) == [.directLayerMapping])
        let paper = try CompositionCheckTests.t5(paper: true, paperDir)
        #expect(ModelHypothesis.all.filter { $0.applies(paper) }.map(\.bug) == [.encoderPrefixMissing, .crossPrefixDropped])
        // Each hypothesis computes with a changed stack, not the checkpoint's own.
        for hypothesis in ModelHypothesis.all where hypothesis.applies(paper) {
            let other = try #require(try hypothesis.stack(paper))
            #expect(other.prefix.encoderLayer == nil || other.prefix.crossLayer == nil)
        }
    }
}
