import Foundation
import PrefixCore
import Testing

@testable import PrefixFormats

/// An encoder-decoder's prefix file: `prefix.<section>.layer_NN.key/.value` names, the layout and
/// the encoder's positions in the metadata, and one refusal per way a file can be wrong.
@Suite("Prefix files with encoder-decoder sections")
struct PrefixFileSectionTests {
    static let (pn, heads, hd) = (2, 3, 4)

    static func kv(_ seed: Double, pn: Int = pn) -> [Tensor] {
        [0.0, 0.5].map { offset in
            Tensor(shape: [heads, pn, hd], doubles: (0..<(heads * pn * hd)).map { Double($0) * 0.01 + seed + offset })
        }
    }

    /// Tensors for the named sections, `layers` each, with the given metadata.
    static func contents(_ sections: [(String?, Int)], metadata: [String: String] = [:]) -> PrefixFile.Contents {
        var tensors: [NamedTensor] = []
        for (index, (section, layers)) in sections.enumerated() {
            for l in 0..<layers {
                let base = "prefix." + (section.map { $0 + "." } ?? "") + String(format: "layer_%02d", l)
                let pair = kv(Double(index * 10 + l))
                tensors += [NamedTensor(base + ".key", pair[0]), NamedTensor(base + ".value", pair[1])]
            }
        }
        return PrefixFile.Contents(tensors: tensors, metadata: metadata)
    }

    static func read(_ contents: PrefixFile.Contents, layers: Int = 2, encoderLayers: Int? = 3) throws(FormatError) -> CheckpointContent {
        try PrefixFile.content(
            contents, path: "p.safetensors", flat: false, tensor: nil, layers: layers, kvHeads: heads, headDim: hd,
            encoderLayers: encoderLayers)
    }

