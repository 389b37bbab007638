public import PrefixCore

/// Mutations for the seeded fuzz loops: byte flips, truncations, insertions, JSON punctuation,
/// and a run of ASCII digits replaced by an integer extreme (where sizes and offsets overflow).
public enum Mutation {
    /// Numbers at the edges of the integer types PrefixKit computes with.
    public static let extremes = [
        "9223372036854775807", "9223372036854775808", "18446744073709551615", "-9223372036854775808",
        "4294967296", "4294967295", "2147483648", "2147483647", "-1", "0", "1e308", "65536",
    ]

    /// Applies one to three mutations to `bytes`.
    public static func mutate(_ bytes: inout [UInt8], _ random: inout SeededRandom) {
        for _ in 0..<Int(1 + random.next() % 3) {
            guard !bytes.isEmpty else { return }
            let at = Int(random.next() % UInt64(bytes.count))
            switch random.next() % 5 {
            case 0: bytes[at] = UInt8(truncatingIfNeeded: random.next())
            case 1: bytes.removeSubrange(at...)
            case 2: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: at)
            case 3: bytes[at] = [UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: "\""), UInt8(ascii: "9"), 0xff][Int(random.next() % 5)]
            default: replaceNumber(&bytes, near: at, with: extremes[Int(random.next() % UInt64(extremes.count))])
            }
        }
    }

    /// Replaces the first run of ASCII digits at or after `start` (wrapping around) with `text`.
    static func replaceNumber(_ bytes: inout [UInt8], near start: Int, with text: String) {
        let isDigit = { (b: UInt8) in b >= 0x30 && b <= 0x39 }
        let order = Array(start..<bytes.count) + Array(0..<start)
        guard let first = order.first(where: { isDigit(bytes[$0]) }) else { return }
        var end = first
        while end < bytes.count && isDigit(bytes[end]) { end += 1 }
        bytes.replaceSubrange(first..<end, with: Array(text.utf8))
    }
}
