import Foundation
import PrefixCore

/// A save manifest (`manifests/base-<FP>.json`, `manifests/checkpoint-<key>.json`) parsed and
/// checked, independent of any catalog: the format, a header naming one base or checkpoint,
/// rows of the manifest tables only, each about that object, every value within
/// ``StoreRules``. A second catalog implementation replays the same parsed rows.
public struct StoreManifest: Sendable {
    /// `base` or `checkpoint`.
    public var kind: String
    /// `base:<FP>` or `NAME@STEP`.
    public var reference: String
    /// The base's fingerprint (a checkpoint's base).
    public var base: String
    /// The checkpoint's name and step (nil for a base).
    public var checkpoint: (name: String, step: Int)?
    /// The parent checkpoint (`NAME@STEP`), if any.
    public var parent: String?
    /// When the save that wrote it committed, as written (ISO 8601), if recorded.
    public var writtenAt: String?
    /// The rows per table, every value checked.
    public var rows: [String: [[String: StoreValue]]]

    /// Parses and checks a manifest's bytes.
    ///
    /// - Throws: ``StoreRuleError``: `.unreadableManifest` when the bytes are not a PrefixKit
    ///   manifest, the rule's own code when a value breaks it.
    public static func parse(_ bytes: [UInt8]) throws(StoreRuleError) -> StoreManifest {
        func unreadable(_ why: String) -> StoreRuleError {
            StoreRuleError(.unreadableManifest, field: "manifest", value: "", rule: why)
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw unreadable("is not a JSON object")
        }
        guard object["format"] as? String == "prefixkit-manifest", let kind = object["kind"] as? String,
            let base = object["base"] as? String, let tables = object["rows"] as? [String: Any]
        else { throw unreadable("is not a PrefixKit manifest (format, kind, base, rows)") }
        try StoreRules.digest(base, field: "manifest base")
        var manifest = StoreManifest(
            kind: kind, reference: "base:" + base, base: base, checkpoint: nil, parent: nil,
            writtenAt: object["written_at"] as? String, rows: [:])
        if let writtenAt = manifest.writtenAt { try StoreRules.text(writtenAt, field: "manifest written_at", maxBytes: 64) }
        switch kind {
        case "base": break
        case "checkpoint":
            guard let text = object["checkpoint"] as? String else { throw unreadable("names no checkpoint") }
            manifest.checkpoint = try StoreRules.reference(text, field: "manifest checkpoint")
            manifest.reference = text
            if let value = object["parent"] {
                guard let parent = value as? String else {
                    throw StoreRuleError(.malformedValue, field: "manifest parent", value: "\(value)", rule: "is not text")
                }
                _ = try StoreRules.reference(parent, field: "manifest parent")
                manifest.parent = parent
            }
        default:
            throw StoreRuleError(.unreadableManifest, field: "manifest kind", value: kind, rule: "is neither base nor checkpoint")
        }
        for (table, value) in tables {
            guard StoreRules.manifestTables.contains(table) else {
                throw StoreRuleError(.hostileValue, field: "manifest table", value: table, rule: "is not a table a manifest holds")
            }
            guard let list = value as? [[String: Any]] else { throw unreadable("holds rows of \(table) that are not a list of objects") }
            var converted: [[String: StoreValue]] = []
            for row in list {
                var typed: [String: StoreValue] = [:]
                for (column, value) in row {
                    guard let value = StoreValue(json: value) else {
                        throw StoreRuleError(
                            .malformedValue, field: "\(table).\(column)", value: "\(value)", rule: "is no value a column holds")
                    }
                    typed[column] = value
                }
                try StoreRules.row(typed, table: table)
                try manifest.owns(typed, table: table)
                converted.append(typed)
            }
            manifest.rows[table] = converted
        }
        if manifest.rows[kind]?.count != 1 { throw unreadable("does not hold exactly one \(kind) row") }
        return manifest
    }

    /// Whether a row is about this manifest's own base or checkpoint: a manifest restores what
    /// it names, never rows of another object.
    func owns(_ row: [String: StoreValue], table: String) throws(StoreRuleError) {
        func expect(_ column: String, _ value: String) throws(StoreRuleError) {
            guard row[column]?.text == value else {
                throw StoreRuleError(
                    .hostileValue, field: "\(table).\(column)", value: row[column]?.text ?? "null",
                    rule: "is not \(value.prefix(40)), the object this manifest records")
            }
        }
        switch (kind, table) {
        case ("base", "base"): try expect("fingerprint", base)
        case ("base", "base_tensor"), ("base", "base_file"): try expect("base_fingerprint", base)
        case ("checkpoint", "checkpoint"):
            try expect("base_fingerprint", base)
            let text = "\(row["name"]?.text ?? "")@\(row["step"]?.integer.map(String.init) ?? "")"
            guard text == reference else {
                throw StoreRuleError(
                    .hostileValue, field: "checkpoint.name", value: text, rule: "is not \(reference), the checkpoint this manifest records")
            }
        case ("base", "blob"), ("base", "tensor"), ("base", "model"), ("checkpoint", "blob"), ("checkpoint", "tensor"),
            ("checkpoint", "checkpoint_tag"), ("checkpoint", "checkpoint_tensor"):
            break
        default:
            throw StoreRuleError(.hostileValue, field: "manifest table", value: table, rule: "is not a table a \(kind) manifest holds")
        }
    }
}

extension StoreValue {
    /// A value of a manifest row as `JSONSerialization` gives it; nil for what no column holds.
    public init?(json value: Any) {
        switch value {
        case is NSNull: self = .null
        case let s as String: self = .text(s)
        case let n as NSNumber:
            // Integers come back from JSON as whole numbers; REAL columns (eps, theta) as fractions.
            let d = n.doubleValue
            if d == d.rounded(), abs(d) < 9.0e15, String(describing: n).contains(".") == false {
                self = .integer(n.int64Value)
            } else {
                self = .real(d)
            }
        case let object as [String: String]:
            guard object.count == 1, let text = object["blob"], let data = Data(base64Encoded: text) else { return nil }
            self = .bytes([UInt8](data))
        default: return nil
        }
    }
}
