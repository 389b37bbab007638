public import Foundation
public import PrefixCore

/// Reading a Hugging Face `config.json` into a ``PrefixCore/ModelConfig``.
///
/// This file bounds and parses the JSON; the family that `model_type` names reads its fields
/// (``PrefixCore/Architectures``), accepting the spellings of transformers 4 and 5 and refusing
/// by name, never ignoring, every feature the engine does not compute.
public enum HFConfig {
    /// Parses `config.json` bytes.
    ///
    /// - Throws: ``FormatError`` `.malformedHeader` (not a JSON object, a field of the wrong type),
    ///   `.missingKey` (a required field), `.unsupportedFeature` (an unsupported architecture or feature).
    public static func parse(_ data: Data, path: String? = nil) throws(FormatError) -> ModelConfig {
        guard data.count <= 4 << 20 else { throw FormatError(.headerTooLarge, "config.json is larger than 4 MiB", path: path) }
        let object: [String: Any]
        do {
            guard let parsed = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw FormatError(.malformedHeader, "config.json is not a JSON object", path: path)
            }
            object = parsed
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError(.malformedHeader, "config.json is not valid JSON: \(error.localizedDescription)", path: path)
        }
        do {
            return try Architectures.parse(object)
        } catch {
            let code: FormatError.Code =
                switch error.code {
                case .missingField: .missingKey
                case .wrongType, .inconsistent: .malformedHeader
                case .unsupported: .unsupportedFeature
                }
            throw FormatError(code, error.message, path: path)
        }
    }

    /// Reads and parses `config.json` at `path`.
    ///
    /// - Throws: ``FormatError`` `.io`, and the errors of ``parse(_:path:)``.
    public static func read(path: String) throws(FormatError) -> (config: ModelConfig, json: String) {
        let data = try InputFile.read(path, limit: 4 << 20, what: "config.json")
        return (try parse(data, path: path), String(decoding: data, as: UTF8.self))
    }
}
