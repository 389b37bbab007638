import Foundation
import PrefixCore
import PrefixStore
import TestSupport
import Testing

@testable import PrefixVerify

/// The round trip: a lossless export read back with the same tensors and metadata settles its
/// composition by determinism; only what reads back differently is recomputed, and says why.
@Suite("Round trip")
struct RoundTripTests {
    @Test("a trip that reads back every tensor and position unchanged is not recomputed, and says so")
    func identicalTripsAreNotRecomputed() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let base = try store.saveBase(Builders.tinyBase(), provenance: Provenance(sourceFormat: "test"))
        for (name, content) in [("hidden", Builders.hiddenPrefix()), ("kv", Builders.kvPrefix())] {
            try store.saveCheckpoint(content, as: CheckpointSpec(name: name, step: 1, base: base.base.shortReference))
            let checks = RoundTrip.prefix(store, try store.checkpoint(name))
            #expect(Set(checks.compactMap(\.subject)) == ["safetensors", "npz", "peft"])
            for check in checks {
                #expect(check.status == .pass, "\(name) \(check.subject ?? ""): \(check.message)")
                #expect(check.message.contains("compositions identical (not recomputed"), "\(name): \(check.message)")
            }
        }
    }

    @Test("each composition input that reads back differently is named, and only then is the composition recomputed")
    func differingInputsAreNamed() {
        let stored = Builders.hiddenPrefix()
        #expect(RoundTrip.compositionInputsDiffering(stored, stored, identical: true).isEmpty)
        #expect(RoundTrip.compositionInputsDiffering(stored, stored, identical: false) == ["tensors"])
        var moved = stored
        moved.positions = PositionConvention(prefixStart: 0, inputStart: 0)
        #expect(stored.positions != moved.positions)
        #expect(RoundTrip.compositionInputsDiffering(moved, stored, identical: true) == ["positions"])
        var shorter = stored
        shorter.prefixLength -= 1
        #expect(RoundTrip.compositionInputsDiffering(shorter, stored, identical: true) == ["prefix length"])
        var kv = stored
        kv.form = .kv
        #expect(RoundTrip.compositionInputsDiffering(kv, stored, identical: false) == ["tensors", "form"])
        var encoder = stored
        encoder.encoderLayers = stored.layers
        var shifted = encoder
        shifted.encoderPositions = PositionConvention(prefixStart: 0, inputStart: 5)
        #expect(RoundTrip.compositionInputsDiffering(shifted, encoder, identical: true) == ["encoder positions"])
    }
}
