/// Reading the rotary-embedding fields that every RoPE family's `config.json` shares, in the
/// spellings of transformers 4 (`rope_theta`, `rope_scaling: {type | rope_type, ...}`,
/// `partial_rotary_factor`) and 5 (`rope_parameters: {rope_theta, rope_type, ...}`).
struct RotaryConfig {
    var theta: Double
    var scaling: RopeScaling?
    var partialRotaryFactor: Double?

    /// The scaling types the engine computes.
    static let implementedTypes = ["linear", "dynamic", "llama3", "yarn"]

    /// Reads the fields; `defaultTheta` applies when neither spelling gives one.
    ///
    /// - Throws: ``ConfigError`` `.unsupported` for a scaling type outside
    ///   ``implementedTypes`` (`longrope`, ...), `.missingField` for a parameter the type needs.
    init(_ fields: ConfigFields, defaultTheta: Double = 10000) throws(ConfigError) {
        let parameters = try fields.optionalObject("rope_parameters")
        var theta = try fields.optionalDouble("rope_theta")
        if theta == nil { theta = try parameters?.optionalDouble("rope_theta") }
        self.theta = theta ?? defaultTheta
        var partial = try fields.optionalDouble("partial_rotary_factor")
        if partial == nil { partial = try parameters?.optionalDouble("partial_rotary_factor") }
        partialRotaryFactor = partial == 1 ? nil : partial
        var source = try fields.optionalObject("rope_scaling")
        if source == nil, let parameters, try parameters.optionalString("rope_type") != "default" { source = parameters }
        guard let source else { return }
        var named = try source.optionalString("type")
        if named == nil { named = try source.optionalString("rope_type") }
        let type = named ?? "?"
        if type == "default" { return }
        guard Self.implementedTypes.contains(type) else {
            throw ConfigError(
                .unsupported, "rope_scaling type '\(type)' is not implemented (\(Self.implementedTypes.joined(separator: ", ")))",
                field: "rope_scaling")
        }
        guard let factor = try source.optionalDouble("factor"), factor > 0 else {
            throw ConfigError(.missingField, "rope_scaling type '\(type)' needs a positive 'factor'", field: "rope_scaling")
        }
        var scaling = RopeScaling(type: type, factor: factor)
        switch type {
        case "llama3":
            scaling.lowFreqFactor = try source.optionalDouble("low_freq_factor")
            scaling.highFreqFactor = try source.optionalDouble("high_freq_factor")
            scaling.originalMaxPositions = try source.optionalInt("original_max_position_embeddings")
            guard let low = scaling.lowFreqFactor, let high = scaling.highFreqFactor, low > 0, high > low,
                (scaling.originalMaxPositions ?? 0) > 0
            else {
                throw ConfigError(
                    .missingField,
                    "rope_scaling type 'llama3' needs low_freq_factor > 0, high_freq_factor > low_freq_factor and original_max_position_embeddings",
                    field: "rope_scaling")
            }
        case "yarn":
            var original = try source.optionalInt("original_max_position_embeddings")
            if original == nil { original = try fields.optionalInt("original_max_position_embeddings") }
            scaling.originalMaxPositions = original
            scaling.attentionFactor = try source.optionalDouble("attention_factor")
            scaling.mscale = try source.optionalDouble("mscale")
            scaling.mscaleAllDim = try source.optionalDouble("mscale_all_dim")
            scaling.betaFast = try source.optionalDouble("beta_fast")
            scaling.betaSlow = try source.optionalDouble("beta_slow")
            scaling.truncate = try source.optionalBool("truncate")
        default: break
        }
        self.scaling = scaling
    }

    /// The recipe for heads of `headDim`, of which the fraction `partial` rotates (the rotated
    /// part rounded down to even, as HF's `int()` of `hd * factor` and its pairwise frequencies
    /// give), in pairs `(2i, 2i+1)` when `interleaved`.
    static func recipe(_ config: ModelConfig, partial: Double? = nil, interleaved: Bool? = nil) -> RotaryRecipe {
        let rotated = Int(Double(config.headDim) * (partial ?? 1))
        return RotaryRecipe(
            theta: config.ropeTheta ?? 10000, rotatedDims: rotated, interleaved: interleaved ?? false, scaling: config.ropeScaling)
    }

    /// Refuses what the engine cannot rotate.
    static func check(_ config: ModelConfig, partial: Double? = nil) throws(ConfigError) {
        let rotated = Int(Double(config.headDim) * (partial ?? 1))
        guard rotated >= 2, rotated % 2 == 0, rotated <= config.headDim else {
            throw ConfigError(
                .inconsistent,
                "partial_rotary_factor \(partial ?? 1) gives \(rotated) rotated dimensions of head_dim \(config.headDim); need an even number >= 2",
                field: "partial_rotary_factor")
        }
        if let scaling = config.ropeScaling, !implementedTypes.contains(scaling.type) {
            throw ConfigError(.unsupported, "rope_scaling type '\(scaling.type)' is not implemented", field: "rope_scaling")
        }
    }
}

/// Reading `layer_types` (`"full_attention"` / `"sliding_attention"` per layer, transformers 5)
/// into which layers slide.
enum SlidingLayers {
    /// `nil` when every layer is full attention or the config has no `layer_types`.
    ///
    /// - Throws: ``ConfigError`` for a list of the wrong length or an unknown layer type.
    static func read(_ fields: ConfigFields, layers: Int) throws(ConfigError) -> [Bool]? {
        guard let value = fields.value("layer_types") else { return nil }
        guard let types = value as? [String], types.count == layers else {
            throw ConfigError(
                .wrongType, "config.json field 'layer_types' must list one string per layer (\(layers))", field: "layer_types")
        }
        let known = ["full_attention", "sliding_attention"]
        if let unknown = types.first(where: { !known.contains($0) }) {
            throw ConfigError(
                .unsupported, "layer type '\(unknown)' is not implemented (\(known.joined(separator: ", ")))", field: "layer_types")
        }
        let sliding = types.map { $0 == "sliding_attention" }
        return sliding.contains(true) ? sliding : nil
    }

    /// Refuses a window that is not positive, or a layer list of the wrong length.
    static func check(window: Int?, layers: [Bool]?, of config: ModelConfig) throws(ConfigError) {
        if let window, window < 1 {
            throw ConfigError(.inconsistent, "sliding_window must be positive, found \(window)", field: "sliding_window")
        }
        if let layers, layers.count != config.numLayers {
            throw ConfigError(
                .inconsistent, "layer_types lists \(layers.count) layers, the model has \(config.numLayers)", field: "layer_types")
        }
    }
}
