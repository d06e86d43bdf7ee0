import Dispatch
import Foundation
@testable import FuseLowLevel
import Glibc
import MountInfo
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// A `MemoryFileSystem` really mounted in a fresh directory under /tmp, with
/// `FuseSession.run()` on a thread of its own. `unmount()` stops it, checks
/// that `run()` returned and the mount is gone, and removes the directory:
/// call it in a `defer`.
final class TestMount: Sendable {
    let directory: String
    let session: FuseSession
    let fs: MemoryFileSystem
    private let finished = DispatchSemaphore(value: 0)
    private let outcome = Mutex<Result<Void, FuseError>?>(nil)

    static var deviceAvailable: Bool {
        if access("/dev/fuse", R_OK | W_OK) == 0 { return true }
        print("⚠️  /dev/fuse is missing or not accessible: SKIPPING the FUSE mount tests")
        return false
    }

    /// How the device is read: by worker threads, or on an event loop.
    enum Serving: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case threads
        case eventLoop
        var testDescription: String { rawValue }
    }

    /// The loop the `.eventLoop` mounts are served on.
    static let loop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()

    static func options(serving: Serving = .threads) -> FuseSessionOptions {
        var options = FuseSessionOptions(fsName: "ninep-test", subtype: "memfs")
        options.readdirPlus = .auto
        options.assertOnReplyMisuse = false
        if serving == .eventLoop { options.eventLoop = loop }
        return options
    }

    init(options: FuseSessionOptions = TestMount.options(), fs: MemoryFileSystem = MemoryFileSystem()) throws {
        let directory = try makeTemporaryDirectory()
        do {
            session = try FuseSession(mountpoint: directory, options: options, operations: fs)
        } catch {
            rmdir(directory)
            throw error
        }
        self.directory = directory
        self.fs = fs
        let thread = Thread { [self] in
            do throws(FuseError) {
                try session.run()
                outcome.withLock { $0 = .success(()) }
            } catch {
                outcome.withLock { $0 = .failure(error) }
            }
            finished.signal()
        }
        thread.name = "fuse-run"
        thread.start()
    }

    func path(_ name: String) -> String { directory + "/" + name }

    /// Waits until `run()` returned; its outcome, or nil on timeout.
    func waitForRun(seconds: Double = 10) -> Result<Void, FuseError>? {
        guard finished.wait(timeout: .now() + seconds) == .success else { return nil }
        finished.signal()  // later waits return at once
        return outcome.withLock { $0 }
    }

    func unmount() {
        session.stop()
        let result = waitForRun()
        #expect(result != nil, "run() did not return after stop()")
        if result == nil { umount2(directory, Int32(MNT_DETACH)) }
        #expect(!isMounted(directory), "\(directory) still mounted")
        rmdir(directory)
    }
}

func makeTemporaryDirectory() throws -> String {
    var template = Array("/tmp/ninep-fuse-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    return String(cString: made)
}

/// Whether `path` is a mount point in /proc/mounts.
func isMounted(_ path: String) -> Bool {
    let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
    return mounts.split(separator: "\n").contains { line in
        let fields = line.split(separator: " ")
        return fields.count > 1 && MountInfo.unescape(fields[1]) == path
    }
}

/// Runs `body`, which returns -1 on failure, and returns errno (0 on success).
func errnoOf(_ body: () -> Int32) -> Int32 {
    errno = 0
    return body() == -1 ? errno : 0
}

/// Reads a whole file through open/read/close.
func readFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &chunk, chunk.count)
        if n < 0 { return nil }
        if n == 0 { return result }
        result += chunk[..<n]
    }
}

/// getdents64(2) with a caller-sized buffer: Glibc's readdir(3) uses 32 KiB and
/// Swift cannot call the variadic syscall(2), so take glibc's wrapper by name.
func listWithGetdents(_ path: String, bufferSize: Int) -> [String]? {
    typealias Getdents64 = @convention(c) (Int32, UnsafeMutableRawPointer?, Int) -> Int
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "getdents64") else { return nil }
    let getdents64 = unsafeBitCast(symbol, to: Getdents64.self)
    let fd = open(path, O_RDONLY | O_DIRECTORY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var names: [String] = []
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 8)
    defer { buffer.deallocate() }
    while true {
        let count = getdents64(fd, buffer, bufferSize)
        if count < 0 { return nil }
        if count == 0 { return names }
        var offset = 0
        while offset < count {
            // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[]
            let record = buffer + offset
            let length = Int(record.loadUnaligned(fromByteOffset: 16, as: UInt16.self))
            names.append(String(cString: (record + 19).assumingMemoryBound(to: CChar.self)))
            offset += length
        }
    }
}
