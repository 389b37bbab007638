import PrefixCore
import Testing

@Suite("Terminal text")
struct TerminalTextTests {
    @Test("control, C1 and bidi characters are shown escaped; plain text is unchanged")
    func escapes() {
        #expect(TerminalText.escape("run-1 tokenizer.json é 日本") == "run-1 tokenizer.json é 日本")
        #expect(TerminalText.escape("dir\u{1b}]0;TITLE\u{07}\u{1b}[2J") == "dir\\u{1b}]0;TITLE\\u{7}\\u{1b}[2J")
        #expect(TerminalText.escape("a\u{9b}b") == "a\\u{9b}b")
        #expect(TerminalText.escape("txt\u{202e}nosj.exe") == "txt\\u{202e}nosj.exe")
        #expect(TerminalText.escape("a\nb") == "a\\u{a}b")
        #expect(TerminalText.escapeLines("a\nb\u{1b}") == "a\nb\\u{1b}")
    }

    @Test("JSON keeps its value: bidi characters become JSON escapes")
    func json() {
        #expect(TerminalText.escapeJSON("{\"n\":\"a\u{202e}b\"}") == "{\"n\":\"a\\u202eb\"}")
        #expect(TerminalText.escapeJSON("{\"n\":\"é\"}") == "{\"n\":\"é\"}")
    }
}
