/// PrefixKit's version, recorded in provenance and printed by `prefixkit --version`.
public enum PrefixKitVersion {
    /// The semantic version of this build.
    public static let current = "0.1.0"
}
