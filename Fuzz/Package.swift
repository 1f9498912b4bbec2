// swift-tools-version:6.1
// libFuzzer targets for what peers send the relay. Build and run them with scripts/fuzz: they need
// `-sanitize=fuzzer,address -parse-as-library`, which this package's targets get from the script.
import PackageDescription

let package = Package(
    name: "bimrelay-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "bimrelay", path: "..")],
    targets: [
        .target(name: "FuzzDriver"),
        .executableTarget(
            name: "FuzzJSONEnvelope", dependencies: ["FuzzDriver", .product(name: "RelayCore", package: "bimrelay")]),
        .executableTarget(
            name: "FuzzStreamMessage", dependencies: ["FuzzDriver", .product(name: "RelayCore", package: "bimrelay")]),
    ]
)
