import Foundation
import PrefixKit

/// Text formatting for human-readable output.
enum Format {
    /// `1.5 MB`, `120 KB`, `512 B` (powers of 1000, as disk sizes are usually quoted).
    static func bytes(_ count: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(count)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: value >= 100 ? "%.0f %@" : "%.1f %@", value, units[unit])
    }

    /// `1.2 GB/s` for `bytes` in `seconds`.
    static func rate(_ bytes: Int64, _ seconds: Double) -> String {
        seconds > 0 ? Format.bytes(Int64(Double(bytes) / seconds)) + "/s" : "-"
    }

    /// Milliseconds with one decimal.
    static func ms(_ seconds: Double) -> String { String(format: "%.1f ms", seconds * 1000) }

    /// Left-aligned columns separated by two spaces.
    static func table(_ rows: [[String]], indent: String = "  ") -> String {
        guard let width = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: width)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            indent
                + row.enumerated().map { i, cell in
                    i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// A model config in one line.
    static func config(_ config: ModelConfig) -> String {
        var text = "\(config.family.rawValue) L=\(config.numLayers) d=\(config.hiddenSize) H=\(config.numHeads)"
        if config.numKVHeads != config.numHeads { text += " Hkv=\(config.numKVHeads)" }
        if config.headDim * config.numHeads != config.hiddenSize { text += " hd=\(config.headDim)" }
        if let encoder = config.encoderLayers { text += " encoder L=\(encoder)" }
        return text
    }
}

/// Writes a JSON document to stdout with snake_case keys and sorted keys.
enum JSONOutput {
    static func print(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let data = Data(TerminalText.escapeJSON(String(decoding: try encoder.encode(value), as: UTF8.self)).utf8)
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }
}
