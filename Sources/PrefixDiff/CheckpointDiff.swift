import PrefixCompute
public import PrefixCore
import PrefixRuntime
public import PrefixStore

/// One layer's part (hidden rows, keys or values) compared.
public struct LayerDistance: Sendable, Codable, Hashable {
    /// `encoder`, `decoder` or `cross`.
    public var section: PrefixSection
    /// The stored layer.
    public var layer: Int
    /// `hidden`, `key` or `value`.
    public var part: String
    /// The whole tensor.
    public var distance: TensorDistance
    /// Per key/value head (key/value form: `[Hkv, Pn, hd]`); empty for hidden rows.
    public var heads: [TensorDistance]
}

/// Two checkpoints compared layer by layer.
public struct CheckpointDiff: Sendable, Codable {
    /// The checkpoints (`NAME@STEP`).
    public var a: String, b: String
    /// Their bases' fingerprints.
    public var baseA: String, baseB: String
    /// Whether they share a base; checkpoints on different bases are reported, not compared.
    public var sameBase: Bool
    /// `hidden` or `kv`: the space compared in (key/value when the forms differ).
    public var space: String
    /// How a checkpoint was brought into that space (hidden -> key/value, exact).
    public var conversions: [String]
    /// Why parts were not compared (different prefix lengths, a section only one has).
    public var notes: [String]
    /// Every compared layer part, by section, layer and part.
    public var layers: [LayerDistance]

    /// The largest relative L2 distance over every part, 0 when nothing was compared.
    public var largestRelativeL2: Double { layers.map(\.distance.relativeL2).max() ?? 0 }
    /// Whether every compared tensor is equal value for value.
    public var identical: Bool { sameBase && notes.isEmpty && layers.allSatisfy(\.distance.isZero) }
}

/// Compares stored checkpoints.
public enum Differ {
    /// Compares `a` with `b` (`NAME`, `NAME@STEP`): their bases first (different bases are
    /// reported, not compared), then every layer of every section both hold, and each key/value
    /// head. When one is in hidden form and the other in key/value form, the hidden one is
    /// converted to keys and values exactly (in f64) and they are compared there.
    ///
    /// - Throws: ``PrefixStore/StorageError`` for an unknown checkpoint or a tensor whose digest
    ///   does not match (every tensor is verified as it is read), and the engine's errors of the
    ///   conversion.
    public static func diff(_ store: Store, _ a: String, _ b: String) throws -> CheckpointDiff {
        try diff(store, try store.checkpoint(a), try store.checkpoint(b))
    }

    /// Compares two checkpoints (see ``diff(_:_:_:)-(Store,String,String)``).
    public static func diff(_ store: Store, _ a: CheckpointInfo, _ b: CheckpointInfo) throws -> CheckpointDiff {
        var cache = ContentCache(store: store)
        return try diff(a, b, cache: &cache, space: a.form == b.form ? a.form : .kv)
    }

    /// Loaded checkpoint content, in each form asked for once.
    struct ContentCache {
        let store: Store
        var loaded: [String: CheckpointContent] = [:]

        mutating func content(_ info: CheckpointInfo, in form: PrefixForm) throws -> CheckpointContent {
            let key = "\(info.reference) \(form.rawValue)"
            if let found = loaded[key] { return found }
            let content =
                info.form == form || form == .hidden
                ? try store.load(info, verify: true) : try store.stack(for: info, verify: true).keyValuePrefix()
            loaded[key] = content
            return content
        }
    }

    static func diff(_ a: CheckpointInfo, _ b: CheckpointInfo, cache: inout ContentCache, space: PrefixForm) throws -> CheckpointDiff {
        var result = CheckpointDiff(
            a: a.reference, b: b.reference, baseA: a.baseFingerprint, baseB: b.baseFingerprint,
            sameBase: a.baseFingerprint == b.baseFingerprint, space: space.rawValue, conversions: [], notes: [], layers: [])
        guard result.sameBase else {
            result.notes.append(
                "the checkpoints apply to different bases (base:\(a.baseFingerprint.prefix(12)), base:\(b.baseFingerprint.prefix(12))): their prefixes are not compared"
            )
            return result
        }
        for info in [a, b] where info.form != space {
            result.conversions.append("\(info.reference): hidden -> key/value (exact: norm, key/value projections, RoPE; in f64)")
        }
        let left = try cache.content(a, in: space), right = try cache.content(b, in: space)
        guard left.prefixLength == right.prefixLength else {
            result.notes.append("the prefix lengths differ (Pn \(left.prefixLength), \(right.prefixLength)): no layer is compared")
            return result
        }
        if left.layout != right.layout {
            result.notes.append(
                "the layouts differ (\(left.layout.rawValue), \(right.layout.rawValue)): stored layer l feeds different blocks in each")
        }
        for section in [PrefixSection.encoder, .decoder, .cross] {
            let x = left.layers(section), y = right.layers(section)
            if x.isEmpty != y.isEmpty {
                result.notes.append(
                    "only \(x.isEmpty ? b.reference : a.reference) has a\(section == .encoder ? "n" : "") \(section.rawValue) section")
                continue
            }
            for (l, (p, q)) in zip(x, y).enumerated() {
                for (partA, partB) in zip(p.parts, q.parts) where partA.tensor.shape == partB.tensor.shape {
                    // Keys and values [Hkv, Pn, hd]: each head too, in the same pass.
                    let shape = partA.tensor.shape.dimensions
                    let heads = shape.count == 3 && shape[0] > 1 ? shape[0] : 1
                    let (whole, groups) = TensorDistance.grouped(partA.tensor, partB.tensor, groups: heads)
                    result.layers.append(
                        LayerDistance(
                            section: section, layer: l, part: partA.suffix.isEmpty ? "hidden" : partA.suffix, distance: whole,
                            heads: heads > 1 ? groups : []))
                }
            }
        }
        return result
    }
}
