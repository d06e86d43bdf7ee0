// What the fuzz targets share: handing control to libFuzzer's driver when
// built by `scripts/fuzz` (-DFUZZING), and replaying input files otherwise.
//
// A target defines its property as a `FuzzCallback` (exported as
// `LLVMFuzzerTestOneInput`), an entry `<Module>_main` that calls
// `runFuzzer(argc:argv:_:)` when FUZZING, and else an `@main` that calls
// `replay(_:named:)`.

#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer's per-input callback: the input's bytes and their count.
public typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: FuzzCallback
) -> CInt

/// Runs libFuzzer's driver over `callback`.
///
/// SwiftPM links every executable with `--defsym main=<Module>_main` (so
/// that tests can import executables), which hides libFuzzer's own `main`;
/// a target's `<Module>_main` therefore hands control to the driver here.
public func runFuzzer(
    argc: CInt, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ callback: FuzzCallback
) -> CInt {
    var argc = argc
    var argv = argv
    return runFuzzerDriver(&argc, &argv, callback)
}
#endif

/// Replays the files named on the command line through `callback` without
/// libFuzzer, so that a saved crash reproduces in a plain build: the property
/// traps on the first violation. Exits 1 when a file cannot be read.
public func replay(_ callback: FuzzCallback, named target: String) {
    var count = 0
    for path in CommandLine.arguments.dropFirst() {
        guard let bytes = readWholeFile(path) else {
            print("\(target): cannot read \(path)")
            exit(1)
        }
        bytes.withUnsafeBufferPointer { _ = callback($0.baseAddress, $0.count) }
        count += 1
    }
    print("\(target): \(count) input(s) replayed, property held")
}

private func readWholeFile(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n <= 0 { break }
        bytes += chunk[..<n]
    }
    return ferror(file) == 0 ? bytes : nil
}
