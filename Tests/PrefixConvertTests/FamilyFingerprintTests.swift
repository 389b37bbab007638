import Foundation
import PrefixConvert
import PrefixCore
import PrefixFormats
import TestSupport
import Testing

@testable import PrefixStore

/// A base's fingerprint hashes its configuration's canonical text: every family fixture's base
/// must keep the canonical configuration and the fingerprint it had when its options were fields
/// of `ModelConfig` (`fixtures/families/canonical-configs.tsv`, recorded from the catalogs the
/// release before family options wrote), or every stored checkpoint's `base:FP` stops resolving.
@Suite("Family fingerprints")
struct FamilyFingerprintTests {
    struct Recorded: Sendable, CustomTestStringConvertible {
        let name: String, canonical: String, fingerprint: String
        var testDescription: String { name }

        /// The fixture's base: an HF directory, or (the NumPy engine fixtures) a `config.json`
        /// beside `weights.npz`.
        var base: String {
            let root = Processes.repositoryRoot + "/fixtures"
            return ["families/\(name)/base", "seq2seq/\(name)/base", "peft/\(name)/base", "engine/\(name)"].map { "\(root)/\($0)" }
                .first { FileManager.default.fileExists(atPath: $0 + "/config.json") } ?? "\(root)/families/\(name)/base"
        }

        /// Whether ``base`` is an HF directory an import reads.
        var importable: Bool { !FileManager.default.fileExists(atPath: base + "/weights.npz") }
    }

    static let recorded: [Recorded] = {
        let path = Processes.repositoryRoot + "/fixtures/families/canonical-configs.tsv"
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { line in
            let fields = line.split(separator: "|", maxSplits: 2).map(String.init)
            return Recorded(name: fields[0], canonical: fields.count > 1 ? fields[1] : "", fingerprint: fields.count > 2 ? fields[2] : "")
        }
    }()

    @Test("every family fixture's base keeps its canonical configuration and fingerprint byte for byte", arguments: recorded)
    func unchanged(_ recorded: Recorded) throws {
        let (config, _) = try HFConfig.read(path: recorded.base + "/config.json")
        #expect(try Store.canonicalJSON(config) == recorded.canonical)
        // An engine fixture's weights are NumPy arrays: its canonical text is what the fingerprint hashes.
        guard recorded.importable else { return }
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let report = try Importer.run(store, source: recorded.base)
        #expect(report.base.fingerprint == recorded.fingerprint)
        // The catalog's configuration decodes to the same value, options included.
        #expect(try store.base("base:" + recorded.fingerprint).config == config)
    }

    @Test("every registered family has a recorded fixture")
    func everyFamilyRecorded() throws {
        let families = Set(try Self.recorded.map { try HFConfig.read(path: $0.base + "/config.json").config.family })
        for architecture in Architectures.all {
            #expect(families.contains(architecture.family), "\(architecture.family) has no fixture in canonical-configs.tsv")
        }
    }

    @Test("each family writes its config.json with a JSON encoder, and it reads back as the same configuration", arguments: recorded)
    func configJSONRoundTrip(_ recorded: Recorded) throws {
        let (config, _) = try HFConfig.read(path: recorded.base + "/config.json")
        let written = config.huggingFaceJSON()
        #expect(try JSONSerialization.jsonObject(with: Data(written.utf8)) is [String: Any])
        #expect(try HFConfig.parse(Data(written.utf8)) == config, "\(written)")
    }

    @Test("a configuration of a family this version does not know does not decode")
    func unknownFamily() {
        let json = Data(Self.recorded[0].canonical.replacingOccurrences(of: "\"family\":\"", with: "\"family\":\"x").utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ModelConfig.self, from: json) }
    }
}
