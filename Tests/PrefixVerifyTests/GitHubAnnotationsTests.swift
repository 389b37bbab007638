import Testing

@testable import PrefixVerify

@Suite("GitHub annotations")
struct GitHubAnnotationsTests {
    @Test("workflow command values escape %, newlines, ':' and ','; control characters from a store are shown escaped")
    func escapes() {
        #expect(
            GitHubAnnotations.command("error", title: "verify run@1: teacher-forced layer 2, decoder", message: "100% off\nfix: retrain")
                == "::error title=verify run@1%3A teacher-forced layer 2%2C decoder::100%25 off%0Afix: retrain")
        #expect(
            GitHubAnnotations.command("warning", title: "t", message: "run\u{1b}]0;x\u{07}") == "::warning title=t::run\\u{1b}]0;x\\u{7}")
    }
}
