import ArgumentParser
import Foundation
import PrefixKit

/// `prefixkit list`: bases and checkpoints.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the bases and checkpoints in a store.",
        discussion: """
            PATTERN is a shell glob matched against each checkpoint's NAME and NAME@STEP (and each base's alias and \\
            base:FP): 'run*', 'run1@1?'. -q prints only the matching checkpoints' references, one per line.
            """)

    /// The orders `--sort` takes.
    enum SortKey: String, ExpressibleByArgument, CaseIterable {
        case name, step, created, size
    }

    @OptionGroup var store: StoreArgument

    @Argument(help: "Show only what matches this glob (NAME, NAME@STEP, a base's alias or base:FP).")
    var pattern: String?

    @Option(name: .long, help: "Order checkpoints by name (then step), step, created or size (largest first).")
    var sort: SortKey = .name

    @Flag(name: .short, help: "Print only the checkpoints' references (NAME@STEP), one per line.")
    var q = false

    @OptionGroup var output: OutputOptions

    struct Document: Encodable {
        var store: String
        var bases: [BaseInfo]
        var checkpoints: [CheckpointInfo]
    }

    func validate() throws {
        if q && output.json { throw ValidationError("-q and --json each choose the output: pass one") }
    }

    /// Whether `candidates` hold one string that `pattern` matches (all match without a pattern).
    static func matches(_ pattern: String?, _ candidates: [String]) -> Bool {
        guard let pattern else { return true }
        return candidates.contains { fnmatch(pattern, $0, 0) == 0 }
    }

    func run() throws {
        let opened = try Store.open(at: store.store, lockTimeout: store.lockTimeout)
        let bases = try opened.bases().filter {
            Self.matches(pattern, [$0.shortReference, "base:" + $0.fingerprint] + ($0.alias.map { [$0] } ?? []))
        }
        var checkpoints = try opened.checkpoints().filter { Self.matches(pattern, [$0.name, $0.reference]) }
        switch sort {
        case .name: break
        case .step: checkpoints.sort { ($0.step, $0.name) < ($1.step, $1.name) }
        case .created: checkpoints.sort { ($0.createdAt, $0.name, $0.step) < ($1.createdAt, $1.name, $1.step) }
        case .size: checkpoints.sort { ($1.byteCount, $0.name, $0.step) < ($0.byteCount, $1.name, $1.step) }
        }
        if q {
            for info in checkpoints { print(info.reference) }
            return
        }
        if output.json {
            try JSONOutput.print(Document(store: opened.directory, bases: bases, checkpoints: checkpoints))
            return
        }
        print("bases (\(bases.count))")
        if !bases.isEmpty {
            print(
                Format.table(
                    bases.map { base in
                        [
                            base.shortReference, Format.config(base.config), "\(base.tensorCount) tensors", Format.bytes(base.byteCount),
                            base.alias.map { "alias \($0)" } ?? "",
                        ]
                    }))
        }
        print("checkpoints (\(checkpoints.count))")
        if !checkpoints.isEmpty {
            print(
                Format.table(
                    checkpoints.map { info in
                        [
                            "\(info.reference)", info.form.rawValue, "Pn=\(info.prefixLength)", "L=\(info.numLayers)",
                            Format.bytes(info.byteCount), "base:" + info.baseFingerprint.prefix(12), info.createdAt,
                            info.tags.isEmpty ? "" : "tags " + info.tags.joined(separator: ","),
                        ]
                    }))
        }
    }
}
