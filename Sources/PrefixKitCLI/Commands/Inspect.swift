import ArgumentParser
import Foundation
import PrefixKit

/// `prefixkit inspect`: what a store, base or checkpoint holds.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a checkpoint or base in detail: config, per-layer shapes, dtypes and digests, positions, provenance.",
        discussion: """
            Without REF, summarises the store. REF is NAME, NAME@STEP, base:FP or a base alias. Given a PEFT adapter \
            directory or a prefix file (.npz, .safetensors) instead of a store, reads and checks it without a store and \
            says what it holds (exit 3 with the reason when it is damaged or inconsistent).
            """)

    @OptionGroup var store: StoreArgument

    @Argument(help: "The checkpoint (NAME or NAME@STEP) or base (base:FP or alias) to show.")
    var ref: String?

    @OptionGroup var output: OutputOptions

    struct CheckpointDocument: Encodable {
        var checkpoint: CheckpointInfo
        var base: BaseInfo
        var tensors: [TensorEntry]
        var verifications: [Run]
        /// What an encoder-decoder checkpoint's prefix reaches (empty for one stack).
        var notes: [String] = []
        /// Every step stored under the checkpoint's name.
        var steps: [Int] = []
        /// Its ancestors by parent, the root first (empty without a parent).
        var lineage: [String] = []
        /// The checkpoints that name it as their parent.
        var children: [String] = []
        var runs: [(kind: String, finishedAt: String, verdict: String, toolVersion: String)] {
            verifications.map { ($0.kind, $0.finishedAt, $0.verdict, $0.toolVersion) }
        }

        struct Run: Encodable {
            var kind: String
            var finishedAt: String
            var verdict: String
            var toolVersion: String
        }

        enum CodingKeys: String, CodingKey { case checkpoint, base, tensors, verifications, notes, steps, lineage, children }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(checkpoint, forKey: .checkpoint)
            try c.encode(base, forKey: .base)
            try c.encode(tensors, forKey: .tensors)
            try c.encode(verifications, forKey: .verifications)
            if !notes.isEmpty { try c.encode(notes, forKey: .notes) }
            try c.encode(steps, forKey: .steps)
            try c.encode(lineage, forKey: .lineage)
            try c.encode(children, forKey: .children)
        }

        /// Fills ``steps``, ``lineage`` and ``children`` from every stored checkpoint.
        mutating func relate(_ all: [CheckpointInfo]) {
            steps = all.filter { $0.name == checkpoint.name }.map(\.step)
            children = all.filter { $0.parent == checkpoint.reference }.map(\.reference)
            let byReference = Dictionary(all.map { ($0.reference, $0) }, uniquingKeysWith: { a, _ in a })
            var next = checkpoint.parent
            // Bounded by the store's size: a parent chain never revisits a checkpoint.
            while let parent = next, lineage.count < all.count, !lineage.contains(parent) {
                lineage.insert(parent, at: 0)
                next = byReference[parent]?.parent
            }
        }
    }

    struct BaseDocument: Encodable {
        var base: BaseInfo
        var tensors: [TensorEntry]
    }

    struct StoreDocument: Encodable {
        var store: String
        var compression: String
        var bases: Int
        var checkpoints: Int
        var blobBytes: Int64
    }

    func run() throws {
        if ref == nil, let summary = try fileSummary() {
            if output.json { return try JSONOutput.print(summary) }
            let heads = summary.layerShape.count == 3 ? ", \(summary.layerShape[0]) key/value heads of \(summary.layerShape[2])" : ""
            print(
                "\(summary.source): \(summary.format == "peft" ? "PEFT adapter" : summary.format) prefix, \(summary.form.rawValue) form, Pn=\(summary.prefixLength), \(summary.layers) layers\(heads), \(summary.dtype)"
            )
            if summary.encoderLayers + summary.crossLayers > 0 {
                print("  encoder layers \(summary.encoderLayers), cross-attention layers \(summary.crossLayers), layout \(summary.layout)")
            }
            if let task = summary.task {
                print("  task: \(task)\(summary.headTensors > 0 ? " (head: \(summary.headTensors) tensors)" : "")")
            }
            if let base = summary.baseModelNameOrPath { print("  base (as the adapter names it): \(base)") }
            if let base = summary.baseFingerprint { print("  exported from base: base:\(base.prefix(12))") }
            if summary.mlpTensors > 0 { print("  MLP: \(summary.mlpTensors) tensors") }
            print("  OK: every tensor read, shapes consistent")
            return
        }
        let opened = try Store.open(at: store.store, lockTimeout: store.lockTimeout)
        guard let ref else {
            let document = StoreDocument(
                store: opened.directory, compression: opened.compression.description,
                bases: try opened.bases().count, checkpoints: try opened.checkpoints().count,
                blobBytes: try opened.blobBytes())
            if output.json { return try JSONOutput.print(document) }
            print(
                "store \(document.store): \(document.bases) base(s), \(document.checkpoints) checkpoint(s), blobs \(Format.bytes(document.blobBytes)), compression \(document.compression)"
            )
            return
        }
        if !ref.hasPrefix("base:"), let checkpoint = try opened.checkpointIfPresent(ref) {
            let base = try opened.base("base:" + checkpoint.baseFingerprint)
            let runs = try opened.runs(of: checkpoint).map {
                CheckpointDocument.Run(kind: $0.kind, finishedAt: $0.finishedAt, verdict: $0.verdict, toolVersion: $0.toolVersion)
            }
            var document = CheckpointDocument(
                checkpoint: checkpoint, base: base, tensors: try opened.tensorEntries(of: checkpoint), verifications: runs,
                notes: checkpoint.sectionNotes(encoderDecoder: base.config.encoderLayers != nil))
            document.relate(try opened.checkpoints())
            if output.json { return try JSONOutput.print(document) }
            printCheckpoint(document)
            return
        }
        let base = try resolveBase(opened, ref)
        let document = BaseDocument(base: base, tensors: try opened.tensorEntries(of: base))
        if output.json { return try JSONOutput.print(document) }
        print("base \(base.shortReference)\(base.alias.map { " (alias \($0))" } ?? "")")
        print("  fingerprint  \(base.fingerprint)")
        printConfig(base.config)
        print(
            "  provenance   \(base.provenance.sourceFormat)\(base.provenance.sourcePath.map { " \($0)" } ?? ""), PrefixKit \(base.provenance.toolVersion), \(base.createdAt)"
        )
        print("  tensors      \(base.tensorCount), \(Format.bytes(base.byteCount))")
        if output.verbose {
            print(
                Format.table(
                    document.tensors.map { [$0.name, "\($0.shape)", $0.dtype.rawValue, String($0.sha256.prefix(16)) + "…"] }, indent: "    "
                ))
        }
    }

    private func resolveBase(_ store: Store, _ ref: String) throws -> BaseInfo {
        let result = Result { () throws(StorageError) -> BaseInfo in try store.base(ref) }
        if case .failure(let error) = result, error.code == .notFound {
            throw StorageError(.notFound, "no checkpoint or base matches '\(Names.printable(ref))'" + store.suggestion(forCheckpoint: ref))
        }
        return try result.get()
    }

    /// The summary of a PEFT adapter or prefix file given where a store goes, or nil for a store
    /// (or anything else, which opening it as a store then reports).
    private func fileSummary() throws -> PrefixFileSummary? {
        let path = Store.normalizePath(store.store)
        guard FileManager.default.fileExists(atPath: path), !FileManager.default.fileExists(atPath: path + "/catalog.sqlite"),
            let kind = try? CheckpointFormats.detect(path), kind.readsStandalone
        else { return nil }
        return try FileConverter.summary(of: path)
    }

    private func printCheckpoint(_ document: CheckpointDocument) {
        let info = document.checkpoint
        print("checkpoint \(info.reference)")
        print("  base         \(document.base.shortReference) (fingerprint \(info.baseFingerprint))")
        printConfig(document.base.config)
        print("  form         \(info.form.rawValue), Pn=\(info.prefixLength), \(info.numLayers) layers")
        print("  positions    prefix rows from \(info.positions.prefixStart), input rows from \(info.positions.inputStart)")
        print(
            "  provenance   \(info.provenance.sourceFormat)\(info.provenance.sourcePath.map { " \($0)" } ?? ""), PrefixKit \(info.provenance.toolVersion), \(info.createdAt)"
        )
        if let parent = info.parent { print("  parent       \(parent)") }
        print("  steps        \(document.steps.map { $0 == info.step ? "\($0) (this)" : "\($0)" }.joined(separator: ", "))")
        if !document.lineage.isEmpty {
            print("  lineage      \((document.lineage + [info.reference + " (this)"]).joined(separator: " -> "))")
        }
        if !document.children.isEmpty { print("  children     \(document.children.joined(separator: ", "))") }
        print("  size         \(Format.bytes(info.byteCount))")
        if !info.tags.isEmpty { print("  tags         \(info.tags.joined(separator: ", "))") }
        print("  mlp          \(info.hasMLP ? "stored" : "none"); probe \(info.hasProbe ? "stored" : "none")")
        if let task = info.task { print("  task         \(task.rawValue)") }
        if document.base.config.encoderLayers != nil {
            let sections = [
                "decoder \(info.numLayers) layers", info.encoderLayers > 0 ? "encoder \(info.encoderLayers)" : "encoder none",
                info.crossLayers > 0 ? "cross \(info.crossLayers)" : "cross none",
            ]
            print("  sections     \(sections.joined(separator: ", ")); layout \(info.layout.rawValue)")
        }
        for note in document.notes { print("  reach        \(note)") }
        for run in document.runs {
            print("  \(run.kind == "verify" ? "verified" : run.kind)     \(run.finishedAt): \(run.verdict) (PrefixKit \(run.toolVersion))")
        }
        print(
            Format.table(
                [["tensor", "shape", "dtype", "bytes", "sha256", "blob"]]
                    + document.tensors.map { entry in
                        [
                            entry.role == "prefix" ? entry.name : "\(entry.role).\(entry.name)", "\(entry.shape)", entry.dtype.rawValue,
                            Format.bytes(entry.byteCount), output.verbose ? entry.sha256 : String(entry.sha256.prefix(16)) + "…",
                            "\(entry.blobPath):\(entry.dataset)",
                        ]
                    }))
    }

    private func printConfig(_ config: ModelConfig) {
        print(
            "  config       \(Format.config(config))\(config.headDim * config.numHeads != config.hiddenSize ? "" : " hd=\(config.headDim)") d_ff=\(config.intermediateSize) \(config.normKind.rawValue)(eps \(config.normEps)) \(config.positionScheme.rawValue) positions=\(config.maxPositions) vocab=\(config.vocabSize) \(config.activation)\(config.ropeTheta.map { " rope_theta=\($0)" } ?? "")"
        )
    }
}
