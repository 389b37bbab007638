import Foundation
import PrefixCompute
import PrefixCore
import PrefixFormats
import PrefixStore

/// An HF Trainer output directory (`checkpoint-<step>/`, each a prefix source).
struct TrainerRunFormat: CheckpointFormat {
    let listing = FormatListing("trainer-run", "HF Trainer run", .directory)

    func detect(_ path: String) -> Bool { TrainerRun.detect(path) }

    func importSource(_ source: ImportSource, into store: Store, progress: ProgressHandler?) throws -> ImportReport {
        try importRun(store, run: try TrainerRun(path: source.path), options: source.options, progress: progress)
    }

    /// Imports every saved step of a Trainer run as steps of one checkpoint name (the run
    /// directory's, or `options.name`), each the parent of the next, with what the trainer
    /// logged as provenance. Steps already stored under that name are left as they are, so a
    /// second import of a growing run adds only its new steps. Every new step is read and checked
    /// before the first is written.
    func importRun(_ store: Store, run: TrainerRun, options: ImportOptions, progress: ProgressHandler?) throws -> ImportReport {
        let name = options.name ?? Importer.defaultName(run.path)
        try Names.validate(name: name, kind: "checkpoint name")
        if options.step != nil {
            throw StorageError(.invalidArgument, "a Trainer run's steps come from its trainer_state.json files: --step does not apply")
        }
        let stored = Set(try store.checkpoints().filter { $0.name == name }.map(\.step))
        let new = run.steps.filter { !stored.contains($0.record.globalStep) }
        for step in new {
            // Read (not written) first: a broken step stops the run before anything is stored.
            let kind = try CheckpointFormats.detect(step.directory)
            guard kind is PEFTAdapterFormat || kind is PrefixFileFormat else {
                throw FormatError(
                    .notImportable, "\((step.directory as NSString).lastPathComponent) holds a \(kind.description), not a prefix adapter",
                    path: step.directory)
            }
            _ = try PEFTAdapter(path: step.directory)
        }
        var created: [CheckpointInfo] = []
        var bytes: Int64 = 0
        var baseCreated = false
        var parent = options.parent
        var last: ImportReport?
        for step in run.steps {
            let reference = "\(name)@\(step.record.globalStep)"
            guard !stored.contains(step.record.globalStep) else {
                parent = reference
                continue
            }
            var stepOptions = options
            stepOptions.name = name
            stepOptions.step = step.record.globalStep
            stepOptions.parent = parent
            stepOptions.training = step.record
            if let first = last, stepOptions.base == nil {
                // The base the first new step was bound to, and how: not fingerprinted again per step.
                (stepOptions.base, stepOptions.binding) = ("base:" + first.base.fingerprint, first.baseBinding)
            }
            let report = try Importer.run(store, source: step.directory, options: stepOptions, progress: progress)
            if let checkpoint = report.checkpoint { created.append(checkpoint) }
            bytes += report.bytesWritten
            baseCreated = baseCreated || report.baseCreated
            parent = reference
            last = report
        }
        let existing = run.steps.map(\.record.globalStep).filter { stored.contains($0) }
        guard var report = last else {
            guard let latest = try store.checkpointIfPresent(name) else {
                throw FormatError(.missingKey, "the run holds no checkpoint directory", path: run.path)
            }
            return ImportReport(
                detected: description, source: run.path, base: try store.base("base:" + latest.baseFingerprint),
                baseCreated: false, checkpoint: nil, skipped: [], bytesWritten: 0,
                notes: [
                    "every step of the run is stored already (\(existing.map { "\(name)@\($0)" }.joined(separator: ", "))): nothing to add"
                ],
                steps: [], existingSteps: existing)
        }
        report.detected = description + " (\(run.steps.count) saved step(s))"
        report.source = run.path
        report.bytesWritten = bytes
        report.baseCreated = baseCreated
        report.steps = created
        report.existingSteps = existing
        if !existing.isEmpty {
            report.notes.append(
                "step(s) \(existing.map(String.init).joined(separator: ", ")) of \(name) were stored already and were left as they are; added \(created.map { String($0.step) }.joined(separator: ", "))"
            )
        }
        return report
    }
}
