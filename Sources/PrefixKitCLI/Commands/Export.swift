public import ArgumentParser
import Foundation
import PrefixKit

extension ExportFormat: ExpressibleByArgument {}

/// The dtypes an export may narrow to.
enum ExportDType: String, ExpressibleByArgument, CaseIterable {
    case f32, f16, bf16
    var dtype: DType { DType(rawValue: rawValue) ?? .f32 }
}

/// `prefixkit export`: write a checkpoint or base in another format.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a checkpoint or base: hf (model directory), peft (adapter), safetensors or npz (prefix tensors).",
        discussion: """
            hf writes the base (a checkpoint's base, or base:FP): config.json, safetensors (sharded with an index past \
            --max-shard-size) and the directory's other files. peft writes an adapter (hidden form is converted to \
            key/value exactly). safetensors and npz write the prefix under prefix.layer_00[.key|.value], the MLP under \
            prefix_mlp.*, and metadata. Tensors keep their dtype unless --dtype asks otherwise. OUT must not exist.
            """)

    @OptionGroup var store: StoreArgument

    @Argument(help: "The checkpoint (NAME or NAME@STEP) or, for hf, base:FP.")
    var ref: String

    @Option(name: .long, help: "The format: hf, peft, safetensors or npz.")
    var format: ExportFormat

    @Option(name: .long, help: "The file or directory to write (must not exist).")
    var out: String

    @Option(name: .long, help: "Convert float tensors to f32, f16 or bf16 (narrowing only when asked).")
    var dtype: ExportDType?

    @Option(name: .long, help: "For hf: the largest shard, e.g. 500MB, 2GB or a byte count.")
    var maxShardSize: String?

    @Flag(
        name: .long, help: "Do not check the digest of each tensor as it leaves the store (by default a mismatch fails the export, exit 1)."
    )
    var noVerify = false

    @Flag(name: .long, help: "Replace the destination if it exists (once the new export is complete).")
    var force = false

    @OptionGroup var output: OutputOptions
    @OptionGroup var progress: ProgressOptions

    func validate() throws {
        if let maxShardSize, Export.parseSize(maxShardSize) == nil {
            throw ValidationError("--max-shard-size: expected a size like 500MB, 2GB or 1000000, at most 2^62 bytes")
        }
        if maxShardSize != nil && format != .hf { throw ValidationError("--max-shard-size goes with --format hf") }
    }

    func run() throws {
        let opened = try Store.open(at: store.store, lockTimeout: store.lockTimeout)
        // The base's bytes, for an HF export (the prefix formats are written at once).
        let total = format == .hf ? try Exporter.base(for: ref, in: opened).byteCount : 0
        let bar = Progress("exporting", total: total, mode: progress.mode)
        let report = try Exporter.run(
            opened, reference: ref, format: format, out: out, dtype: dtype?.dtype,
            maxShardSize: maxShardSize.flatMap(Export.parseSize), verify: !noVerify, force: force, progress: { bar.update($0) })
        bar.finish()
        if output.json { return try JSONOutput.print(report) }
        print(
            "exported \(report.reference) as \(report.format.rawValue) to \(report.path): \(report.files.joined(separator: ", ")) (\(Format.bytes(report.bytesWritten)))"
        )
        if let conversion = report.conversion { print("  converted \(conversion)") }
    }

    /// `500MB`, `2GB`, `10KiB`, `1000` -> bytes.
    static func parseSize(_ text: String) -> Int? {
        let units: [(String, Int)] = [
            ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000), ("B", 1),
        ]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            // Finite, positive, and at most 2^62 bytes once scaled (Int(_:) of a larger Double traps).
            guard let value = Double(text.dropLast(suffix.count)), value > 0, value * Double(factor) <= 0x1p62 else { return nil }
            return max(1, Int(value * Double(factor)))
        }
        return Int(text).flatMap { $0 > 0 ? $0 : nil }
    }
}
