import ArgumentParser
import Foundation
import PrefixKit

/// The compute precision, as a command-line option.
enum ComputeType: String, ExpressibleByArgument, CaseIterable {
    case f32, f64
}

/// `prefixkit forward`: run a stored checkpoint's prefix-tuned stack.
struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a checkpoint's prefix-tuned stack on inputs and write every layer's activations.",
        discussion: """
            INPUT is an .npy of token ids ([N] or [B, N], integer) or embeddings ([N, d] or [B, N, d], float, without \
            positional embeddings), or an exchange .npz (its input_ids or inputs_embeds and attention_mask). The output is \
            the activation exchange format (see schemas/exchange-format.md). Weights stream from the store one layer at a time.
            """)

    @OptionGroup var store: StoreArgument

    @Argument(help: "The checkpoint (NAME or NAME@STEP).")
    var checkpoint: String

    @Option(name: .long, help: "The inputs: .npy of ids or embeddings, or an exchange .npz.")
    var input: String

    @Option(name: .long, help: "Write the activations here, in the exchange format (.npz).")
    var out: String?

    @Option(name: .long, help: "The compute precision: f32 (BLAS) or f64 (the reference path).")
    var dtype: ComputeType = .f32

    @Flag(name: .long, help: "Also compute the logits (LM head).")
    var logits = false

    @Flag(name: .long, help: "Also compute the prefix rows' block outputs (hidden form), which the kept rows do not need.")
    var prefixRows = false

    @Flag(name: .long, inversion: .prefixedNo, help: "Check every tensor's digest as it is read (the default; a mismatch exits 1).")
    var verify = true

    @OptionGroup var progress: ProgressOptions

    func validate() throws {
        try ReportPath.validate("--out", out, outside: [store.store])
    }

    func run() throws {
        let opened = try Store.open(at: store.store, lockTimeout: store.lockTimeout)
        let info = try opened.checkpoint(checkpoint)
        // The base's digests are checked on a thread of their own while the forward runs; its
        // result is reported and written only once they all match.
        let stack = try opened.stack(for: info, digests: verify ? .beside : .none)
        let inputs = try ForwardInput(file: input, bounds: ExchangeBounds(config: stack.config, prefixLength: info.prefixLength))
        var options = ForwardOptions(computePrefixRows: prefixRows, logits: logits)
        let bar = Progress("forward", mode: progress.mode)
        options.layerDone = { done, total in bar.step("layer \(done + 1)/\(total)", final: done + 1 == total) }
        let started = ContinuousClock.now
        let result =
            dtype == .f64
            ? try stack.forward(inputs, as: Double.self, options: options)
            : try stack.forward(inputs, as: Float.self, options: options)
        try stack.confirmStoredDigests()
        let elapsed = ContinuousClock.now - started
        bar.finish()
        print(
            "\(info.reference): \(info.form.rawValue) form, Pn=\(info.prefixLength), B=\(inputs.batch), N=\(inputs.length), \(dtype.rawValue)"
        )
        for summary in result.summaries { print("  \(summary)") }
        if !result.skippedWeights.isEmpty { print("  skipped known buffers: \(result.skippedWeights.joined(separator: ", "))") }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        print(
            String(format: "  %.1f ms, %.0f tokens/s", seconds * 1000, Double(inputs.batch * inputs.length) / max(seconds, 1e-9))
                + (dtype == .f32 ? ", OpenBLAS \(BLASKernels.current) kernels" : ""))
        if let out {
            try ActivationExchange(result: result, input: inputs).write(to: out)
            print("wrote \(out)")
        }
    }
}
