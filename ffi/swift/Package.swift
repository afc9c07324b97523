// swift-tools-version:5.9
// The C library as a Swift package: its binary target is the XCFramework `bash ffi/mobile.sh`
// lays out from the two iOS static libraries (device and simulator, arm64), and Swift imports
// the header as the module `Bluezone`. Copy this file beside BluezoneFFI.xcframework (the
// script does, in target/mobile/ios/) and add the folder as a package dependency.
import PackageDescription

let package = Package(
    name: "Bluezone",
    platforms: [.iOS(.v13)],
    products: [
        .library(name: "Bluezone", targets: ["Bluezone"]),
    ],
    targets: [
        .binaryTarget(name: "Bluezone", path: "BluezoneFFI.xcframework"),
    ]
)
