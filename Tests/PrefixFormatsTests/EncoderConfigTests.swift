import Foundation
import PrefixCore
import PrefixFormats
import Testing

/// The encoder families' `config.json`: what they read, the position rule each chooses, and every
/// feature they can set that the engine does not compute, refused by name (one case each).
@Suite("Encoder config.json reading and refusals")
struct EncoderConfigTests {
    static let bert =
        #""model_type": "bert", "num_hidden_layers": 1, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16, "vocab_size": 8"#
    static let roberta = bert.replacingOccurrences(of: "\"bert\"", with: "\"roberta\"")
    static let distilbert =
        #""model_type": "distilbert", "n_layers": 1, "dim": 8, "n_heads": 2, "hidden_dim": 8, "max_position_embeddings": 16, "vocab_size": 8"#

    static func json(_ base: String, _ extra: String) -> String { extra.isEmpty ? "{\(base)}" : "{\(base), \(extra)}" }
    static func parse(_ json: String) throws -> ModelConfig { try HFConfig.parse(Data(json.utf8)) }

    @Test(
        "unimplemented encoder features are refused by name",
        arguments: [
            (json(bert, #""is_decoder": true"#), "is_decoder=true"),
            (json(bert, #""add_cross_attention": true"#), "add_cross_attention=true"),
            (json(bert, #""position_embedding_type": "relative_key""#), "position_embedding_type=relative_key"),
            (json(bert, #""hidden_act": "mish""#), "activation 'mish'"),
            (json(roberta, #""pad_token_id": 15"#), "pad_token_id 15 leaves no positions"),
            (json(bert, #""hidden_size": 9"#), "hidden_size 9 is not a multiple of num_attention_heads 2"),
            (json(distilbert, #""dim": 9"#), "dim 9 is not a multiple of n_heads 2"),
            (#"{"model_type": "deberta-v2", "hidden_size": 8}"#, "model_type 'deberta-v2' is refused: DeBERTa's disentangled"),
            (#"{"model_type": "deberta", "hidden_size": 8}"#, "PEFT cannot run a prefix-tuning adapter on it"),
        ])
    func refused(json: String, mention: String) {
        let error = #expect(throws: FormatError.self) { try Self.parse(json) }
        #expect(error?.description.contains(mention) == true, "\(String(describing: error))")
    }

    @Test("each encoder reads its position rule, token types, and (RoBERTa) the positions left after the padding rows")
    func positionRules() throws {
        let bert = try Self.parse(Self.json(Self.bert, #""type_vocab_size": 3"#))
        let bertRecipe = try Architectures.recipe(for: bert)
        #expect(bertRecipe.inputPositions == .column && bertRecipe.isBidirectional && bertRecipe.finalNorm == nil)
        #expect(bertRecipe.tokenTypes?.count == 3 && bert.maxPositions == 16 && bertRecipe.pooler != nil)

        let roberta = try Self.parse(Self.json(Self.roberta, #""pad_token_id": 1"#))
        let robertaRecipe = try Architectures.recipe(for: roberta)
        #expect(robertaRecipe.inputPositions == .skippingPaddingIDs(paddingID: 1) && roberta.maxPositions == 14)
        #expect(robertaRecipe.positions == .learned(table: "embeddings.position_embeddings.weight", offset: 2))

        let electra = try Self.parse(
            Self.json(Self.bert.replacingOccurrences(of: "\"bert\"", with: "\"electra\""), #""embedding_size": 4"#))
        let electraRecipe = try Architectures.recipe(for: electra)
        #expect(electraRecipe.embeddingWidth(modelWidth: 8) == 4 && electraRecipe.pooler == nil)
        #expect(electraRecipe.embeddingProjection?.name == "embeddings_project")

        let distilbert = try Self.parse(Self.json(Self.distilbert, ""))
        let distilRecipe = try Architectures.recipe(for: distilbert)
        #expect(distilRecipe.inputPositions == .column && distilRecipe.tokenTypes == nil && distilbert.normEps == 1e-12)
    }

    @Test("a synthetic config of each encoder reads back as the same configuration")
    func configRoundTrip() throws {
        for json in [Self.json(Self.bert, ""), Self.json(Self.roberta, ""), Self.json(Self.distilbert, "")] {
            let config = try Self.parse(json)
            #expect(try Self.parse(config.huggingFaceJSON()) == config, "\(config.family)")
        }
    }
}
