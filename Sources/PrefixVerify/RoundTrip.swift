import Foundation
import PrefixCompute
import PrefixConvert
import PrefixCore
import PrefixFormats
import PrefixRuntime
import PrefixStore

/// Export and re-read, in a temporary directory, with the same readers `import` uses:
/// bit-identical tensors on the lossless paths and identical recomputed compositions.
enum RoundTrip {
    static func temporary() -> String {
        FileManager.default.temporaryDirectory.path + "/prefixkit-verify-\(UUID().uuidString.prefix(8))"
    }

    static func prefix(_ store: Store, _ info: CheckpointInfo) -> [CheckResult] {
        let dir = temporary()
        defer { Leftovers.discard(dir) }
        var checks: [CheckResult] = []
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let original = try store.load(info)
            let stack = try store.stack(for: info)
            let config = stack.config
            // With a task head, the head's logits are part of what must survive the trip.
            let options = ForwardOptions(logits: !original.head.isEmpty)
            // Computed only for a trip whose file reads back as something other than the stored
            // checkpoint: the same tensors and metadata on the same base compute the same.
            var probe: (input: ForwardInput, result: ForwardResult)?
            func storedRun() throws -> (input: ForwardInput, result: ForwardResult) {
                if let probe { return probe }
                let input = try SelfConsistency.probe(stack)
                let run = (input, try stack.forward(input, as: Float.self, options: options))
                probe = run
                return run
            }
            let exactKV = info.form == .hidden ? try stack.keyValuePrefix() : original
            for format in ExportFormat.allCases where format != .hf {
                let clock = ContinuousClock.now
                // Each result names its format, and the time its trip took.
                func stamped(_ check: CheckResult) -> CheckResult {
                    var check = check
                    (check.subject, check.seconds) = (format.rawValue, CompositionCheck.seconds(since: clock))
                    return check
                }
                if format == .npz, original.layers.contains(where: { $0.parts.contains { NPYHeader.descr(for: $0.tensor.dtype) == nil } }) {
                    checks.append(
                        stamped(
                            CheckResult(
                                check: .roundTrip, status: .skip, message: "npz: NumPy cannot hold this checkpoint's dtype",
                                evidence: .roundTrip)))
                    continue
                }
                // A direct-layout encoder-decoder exports to PEFT only as its exact layer permutation.
                var converted: CheckpointContent?
                if format == .peft, config.encoderLayers != nil, original.layout != .peftSeq2Seq {
                    do {
                        var permuted = exactKV
                        permuted.layers = try Exporter.peftLayers(fromDirect: exactKV, reference: info.reference).layers
                        permuted.layout = .peftSeq2Seq
                        converted = permuted
                    } catch {
                        checks.append(
                            stamped(
                                CheckResult(
                                    check: .roundTrip, status: .skip,
                                    message: "peft: not exportable: \((error as? StorageError)?.message ?? "\(error)")",
                                    evidence: .roundTrip)))
                        continue
                    }
                }
                let out = dir + "/export." + format.rawValue
                // Digests were checked by the blob checks already.
                _ = try Exporter.run(store, reference: info.reference, format: format, out: out, verify: false)
                var back: CheckpointContent
                if format == .peft {
                    let adapter = try PEFTAdapter(path: out)
                    back = CheckpointContent(
                        form: .kv, prefixLength: adapter.config.numVirtualTokens, positions: info.positions, layers: try adapter.layers(),
                        task: adapter.config.taskType.map(TaskType.init(rawValue:)), head: adapter.head)
                    back.layout = adapter.config.layout
                } else {
                    back = try PrefixFile.content(
                        try PrefixFile.read(path: out), path: out, flat: false, tensor: nil, layers: config.numLayers,
                        kvHeads: config.prefixKVHeads, headDim: config.headDim, encoderLayers: config.encoderLayers)
                }
                let expected = format == .peft ? converted ?? exactKV : original
                // Files order tensors their own way (safetensors by name): compared by name.
                let sorted = { (tensors: [NamedTensor]) in tensors.sorted { $0.name < $1.name } }
                let sortedHead = { (content: CheckpointContent) in sorted(content.head) }
                let sameHead = sortedHead(back) == sortedHead(original) && (original.head.isEmpty || back.task == original.task)
                let sameSections =
                    back.layout == expected.layout && back.encoderLayers == expected.encoderLayers
                    && back.crossLayers == expected.crossLayers && (format == .peft || back.encoderPositions == expected.encoderPositions)
                let identical =
                    back.layers == expected.layers && sameSections && (format == .peft || sorted(back.mlp) == sorted(original.mlp))
                    && sameHead
                var headed = exactKV
                (headed.task, headed.head) = (original.task, original.head)
                let differences = RoundTrip.compositionInputsDiffering(back, expected, identical: identical)
                let same: Bool
                if differences.isEmpty {
                    same = true
                } else {
                    let (input, reference) = try storedRun()
                    let rerun = try PrefixStack(config: config, weights: stack.weightSource, prefix: PrefixSource(back)).forward(
                        input, as: Float.self, options: options)
                    let expectedRun =
                        format == .peft && info.form == .hidden
                        ? try PrefixStack(config: config, weights: stack.weightSource, prefix: PrefixSource(headed)).forward(
                            input, as: Float.self, options: options) : reference
                    same = rerun.final == expectedRun.final && rerun.logits == expectedRun.logits
                }
                let compositions =
                    differences.isEmpty
                    ? "compositions identical (not recomputed: the same tensors, positions and head on the same base)"
                    : "compositions \(same ? "identical" : "differ") (recomputed: the \(differences.joined(separator: ", ")) read back differ)"
                let what =
                    (converted != nil
                        ? "the exact layer permutation"
                        : format == .peft && info.form == .hidden ? "the exact key/value conversion" : "the stored prefix")
                    + (original.head.isEmpty ? "" : " and \(original.task?.rawValue ?? "task") head")
                checks.append(
                    stamped(
                        CheckResult(
                            check: .roundTrip, status: identical && same ? .pass : .fail,
                            message:
                                "\(format.rawValue): \(identical ? "bit-identical to \(what)" : "tensors differ from \(what)"); \(compositions)",
                            fix: identical && same ? nil : "report this: a lossless export path changed the tensors", evidence: .roundTrip))
                )
            }
        } catch {
            checks.append(CheckResult(check: .roundTrip, status: .fail, message: "\(error)", evidence: .roundTrip))
        }
        return checks
    }

    /// What of a checkpoint read back differs, among everything its composition reads: none
    /// when the tensors are `identical` and the form, prefix length and positions are the same,
    /// so that determinism settles the composition without recomputing it.
    static func compositionInputsDiffering(_ back: CheckpointContent, _ expected: CheckpointContent, identical: Bool) -> [String] {
        var differing: [String] = []
        if !identical { differing.append("tensors") }
        if back.form != expected.form { differing.append("form") }
        if back.prefixLength != expected.prefixLength { differing.append("prefix length") }
        if back.positions != expected.positions { differing.append("positions") }
        if !back.encoderLayers.isEmpty || !expected.encoderLayers.isEmpty, back.encoderPositions != expected.encoderPositions {
            differing.append("encoder positions")
        }
        return differing
    }

    /// The base exported as an HF directory and read back: every tensor's digest and the
    /// fingerprint unchanged.
    static func base(_ store: Store, _ info: CheckpointInfo) -> [CheckResult] {
        let dir = temporary()
        defer { Leftovers.discard(dir) }
        let clock = ContinuousClock.now
        return base(store, info, dir: dir).map { check in
            var check = check
            (check.subject, check.seconds) = ("hf", CompositionCheck.seconds(since: clock))
            return check
        }
    }

    private static func base(_ store: Store, _ info: CheckpointInfo, dir: String) -> [CheckResult] {
        do {
            let base = try store.base("base:" + info.baseFingerprint)
            _ = try Exporter.run(store, reference: base.shortReference, format: .hf, out: dir, verify: false)
            let directory = try HFModelDirectory(path: dir)
            let stored = Dictionary(uniqueKeysWithValues: try store.tensorEntries(of: base).map { ($0.name, $0.sha256) })
            var differing: [String] = []
            for item in directory.tensors {
                let digest = try item.load().withUnsafeBytes { SHA256Digest.hex(of: $0) }
                if stored[item.name] != digest { differing.append(item.name) }
            }
            let same = differing.isEmpty && directory.tensors.count == stored.count && directory.config == base.config
            return [
                CheckResult(
                    check: .roundTrip, status: same ? .pass : .fail,
                    message: same
                        ? "hf: base \(base.shortReference) exported and read back, \(stored.count) tensors bit-identical"
                        : "hf: \(differing.count) tensor(s) differ after the round trip (\(differing.prefix(3).joined(separator: ", ")))",
                    evidence: .roundTrip)
            ]
        } catch {
            return [CheckResult(check: .roundTrip, status: .fail, message: "hf: \(error)", evidence: .roundTrip)]
        }
    }
}
