public import PrefixCore

/// The header of a `.npy` file: magic `\x93NUMPY`, version, header length, and a Python dict
/// literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces
/// and ended by a newline so that the data starts at a multiple of 64.
///
/// Parsing treats the header as hostile: its length is capped, only the three keys are
/// accepted, the dtype must be on a whitelist (no objects, no pickles), and the shape must not
/// overflow.
public struct NPYHeader: Sendable, Equatable {
    /// The largest header PrefixKit reads (NumPy itself refuses headers over 10,000 bytes by default).
    public static let maxHeaderLength = 65_536

    /// What an array holds.
    public enum Element: Sendable, Equatable {
        /// Numbers of a PrefixKit dtype.
        case numeric(DType)
        /// Fixed-width Unicode strings of `count` UTF-32 code units (`<U{count}`).
        case unicode(count: Int)
    }

    /// The element type.
    public var element: Element
    /// Whether the data is in Fortran (column-major) order.
    public var fortranOrder: Bool
    /// The dimensions.
    public var shape: [Int]
    /// The byte offset of the data.
    public var dataOffset: Int

    /// The data's byte count, overflow-checked.
    public func dataByteCount() throws(FormatError) -> Int {
        let width: Int
        switch element {
        case .numeric(let dtype): width = dtype.byteWidth
        case .unicode(let count): width = count * 4
        }
        var total = width
        for d in shape {
            let (p, o) = total.multipliedReportingOverflow(by: d)
            guard !o else { throw FormatError(.invalidShape, "shape \(shape) overflows the byte count") }
            total = p
        }
        return total
    }

    /// NumPy's `descr` for a PrefixKit dtype (`nil` for bf16 and f8, which NumPy lacks).
    public static func descr(for dtype: DType) -> String? {
        switch dtype {
        case .f64: "<f8"
        case .f32: "<f4"
        case .f16: "<f2"
        case .i64: "<i8"
        case .i32: "<i4"
        case .i16: "<i2"
        case .i8: "|i1"
        case .u64: "<u8"
        case .u32: "<u4"
        case .u16: "<u2"
        case .u8: "|u1"
        case .bool: "|b1"
        case .bf16, .f8e4m3, .f8e5m2: nil
        }
    }

    /// Parses the header at the start of `bytes`.
    ///
    /// - Throws: ``FormatError`` `.badMagic`, `.unsupportedVersion`, `.truncated`,
    ///   `.headerTooLarge`, `.malformedHeader`, `.unsupportedDType`, `.invalidShape`.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(FormatError) -> NPYHeader {
        let magic: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]
        guard bytes.count >= 10 else { throw FormatError(.truncated, "file too short for a .npy header (\(bytes.count) bytes)") }
        guard Array(bytes[0..<6]) == magic else { throw FormatError(.badMagic, "not a .npy file (bad magic)") }
        let major = bytes[6]
        let length: Int
        let start: Int
        switch major {
        case 1:
            length = Int(bytes[8]) | Int(bytes[9]) << 8
            start = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw FormatError(.truncated, "file too short for a .npy v\(major) header") }
            length = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            start = 12
        default:
            throw FormatError(.unsupportedVersion, ".npy format version \(major).\(bytes[7]) is not supported (1, 2, 3 are)")
        }
        guard length <= maxHeaderLength else {
            throw FormatError(.headerTooLarge, ".npy header of \(length) bytes exceeds the cap of \(maxHeaderLength)")
        }
        guard start + length <= bytes.count else {
            throw FormatError(.truncated, ".npy header claims \(length) bytes, the file has \(bytes.count - start)")
        }
        guard let text = String(validating: Array(bytes[start..<(start + length)]), as: UTF8.self) else {
            throw FormatError(.malformedHeader, ".npy header is not valid UTF-8")
        }
        var header = try parseDictionary(text)
        header.dataOffset = start + length
        return header
    }

    /// Serialises a version-1 header (version 2 when it does not fit), padded to 64 bytes.
    public func encoded() -> [UInt8] {
        let descr: String
        switch element {
        case .numeric(let dtype): descr = NPYHeader.descr(for: dtype) ?? "<u1"
        case .unicode(let count): descr = "<U\(count)"
        }
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(descr)', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': \(shapeText), }"
        var prefixLength = 10
        if dict.utf8.count + 11 > 65_535 { prefixLength = 12 }
        let padding = (64 - (prefixLength + dict.utf8.count + 1) % 64) % 64
        dict += String(repeating: " ", count: padding) + "\n"
        let length = dict.utf8.count
        var out: [UInt8] = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, prefixLength == 10 ? 1 : 2, 0]
        out += prefixLength == 10 ? [UInt8(length & 0xff), UInt8(length >> 8)]
            : [UInt8(length & 0xff), UInt8((length >> 8) & 0xff), UInt8((length >> 16) & 0xff), UInt8(length >> 24)]
        return out + Array(dict.utf8)
    }

    // MARK: - The dict literal

    private static func parseDictionary(_ text: String) throws(FormatError) -> NPYHeader {
        var scanner = LiteralScanner(text)
        var descr: String?, fortran: Bool?, shape: [Int]?
        try scanner.expect("{")
        while !scanner.consume("}") {
            let key = try scanner.string()
            try scanner.expect(":")
            switch key {
            case "descr": descr = try scanner.string()
            case "fortran_order": fortran = try scanner.boolean()
            case "shape": shape = try scanner.tuple()
            default: throw FormatError(.malformedHeader, ".npy header has an unexpected key '\(key)'")
            }
            if !scanner.consume(",") {
                try scanner.expect("}")
                break
            }
        }
        guard scanner.atEnd else { throw FormatError(.malformedHeader, ".npy header has text after the dict") }
        guard let descr, let fortran, let shape else {
            throw FormatError(.malformedHeader, ".npy header lacks one of 'descr', 'fortran_order', 'shape'")
        }
        let element = try element(for: descr)
        var header = NPYHeader(element: element, fortranOrder: fortran, shape: shape, dataOffset: 0)
        _ = try header.dataByteCount()
        header.dataOffset = 0
        return header
    }

    private static func element(for descr: String) throws(FormatError) -> Element {
        let table: [String: DType] = [
            "<f8": .f64, "<f4": .f32, "<f2": .f16, "<i8": .i64, "<i4": .i32, "<i2": .i16, "|i1": .i8, "<i1": .i8,
            "<u8": .u64, "<u4": .u32, "<u2": .u16, "|u1": .u8, "<u1": .u8, "|b1": .bool,
        ]
        if let dtype = table[descr] { return .numeric(dtype) }
        if descr.hasPrefix("<U"), let count = Int(descr.dropFirst(2)), (1...1_000_000).contains(count) { return .unicode(count: count) }
        if descr.hasPrefix(">") { throw FormatError(.unsupportedDType, "big-endian dtype '\(descr)' is not supported (save little-endian)") }
        if descr.hasPrefix("|O") || descr.contains("O") {
            throw FormatError(.unsupportedDType, "object arrays ('\(descr)') are refused: they need pickle")
        }
        if descr.hasPrefix("<V") || descr.hasPrefix("|V") {
            throw FormatError(.unsupportedDType, "raw void dtype '\(descr)' is refused (bfloat16 from ml_dtypes is stored this way: save it as float32 or uint16)")
        }
        throw FormatError(.unsupportedDType, "dtype '\(descr)' is not supported")
    }
}

