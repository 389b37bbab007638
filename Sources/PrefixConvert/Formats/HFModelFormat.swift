import Foundation
import PrefixCore
import PrefixFormats
import PrefixStore

/// A Hugging Face model directory (`config.json` and safetensors): a base model, or P-Tuning v2's
/// prefix encoder saved with its model.
struct HFModelFormat: CheckpointFormat {
    let listing = FormatListing("hf", "Hugging Face model directory", .directory, holdsBase: true)

    func detect(_ path: String) -> Bool { HFModelDirectory.detect(path) }

    func importSource(_ source: ImportSource, into store: Store, progress: ProgressHandler?) throws -> ImportReport {
        let directory = try HFModelDirectory(path: source.path, linkRoot: source.linkRoot)
        if let ptuning = try PTuningV2Checkpoint.recognise(directory, configJSON: directory.configJSON) {
            return try Importer.importPTuningV2(store, directory, ptuning, source: source.path, options: source.options, progress: progress)
        }
        let (result, skipped) = try Importer.importBase(
            store, directory, alias: source.options.alias, hub: source.options.hub, progress: progress)
        return ImportReport(
            detected: description + (directory.sharded ? " (sharded)" : ""), source: source.path, base: result.base,
            baseCreated: result.created, checkpoint: nil, skipped: skipped, bytesWritten: result.summary.bytesWritten)
    }

    let fuzzEntries = [
        FuzzEntry("hfconfig") { bytes, _ in _ = try HFConfig.parse(Data(bytes)) },
        FuzzEntry("safetensors") { bytes, _ in
            // The header parse, then every tensor's bytes read back from an in-memory copy.
            let parsed = try SafetensorsFile.parse(bytes)
            var touched = 0
            for entry in parsed.entries where entry.range.upperBound + parsed.dataStart <= bytes.count {
                touched &+= Int(bytes[parsed.dataStart + entry.range.lowerBound..<parsed.dataStart + entry.range.upperBound].reduce(0, &+))
            }
            _ = touched
        },
    ]
}
