/// An error raised while reading a model's `config.json` or deriving its blocks from it: a field
/// is missing or of the wrong type, the fields disagree, or the model asks for something the
/// engine does not compute (refused by name, never ignored).
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, one code per kind of rejection.
    public enum Code: String, Sendable {
        /// A required field is absent.
        case missingField
        /// A field has the wrong JSON type or an impossible value.
        case wrongType
        /// Fields disagree with each other.
        case inconsistent
        /// A family or a feature the engine does not implement.
        case unsupported
    }

    /// The stable code.
    public var code: Code
    /// A human-readable sentence naming the field or feature.
    public var message: String
    /// The field concerned, if one is.
    public var field: String?

    /// Creates an error.
    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    /// A refusal of a feature by name: "config feature NAME ... is not implemented".
    public static func notImplemented(_ feature: String, family: ArchitectureFamily, detail: String = "") -> ConfigError {
        ConfigError(
            .unsupported, "config feature \(feature) is not implemented for \(family)\(detail.isEmpty ? "" : " (\(detail))")",
            field: feature.split(separator: "=").first.map(String.init))
    }

    /// The refusal of a task head a family does not have.
    public static func noTaskHead(_ task: TaskType, family: ArchitectureFamily) -> ConfigError {
        ConfigError(.unsupported, "\(task) task heads are not implemented for \(family)", field: "task_type")
    }

    /// The message.
    public var description: String { message }
}
