import Foundation
public import PrefixCore

/// An HF Trainer output directory: `checkpoint-<n>/` subdirectories, each holding what the
/// trainer saved (the adapter, `trainer_state.json`, and pickled optimizer, scheduler, RNG and
/// argument files, which are never opened).
public struct TrainerRun: Sendable {
    /// One saved checkpoint of the run.
    public struct Step: Sendable {
        /// Its directory.
        public var directory: String
        /// Its step and what the trainer logged since the previous saved step.
        public var record: TrainingRecord
    }

    /// The run directory.
    public let path: String
    /// Every saved checkpoint, by step.
    public let steps: [Step]

    /// The largest `trainer_state.json` read (long runs log a few MB).
    public static let maxStateBytes = 64 << 20
    /// The most checkpoints a run may hold.
    public static let maxSteps = 100_000

    /// The `checkpoint-<n>` subdirectories of `path`, by `n`.
    static func checkpointDirectories(_ path: String) -> [(Int, String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("checkpoint-"), let n = Int(name.dropFirst("checkpoint-".count)), n >= 0 else { return nil }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &isDirectory), isDirectory.boolValue else {
                return nil
            }
            return (n, name)
        }.sorted { $0.0 < $1.0 }
    }

    /// Whether `path` is a Trainer run directory (it holds `checkpoint-<n>/` subdirectories).
    public static func detect(_ path: String) -> Bool { !checkpointDirectories(path).isEmpty }

    /// Reads the run at `path`: each checkpoint's `trainer_state.json` (its `global_step`, else
    /// the directory's number) and the `log_history` entries since the previous checkpoint.
    ///
    /// - Throws: ``FormatError`` `.malformedJSON` / `.inconsistent` naming the file and field,
    ///   `.inconsistent` for two checkpoints with one step, `.tooManyTensors` past ``maxSteps``.
    public init(path: String) throws(FormatError) {
        self.path = path
        let directories = Self.checkpointDirectories(path)
        guard directories.count <= Self.maxSteps else {
            throw FormatError(.tooManyTensors, "more than \(Self.maxSteps) checkpoint directories", path: path)
        }
        var steps: [Step] = []
        var previous = -1
        var seen: [Int: String] = [:]
        for (number, name) in directories {
            let directory = try InputFile.contained(path, name)
            let statePath = directory + "/trainer_state.json"
            var globalStep = number
            var epoch: Double?
            var log: [TrainerLogEntry] = []
            if FileManager.default.fileExists(atPath: statePath) {
                let data = [UInt8](
                    try InputFile.read(
                        try InputFile.contained(directory, "trainer_state.json", root: path), limit: Self.maxStateBytes,
                        what: "trainer_state.json"))
                let json: JSONValue
                do { json = try BoundedJSON.parse(data) } catch {
                    var error = error
                    error.path = statePath
                    throw error
                }
                guard case .object(let fields) = json else {
                    throw FormatError(.malformedJSON, "trainer_state.json is not a JSON object", path: statePath)
                }
                func field(_ key: String) -> JSONValue? { fields.first { $0.key == key }?.value }
                if let value = field("global_step") {
                    guard case .number(let text) = value, let step = Int(text), step >= 0 else {
                        throw FormatError(
                            .inconsistent, "global_step is not a non-negative integer", path: statePath, member: "global_step")
                    }
                    globalStep = step
                }
                if case .number(let text)? = field("epoch") { epoch = Double(text) }
                if case .array(let entries)? = field("log_history") {
                    for case .object(let entry) in entries {
                        var values: [String: Double] = [:]
                        for (key, value) in entry {
                            if case .number(let text) = value, let v = Double(text), v.isFinite { values[key] = v }
                        }
                        guard let step = values.removeValue(forKey: "step").flatMap({ Int(exactly: $0) }), step > previous,
                            step <= globalStep
                        else { continue }
                        log.append(
                            TrainerLogEntry(
                                step: step, epoch: values.removeValue(forKey: "epoch"), loss: values.removeValue(forKey: "loss"),
                                learningRate: values.removeValue(forKey: "learning_rate"), other: values))
                    }
                }
            }
            if let other = seen[globalStep] {
                throw FormatError(.inconsistent, "\(other) and \(name) both hold step \(globalStep)", path: path, member: name)
            }
            seen[globalStep] = name
            steps.append(Step(directory: directory, record: TrainingRecord(globalStep: globalStep, epoch: epoch, log: log)))
            previous = globalStep
        }
        self.steps = steps.sorted { $0.record.globalStep < $1.record.globalStep }
    }
}
