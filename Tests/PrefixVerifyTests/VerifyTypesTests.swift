import Foundation
import PrefixCore
import PrefixVerify
import Testing

/// The typed parts of a verification report keep the names every report has always used.
@Suite("Verification types")
struct VerifyTypesTests {
    @Test("check kinds encode, decode and print as the reports name them")
    func checkKinds() throws {
        let names = CheckKind.allCases.map(\.rawValue)
        #expect(
            Set(names) == [
                "catalog", "blobs", "structure", "reference", "verdict", "logits", "pooler", "end-to-end", "prefix-rows", "round-trip",
                "self-consistency", "teacher-forced",
            ])
        for kind in CheckKind.allCases {
            #expect("\(kind)" == kind.rawValue)
            let data = try JSONEncoder().encode([kind])
            #expect(String(decoding: data, as: UTF8.self) == "[\"\(kind.rawValue)\"]")
            #expect(try JSONDecoder().decode([CheckKind].self, from: data) == [kind])
        }
        let check = CheckResult(
            check: .teacherForced, layer: 3, section: .encoder, status: .pass, message: "m", evidence: .independentReference)
        #expect(check.place == "encoder layer 3")
    }

    @Test("a reference's compute_dtype picks the tolerance row; anything unknown is f32's")
    func tolerances() {
        #expect(Tolerances.referenceDType("f64") == .f64 && Tolerances.referenceDType("float64") == .f64)
        #expect(Tolerances.referenceDType("bfloat16") == .bf16 && Tolerances.referenceDType("f16") == .f16)
        #expect(Tolerances.referenceDType(nil) == .f32 && Tolerances.referenceDType("f8") == .f32)
        #expect(Tolerances.for(.f64).perLayer == 1e-12 && Tolerances.for(.f64).endToEnd == 1e-10)
        #expect(Tolerances.for(.f32).perLayer == 1e-5 && Tolerances.for(.bf16).endToEnd == 1e-1)
        #expect("\(ComputeDType.f64)" == "f64" && ComputeDType.f32.dtype == .f32)
    }
}
