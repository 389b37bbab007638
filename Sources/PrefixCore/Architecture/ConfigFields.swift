import Foundation

/// Typed access to the fields of a parsed `config.json` object, with errors naming the field.
///
/// A JSON `null` counts as absent, as transformers treats it.
public struct ConfigFields {
    /// The JSON object, as `JSONSerialization` returns it.
    public let object: [String: Any]

    /// Wraps a parsed JSON object.
    public init(_ object: [String: Any]) { self.object = object }

    /// The raw value of `key`, `nil` when absent or `null`.
    public func value(_ key: String) -> Any? {
        guard let v = object[key], !(v is NSNull) else { return nil }
        return v
    }

    /// Whether `key` is present and not `null`.
    public func has(_ key: String) -> Bool { value(key) != nil }

    /// A required string.
    public func string(_ key: String) throws(ConfigError) -> String {
        guard let v = try optionalString(key) else { throw ConfigError(.missingField, "config.json lacks '\(key)'", field: key) }
        return v
    }

    /// An optional string.
    public func optionalString(_ key: String) throws(ConfigError) -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v as? String else { throw ConfigError(.wrongType, "config.json field '\(key)' must be a string", field: key) }
        return s
    }

    /// The model width and its number of attention heads, read from `width` and `heads`: the
    /// heads must be positive and, unless the family gives each head its own size (`head_dim`),
    /// divide the width.
    ///
    /// - Throws: ``ConfigError`` `.missingField`, `.wrongType` for no positive head count,
    ///   `.inconsistent` for a width the heads do not divide.
    public func widthAndHeads(_ width: String, _ heads: String, divisible: Bool = true) throws(ConfigError) -> (width: Int, heads: Int) {
        let (d, h) = (try int(width), try int(heads))
        guard h > 0 else { throw ConfigError(.wrongType, "\(heads) must be positive", field: heads) }
        if divisible, d % h != 0 { throw ConfigError(.inconsistent, "\(width) \(d) is not a multiple of \(heads) \(h)", field: width) }
        return (d, h)
    }

    /// A required integer.
    public func int(_ key: String) throws(ConfigError) -> Int {
        guard let v = try optionalInt(key) else { throw ConfigError(.missingField, "config.json lacks '\(key)'", field: key) }
        return v
    }

    /// An optional integer (a JSON number with no fractional part, below 1e15 in magnitude).
    public func optionalInt(_ key: String) throws(ConfigError) -> Int? {
        guard let v = value(key) else { return nil }
        guard let n = v as? NSNumber, n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 1e15 else {
            throw ConfigError(.wrongType, "config.json field '\(key)' must be an integer", field: key)
        }
        return n.intValue
    }

    /// A required finite number.
    public func double(_ key: String) throws(ConfigError) -> Double {
        guard let v = try optionalDouble(key) else { throw ConfigError(.missingField, "config.json lacks '\(key)'", field: key) }
        return v
    }

    /// An optional finite number.
    public func optionalDouble(_ key: String) throws(ConfigError) -> Double? {
        guard let v = value(key) else { return nil }
        guard let n = v as? NSNumber, n.doubleValue.isFinite else {
            throw ConfigError(.wrongType, "config.json field '\(key)' must be a number", field: key)
        }
        return n.doubleValue
    }

    /// An optional boolean.
    public func optionalBool(_ key: String) throws(ConfigError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v as? Bool else { throw ConfigError(.wrongType, "config.json field '\(key)' must be true or false", field: key) }
        return b
    }

    /// An optional nested object.
    public func optionalObject(_ key: String) throws(ConfigError) -> ConfigFields? {
        guard let v = value(key) else { return nil }
        guard let o = v as? [String: Any] else { throw ConfigError(.wrongType, "config.json field '\(key)' must be an object", field: key) }
        return ConfigFields(o)
    }
}
