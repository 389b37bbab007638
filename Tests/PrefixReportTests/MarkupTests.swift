import Foundation
import PrefixReport
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

@Suite("Markup")
struct MarkupTests {
    @Test("every character XML 1.0 forbids is replaced, so an XML parser reads the report")
    func forbiddenCharacters() throws {
        let hostile = "run\u{FFFF}\u{FFFE}\u{1b}]0;T\u{07}<&>\"'\t\n\r\u{10FFFF}é"
        let escaped = Markup.escape(hostile)
        #expect(escaped == "run???]0;T?&lt;&amp;&gt;&quot;&#39;\t\n\r\u{10FFFF}é")
        let document = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><r a=\"\(escaped)\">\(escaped)</r>"
        let parser = XMLParser(data: Data(document.utf8))
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
    }
}
