import Foundation
import PrefixKit

/// A T5-base-shaped encoder-decoder (L=12, d=768, Pn=20, source N=128, target 32, B=1) with a
/// PEFT SEQ_2_SEQ_LM adapter against HF transformers + PEFT on CPU PyTorch: the model and adapter
/// made by those tools (`benchmarks/make_seq2seq.py`) and imported as a user would, same inputs,
/// same thread count, in the same run; in-process (weights resident, after a warm-up) and as
/// whole processes (`prefixkit forward --logits` against `python peft_forward.py --once`).
struct Seq2SeqBenchmark {
    var options: BenchOptions

    func run() throws {
        let threads = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "1"
        guard let python = options.peftPython else {
            print("\nseq2seq: skipped (pass --peft-python PATH, a Python with torch, transformers and peft)")
            return
        }
        let work = try options.freshWork("-seq2seq")
        defer { Leftovers.discard(work) }
        let maker = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("benchmarks/make_seq2seq.py").path
        _ = try PeftBenchmark.json(python, [maker, work] + (options.small ? ["--small"] : []))

        // Imported as a user would: the HF directory, then the adapter onto it.
        let store = try Store.create(at: work + "/store")
        _ = try Importer.run(store, source: work + "/hf")
        var importOptions = ImportOptions()
        importOptions.name = "kv"
        _ = try Importer.run(store, source: work + "/adapter", options: importOptions)
        let info = try store.checkpoint("kv")
        let directory = try HFModelDirectory(path: work + "/hf")
        let weights = try directory.tensors.map { NamedTensor($0.name, try $0.load()) }
        let config = directory.config
        let stack = try PrefixStack(config: config, weights: InMemoryTensors(weights), prefix: PrefixSource(try store.load(info)))
        let input = try ForwardInput(exchange: try ActivationExchange.read(path: work + "/inputs.npz"))
        let (pn, n, t) = (info.prefixLength, input.length, input.decoderIDs?.first?.count ?? 0)
        if options.profile {
            let (ours, _) = try PeerComparison.inProcess(stack, input, rounds: 5)
            print("seq2seq: \(Measure.ms(ours)) per forward (profile mode, no peer)")
            return
        }
        let run = try PeerComparison.run(
            stack, input, work: work, python: python, threads: threads, rounds: options.rounds * 2 + 1, processRounds: options.rounds,
            inputs: "inputs.npz")
        let flops = Self.flops(config, pn: pn, n: n, t: t)
        print(
            "\nencoder-decoder forward vs HF transformers + PEFT: T5-base-shaped \(Format.config(config)) d_ff=\(config.intermediateSize), "
                + "Pn=\(pn), source N=\(n), target \(t), B=1, PEFT's seq2seq layout, logits over \(config.vocabSize), f32, \(threads) thread(s); "
                + "peer: \(run.peer["tool"] as? String ?? "?") (\(run.peer["attention"] as? String ?? "?") attention)")
        print(
            Format.table([
                ["measure", "time", "GFLOP/s", "vs", "target"],
                [
                    "PrefixKit in-process (encoder, decoder with cross-attention, LM head)", Measure.ms(run.ours),
                    String(format: "%.1f", flops / run.ours / 1e9), "", "",
                ],
                [
                    "transformers + PEFT in-process", Measure.ms(run.theirs), String(format: "%.1f", flops / run.theirs / 1e9),
                    "PrefixKit " + Measure.ratio(run.theirs / run.ours), ">= 1.15x",
                ],
                ["`prefixkit forward --logits` whole process (store, digests, .npz out)", Measure.ms(run.ourProcess), "", "", ""],
                [
                    "`python peft_forward.py --once` whole process", Measure.ms(run.peerProcess), "",
                    "PrefixKit " + Measure.ratio(run.peerProcess / run.ourProcess), "",
                ],
                ["logits, PrefixKit vs PEFT (max abs / max |logit|)", String(format: "%.1e", run.agreement), "", "", "<= 1e-4"],
            ]))
    }

    /// The forward's FLOPs: the encoder's N rows through every block, the decoder's T rows with
    /// Pn prefix keys, cross-attention keys and values over the N encoder rows, and the LM head.
    static func flops(_ config: ModelConfig, pn: Int, n: Int, t: Int) -> Double {
        let d = Double(config.hiddenSize), inner = Double(config.numHeads * config.headDim), ff = Double(config.intermediateSize)
        let (rn, rt) = (Double(n), Double(t))
        let encoder = 2 * rn * d * inner * 4 + 2 * 2 * rn * rn * inner + 2 * rn * d * ff * 2
        let selfAttention = 2 * rt * d * inner * 4 + 2 * 2 * rt * (Double(pn) + rt) * inner
        let cross = 2 * rt * d * inner * 2 + 2 * rn * d * inner * 2 + 2 * 2 * rt * rn * inner
        let decoder = selfAttention + cross + 2 * rt * d * ff * 2
        return Double(config.encoderLayers ?? 0) * encoder + Double(config.numLayers) * decoder + 2 * rt * d * Double(config.vocabSize)
    }
}
