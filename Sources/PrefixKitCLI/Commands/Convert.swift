import ArgumentParser
import Foundation
import PrefixFormats
import PrefixKit

/// `prefixkit convert`: file to file through a temporary store.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert any import source to any export format.",
        discussion: """
            Between prefix files (a PEFT adapter, .npz, .safetensors) the conversion goes file to file and needs no \
            base: the adapter's config and the file's names carry layers, heads and token_dim, and a file written from \
            an adapter keeps its adapter_config.json (PEFT -> npz -> PEFT is byte-identical). A hidden-form prefix to \
            PEFT needs --base DIR, the HF model directory it applies to; so does --layout flat-kv. With --base, the \
            conversion goes through a temporary store and checks that the prefix fits the base.
            """)

    @Argument(help: "The file or directory to convert (as for import).")
    var source: String

    @Argument(help: "The file or directory to write (must not exist).")
    var dest: String

    @Option(name: .long, help: "The format: hf, peft, safetensors or npz.")
    var to: ExportFormat

    @Option(name: .long, help: "The HF model directory a prefix applies to.")
    var base: String?

    @Option(name: .long, help: "Convert float tensors to f32, f16 or bf16.")
    var dtype: ExportDType?

    @Option(name: .long, help: "The layout of a single flat tensor: flat-kv.")
    var layout: String?

    @Flag(name: .long, help: "Replace the destination if it exists (once the new file is complete).")
    var force = false

    @OptionGroup var output: OutputOptions
    @OptionGroup var progress: ProgressOptions

    func run() throws {
        if base == nil, FileConverter.handles(source: source, format: to, flatKV: layout == "flat-kv") {
            let report = try FileConverter.run(source: source, format: to, out: dest, dtype: dtype?.dtype, force: force)
            if output.json { return try JSONOutput.print(report) }
            print("converted \(source) to \(to.rawValue) at \(report.path) (no base needed): \(report.files.joined(separator: ", "))")
            if let conversion = report.conversion { print("  \(conversion)") }
            return
        }
        let temporary = FileManager.default.temporaryDirectory.path + "/prefixkit-convert-\(UUID().uuidString.prefix(8))"
        defer { Leftovers.discard(temporary) }
        let store = try Store.create(at: temporary)
        var options = ImportOptions()
        options.base = base
        options.flatKV = layout == "flat-kv"
        let reading = Progress("reading", total: Exporter.sourceSize(Store.normalizePath(source)), mode: progress.mode)
        let imported = try Importer.run(store, source: source, options: options) { done, total in reading.update(done, total) }
        reading.finish()
        let reference = imported.checkpoint?.reference ?? imported.base.shortReference
        let writing = Progress("writing", total: to == .hf ? imported.base.byteCount : 0, mode: progress.mode)
        let report = try Exporter.run(
            store, reference: reference, format: to, out: dest, dtype: dtype?.dtype, force: force, progress: { writing.update($0) })
        writing.finish()
        if output.json { return try JSONOutput.print(report) }
        print("converted \(imported.detected) \(source) to \(to.rawValue) at \(report.path): \(report.files.joined(separator: ", "))")
        if let conversion = report.conversion { print("  converted \(conversion)") }
    }
}
