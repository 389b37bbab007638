// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "PrefixKit",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "PrefixKit", targets: ["PrefixKit"]),
        .executable(name: "prefixkit", targets: ["PrefixKitCLI"]),
        .executable(name: "prefixkit-bench", targets: ["PrefixKitBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        // `swift package generate-documentation`: the DocC catalogs of every library module.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // C libraries, each behind a thin shim header of `static inline` accessors.
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLibZ", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CPosix"),

        // Swift modules, one concern each.
        .target(name: "PrefixCore"),
        // What a value read back from a store must be before it is used: no SQLite in here, so
        // that every catalog implementation applies the same rules.
        .target(name: "PrefixStoreRules", dependencies: ["PrefixCore"]),
        .target(
            name: "PrefixStore",
            dependencies: [
                "PrefixCore", "PrefixStoreRules", "CHDF5", "CLibCrypto", "CPosix",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        .target(name: "PrefixCompute", dependencies: ["PrefixCore", "COpenBLAS"]),
        // A stored checkpoint as something the engine runs: its base's tensors and its prefix as
        // compute sources (below the converter, the verifier and the differ).
        .target(name: "PrefixRuntime", dependencies: ["PrefixCore", "PrefixStore", "PrefixCompute"]),
        .target(
            name: "PrefixFormats",
            dependencies: ["PrefixCore", "CPosix", "CLibZ", .product(name: "ZIPFoundation", package: "ZIPFoundation")]),
        .target(
            name: "PrefixConvert",
            dependencies: ["PrefixCore", "PrefixStoreRules", "PrefixStore", "PrefixCompute", "PrefixRuntime", "PrefixFormats"]),
        .target(name: "PrefixReport"),
        .target(
            name: "PrefixVerify",
            dependencies: ["PrefixCore", "PrefixStore", "PrefixCompute", "PrefixRuntime", "PrefixFormats", "PrefixConvert", "PrefixReport"]),
        .target(name: "PrefixDiff", dependencies: ["PrefixCore", "PrefixStore", "PrefixCompute", "PrefixRuntime", "PrefixReport"]),
        .target(
            name: "PrefixKit",
            dependencies: [
                "PrefixCore", "PrefixStoreRules", "PrefixStore", "PrefixCompute", "PrefixRuntime", "PrefixFormats", "PrefixConvert",
                "PrefixVerify", "PrefixDiff", "PrefixReport",
            ]),
        .executableTarget(
            name: "PrefixKitCLI",
            dependencies: [
                "PrefixKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "PrefixKitBench", dependencies: ["PrefixKit"]),
        // Every parser of untrusted input under libFuzzer (scripts/fuzz); without -D FUZZING it
        // replays the committed corpus.
        .executableTarget(
            name: "PrefixFuzz", dependencies: ["PrefixConvert", "PrefixCore", "PrefixFormats", "PrefixStoreRules"], path: "Fuzz/Sources"),

        // Tests mirror the source modules.
        .target(name: "TestSupport", dependencies: ["PrefixCore", "PrefixCompute", "PrefixFormats"], path: "Tests/TestSupport"),
        .testTarget(name: "PrefixCoreTests", dependencies: ["PrefixCore", "TestSupport"]),
        .testTarget(name: "PrefixStoreRulesTests", dependencies: ["PrefixStoreRules", "TestSupport"]),
        .testTarget(name: "PrefixStoreTests", dependencies: ["PrefixStore", "TestSupport"]),
        .testTarget(name: "PrefixComputeTests", dependencies: ["PrefixCompute", "TestSupport"]),
        .testTarget(name: "PrefixRuntimeTests", dependencies: ["PrefixRuntime", "TestSupport"]),
        .testTarget(name: "PrefixFormatsTests", dependencies: ["PrefixFormats", "TestSupport"]),
        .testTarget(name: "PrefixConvertTests", dependencies: ["PrefixConvert", "TestSupport"], path: "Tests/PrefixConvertTests"),
        .testTarget(name: "PrefixVerifyTests", dependencies: ["PrefixVerify", "TestSupport"]),
        .testTarget(name: "PrefixDiffTests", dependencies: ["PrefixDiff", "PrefixConvert", "TestSupport"]),
        .testTarget(name: "PrefixReportTests", dependencies: ["PrefixReport", "TestSupport"]),
        .testTarget(
            name: "PrefixKitCLITests",
            dependencies: ["TestSupport", "PrefixKit"],
            exclude: ["Snapshots"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The same Swift settings for every Swift target.
for target in package.targets where target.type != .system && target.name != "CPosix" {
    target.swiftSettings =
        (target.swiftSettings ?? []) + [
            .enableUpcomingFeature("InternalImportsByDefault"),
            .enableUpcomingFeature("MemberImportVisibility"),
            .enableUpcomingFeature("ExistentialAny"),
        ]
}
