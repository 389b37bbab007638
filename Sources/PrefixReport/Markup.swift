/// Text for HTML, SVG and XML.
public enum Markup {
    /// `text` made safe inside element content and quoted attributes of HTML, SVG and XML 1.0:
    /// `& < > " '` escaped, and every character XML 1.0 forbids (C0 controls but tab, newline
    /// and carriage return; U+FFFE and U+FFFF) replaced by `?`, so that any XML parser reads it.
    public static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                if isForbidden(scalar) {
                    out += "?"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// Whether XML 1.0 forbids `scalar` (`Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] |
    /// [#xE000-#xFFFD] | [#x10000-#x10FFFF]`; a Swift scalar is never a surrogate).
    public static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x9, 0xA, 0xD: false
        case 0x0..<0x20, 0xFFFE, 0xFFFF: true
        default: false
        }
    }
}
