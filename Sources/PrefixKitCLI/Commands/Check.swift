import ArgumentParser
import PrefixKit

/// `prefixkit check`: integrity of the catalog and every blob and digest.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a store: catalog integrity, every blob's structure, every tensor's digest, leftovers.",
        discussion: "Exits 1 when the store is damaged; leftovers that gc removes are warnings only.")

    @OptionGroup var store: StoreArgument
    @OptionGroup var output: OutputOptions
    @OptionGroup var progress: ProgressOptions

    @Flag(name: .long, help: "Skip recomputing digests (structure and sizes only).")
    var quick = false

    @Flag(name: .long, help: "Do not record the result in the catalog.")
    var noRecord = false

    func run() throws {
        let opened = try Store.open(at: store.store, lockTimeout: store.lockTimeout)
        let bar = Progress("checking", mode: progress.mode)
        let report = try opened.check(digests: !quick, record: !noRecord, isolation: InspectBlobs.isolation, progress: bar.update)
        bar.finish()
        if output.json {
            try JSONOutput.print(report)
        } else {
            print(
                "check \(report.store): \(report.bases) base(s), \(report.checkpoints) checkpoint(s), \(report.blobs) blob(s), \(report.tensors) tensor(s)"
            )
            print(
                "  digests: \(quick ? "skipped (--quick)" : "\(report.tensorsHashed) tensors, \(Format.bytes(report.bytesHashed)) hashed")")
            for finding in report.findings {
                var line = "  \(finding.severity) [\(finding.check)] \(finding.code.rawValue): \(finding.message)"
                if let tensor = finding.tensor { line += "; tensor '\(tensor)'" }
                if let owners = finding.owners, !owners.isEmpty { line += "; used by \(owners.joined(separator: ", "))" }
                if let path = finding.path { line += "; file \(path)" }
                print(line)
            }
            print(
                report.passed
                    ? "OK\(report.findings.isEmpty ? "" : " (warnings only)")"
                    : "FAILED: \(report.findings.filter { $0.severity == "error" }.count) error(s)")
        }
        if !report.passed { throw CommandFailure(status: .finding) }
    }
}
