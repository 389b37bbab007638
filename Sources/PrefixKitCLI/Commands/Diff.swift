import ArgumentParser
import Foundation
import PrefixKit

/// `prefixkit diff`: how far two checkpoints, or the steps of one name, are apart, per layer.
struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two checkpoints, or every step of one name, layer by layer.",
        discussion: """
            Per layer (and per section, part and key/value head): max |a - b|, relative L2 ||a - b|| / max(||a||, ||b||) \
            and cosine. Checkpoints on different bases are reported, not compared; when one is in hidden form and the \
            other in key/value form, the hidden one is converted exactly and they are compared as keys and values. \
            With --steps, every step of NAME is compared with its first step and with the step before; --html draws \
            how far each layer moved. Every tensor is checked against its digest as it is read.
            """)

    @OptionGroup var store: StoreArgument

    @Argument(help: "A checkpoint (NAME or NAME@STEP); with --steps, the name whose steps to compare.")
    var a: String

    @Argument(help: "The checkpoint to compare it with (not with --steps).")
    var b: String?

    @Flag(name: .long, help: "Compare every step of A's name with its first step and with the step before.")
    var steps = false

    @Option(name: .long, help: "Also write the comparison as an HTML page with its charts.")
    var html: String?

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if steps && b != nil {
            throw ValidationError("--steps compares the steps of one name: pass NAME alone, or two checkpoints without --steps")
        }
        if !steps && b == nil { throw ValidationError("diff needs two checkpoints (A B), or one name with --steps") }
        try ReportPath.validate("--html", html, outside: [store.store])
    }

    func run() throws {
        let opened = try Store.open(at: store.store, lockTimeout: store.lockTimeout)
        if steps {
            let diff = try Differ.steps(opened, name: a)
            if let html { try DiffPage.steps(diff).write(toFile: html, atomically: true, encoding: .utf8) }
            if output.json { return try JSONOutput.print(Document(mode: "steps", pair: nil, steps: diff)) }
            printSteps(diff)
            return
        }
        let diff = try Differ.diff(opened, a, b ?? "")
        if let html { try DiffPage.pair(diff).write(toFile: html, atomically: true, encoding: .utf8) }
        if output.json { return try JSONOutput.print(Document(mode: "pair", pair: diff, steps: nil)) }
        printPair(diff)
    }

    /// The `--json` document: one of the two comparisons (schemas/diff.schema.json).
    struct Document: Encodable {
        var mode: String
        var pair: CheckpointDiff?
        var steps: StepsDiff?
    }

    private func printPair(_ diff: CheckpointDiff) {
        print("diff \(diff.a) \(diff.b)")
        print(
            diff.sameBase
                ? "  base         the same: base:\(diff.baseA.prefix(12))"
                : "  base         DIFFERENT: base:\(diff.baseA.prefix(12)) and base:\(diff.baseB.prefix(12))")
        for line in diff.conversions { print("  converted    \(line)") }
        for note in diff.notes { print("  note         \(note)") }
        guard !diff.layers.isEmpty else { return }
        print("  space        \(diff.space == "kv" ? "key/value" : "hidden")")
        var rows = [["section", "layer", "part", "max |a-b|", "relative L2", "cosine", "heads (relative L2)"]]
        for item in diff.layers {
            let d = item.distance
            rows.append([
                item.section.rawValue, String(item.layer), item.part, SVGChart.number(d.maxAbs), SVGChart.number(d.relativeL2),
                d.cosine.map(SVGChart.number) ?? "-", item.heads.map { SVGChart.number($0.relativeL2) }.joined(separator: " "),
            ])
        }
        print(Format.table(rows))
        print(
            diff.identical
                ? "identical: every tensor equal value for value"
                : "largest relative L2 distance \(SVGChart.number(diff.largestRelativeL2))")
    }

    private func printSteps(_ diff: StepsDiff) {
        print(
            "diff \(diff.name) --steps: steps \(diff.steps.map(String.init).joined(separator: ", ")) (relative L2 from step \(diff.steps.first ?? 0))"
        )
        for note in diff.notes { print("  note  \(note)") }
        var rows = [["section", "part", "layer"] + diff.steps.map { "@\($0)" }]
        for track in diff.tracks {
            rows.append(
                [track.section.rawValue, track.part, String(track.layer)] + track.fromFirst.map { $0.map(SVGChart.number) ?? "-" })
        }
        print(Format.table(rows))
        if let html { print("wrote \(html)") }
    }
}
