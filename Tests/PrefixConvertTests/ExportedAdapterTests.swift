import Foundation
import PrefixCompute
import PrefixConvert
import PrefixCore
import PrefixFormats
import PrefixRuntime
import PrefixStore
import TestSupport
import Testing

/// Adapters PrefixKit exports load in PEFT and give the outputs PrefixKit computes: PEFT 0.21.2
/// itself computed `exported_expected.npz` from the committed `exported_adapter/`
/// (fixtures/generate_peft.py --prefixkit).
@Suite("Exported PEFT adapters against PEFT")
struct ExportedAdapterTests {
    @Test(
        "the export is reproducible, and PEFT's logits on it equal PrefixKit's for the hidden checkpoint",
        arguments: ["gpt2-tiny", "llama-gqa-tiny"])
    func matchesPEFT(model: String) throws {
        let dir = Processes.repositoryRoot + "/fixtures/peft/\(model)"
        let tmp = TemporaryDirectory()
        let store = try Store.create(at: tmp.path + "/s")
        var options = ImportOptions()
        options.base = dir + "/base"
        let info = try #require(try Importer.run(store, source: dir + "/hidden_prefix.npz", options: options).checkpoint)
        #expect(info.form == .hidden && info.prefixLength == 3)
        _ = try Exporter.run(store, reference: info.reference, format: .peft, out: tmp.path + "/adapter")
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: tmp.path + "/adapter/adapter_model.safetensors"))
                == Data(contentsOf: URL(fileURLWithPath: dir + "/exported_adapter/adapter_model.safetensors")))

        let peft = try ActivationExchange.read(path: dir + "/exported_expected.npz")
        let input = try ForwardInput(ids: try #require(peft.inputIDs), mask: peft.attentionMask)
        let mask = input.mask
        // The hidden checkpoint in f64 against PEFT on the exported float32 keys/values: the
        // rounding of K/V to float32 bounds the agreement at float32 level.
        let hidden = try store.stack(for: info).forward(input, as: Double.self, options: ForwardOptions(logits: true))
        let hiddenError = Closeness.relativeError(try #require(hidden.logits), try #require(peft.logits)) { b, r in mask[b][r] }
        #expect(hiddenError <= 1e-5, "hidden checkpoint vs PEFT: \(hiddenError)")
        // The exported adapter re-imported: the very same keys/values, so f64 agreement (RoPE:
        // HF's float32 angles).
        var again = ImportOptions()
        again.base = "base:" + info.baseFingerprint
        let kv = try #require(try Importer.run(store, source: tmp.path + "/adapter", options: again).checkpoint)
        let exported = try store.stack(for: kv).forward(input, as: Double.self, options: ForwardOptions(logits: true))
        let kvError = Closeness.relativeError(try #require(exported.logits), try #require(peft.logits)) { b, r in mask[b][r] }
        #expect(kvError <= (model.hasPrefix("llama") ? 1e-6 : 1e-10), "exported adapter vs PEFT: \(kvError)")
    }
}