    /// The message of the error reading `contents` throws.
    static func refusal(_ contents: PrefixFile.Contents, layers: Int = 2, encoderLayers: Int? = 3) -> String {
        do {
            _ = try read(contents, layers: layers, encoderLayers: encoderLayers)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test("three sections read into their places; written back, every name and the layout survive")
    func roundTrip() throws {
        let contents = Self.contents(
            [("encoder", 3), ("decoder", 2), ("cross", 2)], metadata: ["encoder_input_start": "2", "prefix_layout": "direct"])
        let content = try Self.read(contents)
        #expect(content.layers.count == 2 && content.encoderLayers.count == 3 && content.crossLayers.count == 2)
        #expect(content.encoderPositions.inputStart == 2 && content.layout == .direct)
        #expect(content.encoderLayers[1] == .kv(key: Self.kv(1)[0], value: Self.kv(1)[1]))
        #expect(content.crossLayers[0] == .kv(key: Self.kv(20)[0], value: Self.kv(20)[1]))
        let (tensors, metadata) = PrefixFile.entries(content, baseFingerprint: "ab", sectioned: true)
        #expect(Set(tensors.map(\.name)) == Set(contents.tensors.map(\.name)))
        let back = try Self.read(
            PrefixFile.Contents(tensors: tensors, metadata: Dictionary(uniqueKeysWithValues: metadata.map { ($0.key, $0.value) })))
        #expect(back == content)
    }

    @Test("unsectioned names are the decoder section; PEFT's layout is read from the metadata")
    func unsectioned() throws {
        let content = try Self.read(Self.contents([(nil, 2)], metadata: ["prefix_layout": "peft-seq2seq"]))
        #expect(content.layers.count == 2 && content.encoderLayers.isEmpty && content.layout == .peftSeq2Seq)
        let plain = try Self.read(Self.contents([(nil, 2)]), encoderLayers: nil)
        #expect(plain.layout == .direct && plain.layers.count == 2)
    }

    @Test("sections on a one-stack base are refused")
    func sectionsOnOneStack() {
        #expect(Self.refusal(Self.contents([("decoder", 2)]), encoderLayers: nil).contains("the base has one stack"))
    }

    @Test("mixing sectioned and unsectioned names is refused")
    func mixed() {
        #expect(Self.refusal(Self.contents([(nil, 2), ("encoder", 3)])).contains("mixes unsectioned"))
    }

    @Test("an encoder section of the wrong length is refused, naming the section")
    func encoderLength() {
        let message = Self.refusal(Self.contents([("decoder", 2), ("encoder", 2)]))
        #expect(message.contains("prefix.encoder holds 2 layer(s) of prefix, the base has 3"), "\(message)")
    }

    @Test("a cross section of the wrong length is refused")
    func crossLength() {
        #expect(Self.refusal(Self.contents([("decoder", 2), ("cross", 1)])).contains("prefix.cross holds 1 layer(s)"))
    }

    @Test("a hidden-form cross section is refused: cross-attention prefixes are keys and values")
    func hiddenCross() {
        var contents = Self.contents([("decoder", 2)])
        contents.tensors = [
            NamedTensor("prefix.decoder.layer_00", Tensor(shape: [Self.pn, 12], doubles: Array(repeating: 1, count: 24))),
            NamedTensor("prefix.decoder.layer_01", Tensor(shape: [Self.pn, 12], doubles: Array(repeating: 1, count: 24))),
            NamedTensor("prefix.cross.layer_00", Tensor(shape: [Self.pn, 12], doubles: Array(repeating: 1, count: 24))),
            NamedTensor("prefix.cross.layer_01", Tensor(shape: [Self.pn, 12], doubles: Array(repeating: 1, count: 24))),
        ]
        #expect(Self.refusal(contents).contains("the cross section is hidden form"))
    }

    @Test("a section whose Pn differs from the decoder's is refused")
    func sectionPrefixLength() {
        var contents = Self.contents([("decoder", 2)])
        for l in 0..<2 {
            let pair = Self.kv(Double(l), pn: 3)
            contents.tensors += [
                NamedTensor("prefix.cross.layer_0\(l).key", pair[0]), NamedTensor("prefix.cross.layer_0\(l).value", pair[1]),
            ]
        }
        #expect(Self.refusal(contents).contains("the cross section's prefix length differs"))
    }

    @Test("PEFT's layout with an encoder or cross section is refused")
    func peftWithSections() {
        let contents = Self.contents([("decoder", 2), ("cross", 2)], metadata: ["prefix_layout": "peft-seq2seq"])
        #expect(Self.refusal(contents).contains("prefix_layout is peft-seq2seq"))
    }

    @Test("an unknown prefix_layout is refused, listing the known ones")
    func unknownLayout() {
        let message = Self.refusal(Self.contents([(nil, 2)], metadata: ["prefix_layout": "sideways"]))
        #expect(message.contains("prefix_layout is 'sideways'") && message.contains("peft-seq2seq"), "\(message)")
    }

    @Test("an encoder-decoder layout on a one-stack base is refused")
    func layoutOnOneStack() {
        let message = Self.refusal(Self.contents([(nil, 2)], metadata: ["prefix_layout": "peft-seq2seq"]), encoderLayers: nil)
        #expect(message.contains("an encoder-decoder layout, but the base has one stack"), "\(message)")
    }

    @Test("an encoder section without a decoder section is refused")
    func noDecoder() {
        #expect(Self.refusal(Self.contents([("encoder", 3)])).contains("holds no decoder section"))
    }

    @Test("section names are parsed strictly")
    func names() {
        #expect(PrefixFile.parsePrefixName("prefix.cross.layer_07.value")! == (.cross, 7, "value"))
        #expect(PrefixFile.parsePrefixName("prefix.layer_07")! == (nil, 7, ""))
        for bad in ["prefix.crosss.layer_00.key", "prefix.encoder.layer_0.key", "prefix.decoder.layer_00.query", "prefix.decoder"] {
            #expect(PrefixFile.parsePrefixName(bad) == nil, "\(bad)")
        }
    }
}
