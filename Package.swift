// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

// The products of our dependencies, by the names the targets use.
let nioCore: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
let nioPosix: Target.Dependency = .product(name: "NIOPosix", package: "swift-nio")
let nioEmbedded: Target.Dependency = .product(name: "NIOEmbedded", package: "swift-nio")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let serviceLifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let nioTLS: Target.Dependency = .product(name: "NIOTLS", package: "swift-nio")
let nioSSL: Target.Dependency = .product(name: "NIOSSL", package: "swift-nio-ssl")
let x509: Target.Dependency = .product(name: "X509", package: "swift-certificates")
let crypto: Target.Dependency = .product(name: "Crypto", package: "swift-crypto")
let asn1: Target.Dependency = .product(name: "SwiftASN1", package: "swift-asn1")

let package = Package(
    name: "ninep",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ninep", targets: ["ninep"]),
        .executable(name: "ninep-bench", targets: ["ninep-bench"]),
        .executable(name: "ninep-manual", targets: ["ninep-manual"]),
        .library(name: "NinePWire", targets: ["NinePWire"]),
        .library(name: "NinePTransport", targets: ["NinePTransport"]),
        .library(name: "NinePClient", targets: ["NinePClient"]),
        .library(name: "NinePServer", targets: ["NinePServer"]),
        .library(name: "NinePExport", targets: ["NinePExport"]),
        .library(name: "NinePRegistry", targets: ["NinePRegistry"]),
        .library(name: "FuseLowLevel", targets: ["FuseLowLevel"]),
        .library(name: "NinePFuse", targets: ["NinePFuse"]),
        .library(name: "NinePTesting", targets: ["NinePTesting"]),
        .library(name: "NinePKit", targets: ["NinePKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.1.0"),
    ],
    targets: [
        // MARK: Leaves
        .target(
            name: "NinePWire",
            dependencies: [nioCore],
            swiftSettings: strict
        ),
        .systemLibrary(
            name: "CFuse",
            path: "CFuse",
            pkgConfig: "fuse3",
            providers: [.apt(["libfuse3-dev"])]
        ),
        // Per-thread file-system credentials (raw setgroups/setfsgid/setfsuid).
        .target(name: "CThreadCredentials"),
        .target(
            name: "MountInfo",
            swiftSettings: strict
        ),
        .target(
            name: "FuseLowLevel",
            dependencies: [
                "CFuse",
                "MountInfo",
                nioCore,
                nioPosix,
                logging,
            ],
            swiftSettings: strict
        ),

        // MARK: 9P
        .target(
            name: "NinePTransport",
            dependencies: [
                "NinePWire",
                nioCore,
                nioPosix,
                nioTLS,
                nioSSL,
                x509,
                crypto,
                asn1,
                logging,
            ],
            swiftSettings: strict
        ),
        .target(
            name: "NinePServer",
            dependencies: [
                "NinePWire",
                "NinePTransport",
                nioCore,
                nioPosix,
                logging,
            ],
            swiftSettings: strict
        ),
        .target(
            name: "NinePExport",
            dependencies: [
                "CThreadCredentials",
                "MountInfo",
                "NinePWire",
                "NinePTransport",
                "NinePServer",
                nioCore,
                nioPosix,
                logging,
            ],
            swiftSettings: strict
        ),
        .target(
            name: "NinePRegistry",
            dependencies: [
                "NinePWire",
                "NinePTransport",
                "NinePServer",
                "NinePClient",
                nioCore,
                nioPosix,
            ],
            swiftSettings: strict
        ),
        .target(
            name: "NinePClient",
            dependencies: [
                "NinePWire",
                "NinePTransport",
                nioCore,
                nioPosix,
                logging,
            ],
            swiftSettings: strict
        ),
        .target(
            name: "NinePFuse",
            dependencies: [
                "NinePWire",
                "NinePClient",
                "FuseLowLevel",
                nioCore,
                logging,
            ],
            swiftSettings: strict
        ),
        .target(
            name: "NinePTesting",
            dependencies: [
                "NinePWire",
                "NinePTransport",
                "NinePServer",
                "NinePClient",
                nioCore,
                nioPosix,
            ],
            swiftSettings: strict
        ),

        // MARK: Serve and mount in one process (above both sides)
        .target(
            name: "NinePKit",
            dependencies: [
                "NinePServer",
                "NinePRegistry",
                "NinePClient",
                "NinePFuse",
                "NinePTransport",
                "FuseLowLevel",
                nioCore,
                nioPosix,
                logging,
            ],
            swiftSettings: strict
        ),

        // MARK: CLI
        .executableTarget(
            name: "ninep",
            dependencies: [
                "NinePWire",
                "NinePTransport",
                "NinePClient",
                "NinePServer",
                "NinePExport",
                "NinePRegistry",
                "NinePFuse",
                "NinePKit",
                argumentParser,
                logging,
                serviceLifecycle,
                nioCore,
                nioPosix,
            ],
            swiftSettings: strict
        ),

        // Manual pages from the CLI's own help model (scripts/install).
        .executableTarget(name: "ninep-manual", swiftSettings: strict),

        .executableTarget(
            name: "ninep-bench",
            dependencies: [
                "NinePWire",
                "NinePTransport",
                "NinePClient",
                argumentParser,
                nioCore,
                nioPosix,
            ],
            swiftSettings: strict
        ),

        // MARK: Fuzzing
        // libFuzzer targets, built by scripts/fuzz with -sanitize=fuzzer -DFUZZING;
        // a plain build makes them replayers of crash files (see their sources).
        .target(name: "FuzzDriver", path: "Fuzz/Driver", swiftSettings: strict),

        .executableTarget(
            name: "FuzzWireDecoder",
            dependencies: ["FuzzDriver", "NinePWire", nioCore],
            path: "Fuzz/WireDecoder",
            swiftSettings: strict
        ),

        .executableTarget(
            name: "FuzzServerLoop",
            dependencies: [
                "FuzzDriver", "NinePWire", "NinePServer", "NinePTransport",
                nioCore,
                nioEmbedded,
            ],
            path: "Fuzz/ServerLoop",
            swiftSettings: strict
        ),

        // MARK: Tests
        .testTarget(name: "NinePWireTests", dependencies: ["NinePWire", nioCore]),
        .testTarget(name: "NinePTransportTests", dependencies: ["NinePTransport", "NinePWire", nioEmbedded, nioPosix]),
        .testTarget(name: "NinePServerTests", dependencies: ["NinePServer", "NinePTesting", "NinePWire", "NinePTransport", nioPosix]),
        .testTarget(
            name: "NinePExportTests",
            dependencies: ["NinePExport", "NinePTesting", "NinePServer", "NinePClient", "NinePTransport", "NinePWire", nioPosix]),
        .testTarget(name: "NinePRegistryTests", dependencies: ["NinePRegistry", "NinePClient", "NinePServer", "NinePTesting", "NinePTransport", "NinePWire", nioPosix]),
        .testTarget(name: "NinePClientTests", dependencies: ["NinePClient", "NinePTesting", "NinePServer", "NinePWire", "NinePTransport", nioPosix]),
        .testTarget(name: "FuseLowLevelTests", dependencies: ["FuseLowLevel", "MountInfo", "NinePTesting", nioCore, nioPosix]),
        .testTarget(name: "MountInfoTests", dependencies: ["MountInfo"]),
        .testTarget(
            name: "NinePFuseTests",
            dependencies: [
                "NinePFuse", "NinePTesting", "NinePWire", "NinePClient", "NinePServer", "NinePExport", "NinePTransport", "FuseLowLevel",
                nioPosix,
            ]),
        .testTarget(
            name: "NinePKitTests",
            dependencies: ["NinePKit", "NinePRegistry", "NinePServer", "NinePTesting", "NinePTransport"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["NinePTesting", "NinePWire", "NinePClient", "NinePServer", "NinePExport", "NinePTransport"]),
    ]
)
