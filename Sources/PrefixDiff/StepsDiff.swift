public import PrefixCore
public import PrefixStore

/// Every step of one checkpoint name compared with its first step and with the step before:
/// how far each layer moved during training.
public struct StepsDiff: Sendable, Codable {
    /// One stored layer part's distances across the steps.
    public struct Track: Sendable, Codable, Hashable {
        /// `encoder`, `decoder` or `cross`.
        public var section: PrefixSection
        /// The stored layer.
        public var layer: Int
        /// `hidden`, `key` or `value`.
        public var part: String
        /// Relative L2 distance from the first step, one per step (0 at the first); nil where
        /// that step was not compared.
        public var fromFirst: [Double?]
        /// Relative L2 distance from the step before, one per step (nil at the first).
        public var fromPrevious: [Double?]
    }

    /// The checkpoint name.
    public var name: String
    /// The steps, in order.
    public var steps: [Int]
    /// `hidden` or `kv`: the space compared in (key/value when the steps' forms differ).
    public var space: String
    /// Steps left out, with the reason (another base, another prefix length).
    public var notes: [String]
    /// One track per layer part.
    public var tracks: [Track]
}

extension Differ {
    /// Compares every step of `name` with its first step and with the step before it, in
    /// key/value space when the steps' forms differ.
    ///
    /// - Throws: ``PrefixStore/StorageError`` `.notFound` for an unknown name, `.invalidArgument`
    ///   for a name with one step; what ``diff(_:_:_:)-(Store,CheckpointInfo,CheckpointInfo)`` throws.
    public static func steps(_ store: Store, name: String) throws -> StepsDiff {
        let latest = try store.checkpoint(name)
        let all = try store.checkpoints().filter { $0.name == latest.name }.sorted { $0.step < $1.step }
        guard all.count >= 2, let first = all.first else {
            throw StorageError(
                .invalidArgument,
                "\(latest.name) has one step (\(latest.step)): --steps compares two or more; diff two checkpoints instead",
                reference: latest.reference)
        }
        let space: PrefixForm = Set(all.map(\.form)).count == 1 ? first.form : .kv
        var cache = ContentCache(store: store)
        var result = StepsDiff(name: latest.name, steps: all.map(\.step), space: space.rawValue, notes: [], tracks: [])
        var index: [String: Int] = [:]
        func track(_ item: LayerDistance) -> Int {
            let key = "\(item.section.rawValue) \(item.layer) \(item.part)"
            if let found = index[key] { return found }
            result.tracks.append(
                StepsDiff.Track(
                    section: item.section, layer: item.layer, part: item.part, fromFirst: Array(repeating: nil, count: all.count),
                    fromPrevious: Array(repeating: nil, count: all.count)))
            index[key] = result.tracks.count - 1
            return result.tracks.count - 1
        }
        for (i, info) in all.enumerated() where i > 0 {
            let fromFirst = try diff(first, info, cache: &cache, space: space)
            result.notes += fromFirst.notes.map { "step \(info.step) against step \(first.step): \($0)" }
            for item in fromFirst.layers {
                let t = track(item)
                result.tracks[t].fromFirst[0] = 0
                result.tracks[t].fromFirst[i] = item.distance.relativeL2
            }
            let fromPrevious = i == 1 ? fromFirst : try diff(all[i - 1], info, cache: &cache, space: space)
            for item in fromPrevious.layers { result.tracks[track(item)].fromPrevious[i] = item.distance.relativeL2 }
        }
        return result
    }
}