/// A tiny scanner for the Python literals of a `.npy` header.
private struct LiteralScanner {
    private let chars: [Character]
    private var index = 0

    init(_ text: String) { chars = Array(text) }

    var atEnd: Bool {
        mutating get {
            skipSpace()
            return index == chars.count
        }
    }

    private mutating func skipSpace() {
        while index < chars.count, chars[index] == " " || chars[index] == "\n" || chars[index] == "\t" { index += 1 }
    }

    mutating func consume(_ c: Character) -> Bool {
        skipSpace()
        if index < chars.count, chars[index] == c {
            index += 1
            return true
        }
        return false
    }

    mutating func expect(_ c: Character) throws(FormatError) {
        guard consume(c) else { throw FormatError(.malformedHeader, ".npy header: expected '\(c)' at character \(index)") }
    }

    mutating func string() throws(FormatError) -> String {
        skipSpace()
        guard index < chars.count, chars[index] == "'" || chars[index] == "\"" else {
            throw FormatError(.malformedHeader, ".npy header: expected a string at character \(index)")
        }
        let quote = chars[index]
        index += 1
        var out = ""
        while index < chars.count, chars[index] != quote {
            out.append(chars[index])
            index += 1
            if out.count > 256 { throw FormatError(.malformedHeader, ".npy header: string too long") }
        }
        guard index < chars.count else { throw FormatError(.malformedHeader, ".npy header: unterminated string") }
        index += 1
        return out
    }

    mutating func boolean() throws(FormatError) -> Bool {
        skipSpace()
        for (word, value) in [("True", true), ("False", false)] where chars[index...].starts(with: word) {
            index += word.count
            return value
        }
        throw FormatError(.malformedHeader, ".npy header: expected True or False at character \(index)")
    }

    mutating func tuple() throws(FormatError) -> [Int] {
        try expect("(")
        var values: [Int] = []
        while !consume(")") {
            skipSpace()
            var digits = ""
            while index < chars.count, chars[index].isNumber || (digits.isEmpty && chars[index] == "-") {
                digits.append(chars[index])
                index += 1
                if digits.count > 19 { throw FormatError(.invalidShape, ".npy header: dimension too large") }
            }
            // Python 2 headers may write longs as 3L.
            _ = consume("L")
            guard let value = Int(digits) else { throw FormatError(.malformedHeader, ".npy header: expected a dimension at character \(index)") }
            guard value >= 0 else { throw FormatError(.invalidShape, ".npy header: negative dimension \(value)") }
            values.append(value)
            guard values.count <= 32 else { throw FormatError(.invalidShape, ".npy header: more than 32 dimensions") }
            if !consume(",") {
                try expect(")")
                break
            }
        }
        return values
    }
}
