import Foundation
import PrefixKit
import TestSupport
import Testing

/// AdapterHub (`adapters` 1.3.0) prefix-tuning adapters (`fixtures/adapterhub`, made by the
/// package itself): imported from their pickled `pytorch_adapter.bin`, and verified against the
/// package's own outputs, which the verifier explains as a causal mask that is not offset by the
/// prefix.
@Suite("AdapterHub prefix tuning")
struct AdapterHubTests {
    static let root = Processes.repositoryRoot + "/fixtures/adapterhub"
    static let base = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny/base"

    @Test(
        "MLP and flat adapters import, and verify names what adapters computes: a causal mask not offset by the prefix",
        arguments: ["mlp", "flat"])
    func importsAndDiagnoses(mode: String) throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let run = try Processes.prefixkit(["import", store, "\(Self.root)/\(mode)/adapter", "--base", Self.base, "--name", "ah"])
        #expect(run.status == 0 && run.stdout.contains("AdapterHub prefix-tuning adapter 'prefix'"), "\(run.stdout)\(run.stderr)")
        let verify = try VerifyRun.checkpoint(store, "ah", reference: "\(Self.root)/\(mode)/reference.npz")
        #expect(verify.status == 1)
        let checkpoint = verify.report
        let diagnosis = try #require(checkpoint["diagnosis"] as? [String: Any], "\(checkpoint)")
        #expect(diagnosis["bug"] as? String == "causal_mask_not_offset" && diagnosis["layer"] as? Int == 0, "\(diagnosis)")
        #expect(try Processes.validateJSON(verify.json, schema: "verify.schema.json").status == 0)
        let inspect = try Processes.prefixkit(["inspect", store, "ah"])
        #expect(inspect.stdout.contains("input rows from 0") && inspect.stdout.contains("mlp          stored"), "\(inspect.stdout)")
    }

    /// A copy of the MLP adapter with `edit` applied to its config's `config` object.
    static func edited(_ dir: TemporaryDirectory, _ edit: (inout [String: Any]) -> Void) throws -> String {
        let adapter = dir.path + "/adapter"
        try FileManager.default.copyItem(atPath: Self.root + "/mlp/adapter", toPath: adapter)
        let path = adapter + "/adapter_config.json"
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        var config = try #require(object["config"] as? [String: Any])
        edit(&config)
        object["config"] = config
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        return adapter
    }

    @Test("gated prefix tuning and layers left out are refused, naming the field", arguments: ["use_gating", "leave_out"])
    func refused(field: String) throws {
        let dir = TemporaryDirectory()
        let adapter = try Self.edited(dir) { config in
            if field == "use_gating" { config["use_gating"] = true } else { config["leave_out"] = [1] }
        }
        let run = try Processes.prefixkit(["import", dir.path + "/s", adapter, "--base", Self.base])
        #expect(run.status == 3 && run.stderr.contains("(\(field))"), "\(run.status) \(run.stderr)")
    }

    @Test(
        "a BART adapter fills the encoder, decoder and cross sections: the encoder agrees with adapters, its decoder has the unoffset causal mask"
    )
    func bart() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let run = try Processes.prefixkit([
            "import", store, Self.root + "/bart/adapter", "--base", Processes.repositoryRoot + "/fixtures/seq2seq/bart/base", "--name", "b",
        ])
        #expect(run.status == 0 && run.stdout.contains("cross, encoder, self"), "\(run.stdout)\(run.stderr)")
        let checkpoint = try VerifyRun.checkpoint(store, "b", reference: Self.root + "/bart/reference.npz").report
        let checks = checkpoint["checks"] as? [[String: Any]] ?? []
        let encoder = checks.filter { $0["check"] as? String == "teacher-forced" && $0["section"] as? String == "encoder" }
        #expect(encoder.count == 2 && encoder.allSatisfy { $0["status"] as? String == "pass" }, "\(encoder)")
        let diagnosis = try #require(checkpoint["diagnosis"] as? [String: Any])
        #expect(
            diagnosis["bug"] as? String == "causal_mask_not_offset" && diagnosis["section"] as? String == "decoder"
                && diagnosis["layer"] as? Int == 0,
            "\(diagnosis)")
    }

    @Test("an encoder-decoder AdapterHub adapter on a one-stack base is refused")
    func bartOnOneStack() throws {
        let dir = TemporaryDirectory()
        let run = try Processes.prefixkit(["import", dir.path + "/s", Self.root + "/bart/adapter", "--base", Self.base])
        #expect(
            run.status == 3 && run.stderr.contains("encoder-decoder prefix (encoder_prefix, cross_prefix) on the one-stack gpt2 base"),
            "\(run.stderr)")
    }
}
