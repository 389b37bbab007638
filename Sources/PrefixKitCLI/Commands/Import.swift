import ArgumentParser
import Foundation
import PrefixKit

/// `prefixkit import`: bring an HF model directory, a PEFT adapter or prefix tensors into a store.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import an HF model directory (as a base), a PEFT prefix-tuning adapter or prefix tensors (as a checkpoint).",
        discussion: """
            SOURCE is detected from its content: an HF model directory (config.json + model.safetensors, pytorch_model.bin \
            or shards) becomes a base; a PEFT adapter directory becomes a key/value checkpoint; an .npz or .safetensors with \
            prefix.layer_00 ... becomes a hidden-form checkpoint, with prefix.layer_00.key/.value a key/value one; one flat \
            [Pn, L*2*token_dim] tensor needs --layout flat-kv; a .bin / .pt of Li & Liang's PrefixTuning becomes a checkpoint \
            with its MLP; an HF Trainer run directory (checkpoint-<step>/) becomes the steps of one checkpoint. \
            hf:ORG/NAME[@REVISION] reads a model or adapter from the local Hugging Face cache (HF_HUB_CACHE, HF_HOME), \
            offline. Pickles are read by a restricted unpickler that never executes code. A checkpoint's base is --base DIR \
            (imported if new), --base hf:ORG/NAME or --base base:FP; without --base, a PEFT adapter's own \
            base_model_name_or_path (a model directory here or an entry of the local Hugging Face cache, fingerprinted; or \
            the Hub repository a stored base came from), else, only with --base-by-shape, the one stored base whose shapes \
            fit (its weights are then never compared); a prefix file's base is the one its base_fingerprint names or the \
            one stored base that fits. The store is created if missing. Nothing is written unless the whole import succeeds.
            """)

    @OptionGroup var store: StoreArgument

    @Argument(help: "The file or directory to import.")
    var source: String

    @Option(name: .long, help: "The base: an HF model directory or hf:ORG/NAME (imported if new), base:FP or an alias.")
    var base: String?

    @Flag(
        name: .long,
        help:
            "Bind a PEFT adapter to the one stored base whose shapes fit when what it says about its base matches nothing (weights not compared)."
    )
    var baseByShape = false

    @Option(name: .long, help: "The checkpoint name (default: the source's name); for an HF directory, the base's alias.")
    var name: String?

    @Option(name: .long, help: "The checkpoint step (default: 0, or the latest step of NAME + 1).")
    var step: Int?

    @Option(name: .long, help: "The parent checkpoint (NAME or NAME@STEP).")
    var parent: String?

    @Option(name: .long, help: "A tag (repeatable).")
    var tag: [String] = []

    @Option(name: .long, help: "The layout of a single flat tensor: flat-kv (PEFT / Li & Liang / P-tuning v2 order).")
    var layout: String?

    @Option(name: .long, help: "With --layout flat-kv, the tensor to read when the file holds several.")
    var tensor: String?

    @OptionGroup var output: OutputOptions
    @OptionGroup var progress: ProgressOptions

    func validate() throws {
        if let layout, layout != "flat-kv" { throw ValidationError("--layout takes flat-kv") }
        if tensor != nil && layout == nil { throw ValidationError("--tensor goes with --layout flat-kv") }
    }

    func run() throws {
        try store.withStore { opened in try importInto(opened) }
    }

    private func importInto(_ opened: Store) throws {
        var options = ImportOptions()
        // `hf:ORG/NAME[@REVISION]`: the snapshot in the local Hugging Face cache.
        let resolved = try HubCacheReference.parse(source)?.resolve().path ?? Store.normalizePath(source)
        let detected = try CheckpointFormats.detect(resolved)
        if detected.holdsBase { options.alias = name } else { options.name = name }
        options.step = step
        options.parent = parent
        options.tags = tag
        options.base = base
        options.baseByShape = baseByShape
        options.flatKV = layout == "flat-kv"
        options.tensor = tensor
        let bar = Progress("importing", total: Exporter.sourceSize(resolved), mode: progress.mode)
        let report = try Importer.run(opened, source: source, options: options) { done, total in bar.update(done, total) }
        bar.finish()
        if output.json { return try JSONOutput.print(report) }
        print("detected \(report.detected) at \(report.source)")
        if report.baseCreated {
            print(
                "created base \(report.base.shortReference) (\(Format.config(report.base.config)), \(report.base.tensorCount) tensors, \(Format.bytes(report.base.byteCount)))"
            )
        } else {
            // "The same weights" only where they were compared (a fingerprint of the source's base).
            switch report.baseBinding {
            case _ where report.baseCompared != false, .fingerprint?, nil:
                print(
                    "base \(report.base.shortReference) was already stored: the same weights (fingerprint compared), nothing written for it"
                )
            case .explicit?:
                print("bound to base \(report.base.shortReference), as --base names it")
            case .provenance?:
                print(
                    "bound to base \(report.base.shortReference): it came from \(report.base.provenance.repository ?? "?"), the repository the adapter names (weights not compared)"
                )
            case .shape?:
                print("bound to base \(report.base.shortReference), the one stored base whose shapes fit: its weights were not compared")
            }
        }
        for checkpoint in (report.steps ?? []).dropLast() {
            print("created checkpoint \(checkpoint.reference) (parent \(checkpoint.parent ?? "none"))")
        }
        if report.unchanged == true, let checkpoint = report.checkpoint {
            print(
                "\(checkpoint.reference) holds this prefix already (the same base, form, Pn, positions and tensors): nothing written; pass --step to store it as another step"
            )
        } else if let checkpoint = report.checkpoint {
            print(
                "created checkpoint \(checkpoint.reference): \(checkpoint.form.rawValue) form, Pn=\(checkpoint.prefixLength), \(checkpoint.numLayers) layers"
                    + (checkpoint.task.map { ", task \($0.rawValue)" } ?? "")
            )
        }
        for item in report.skipped { print("  skipped \(item)") }
        for note in report.notes { print("note: \(note)") }
        print("wrote \(Format.bytes(report.bytesWritten))")
    }
}
