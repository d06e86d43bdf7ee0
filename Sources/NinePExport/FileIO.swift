import Glibc
import NIOCore
import NinePWire

/// The blocking I/O of the export: opening, creating, reading and writing
/// host files. Runs on worker threads only.
enum FileIO {
    /// Mode bits a Tcreate may carry that the host cannot keep.
    static let unsupportedCreateBits: FileMode = [
        .append, .exclusive, .mount, .auth, .symlink, .device, .namedPipe, .socket,
    ]

    /// open(2) flags for a 9P access mode: OREAD and OEXEC read (OEXEC
    /// after checking execute permission).
    static func accessFlags(_ mode: OpenMode) -> Int32 {
        switch mode.access {
        case .write: O_WRONLY
        case .readWrite: O_RDWR
        default: O_RDONLY
        }
    }

    /// Opens `node` for Topen.
    static func open(_ node: HostNode, mode: OpenMode) throws(NinePError) -> OpenFile {
        switch node.kind {
        case .directory:
            if mode.allowsWrite || mode.truncate { throw .isDirectory }
            let fd = try node.reopen(flags: O_RDONLY | O_DIRECTORY)
            do throws(NinePError) {
                return OpenFile(fd: fd, mode: mode, directory: try DirectoryReader(duplicating: fd))
            } catch {
                close(fd)
                throw error
            }
        case .symlink:
            if mode.allowsWrite || mode.truncate { throw .permissionDenied }
            return OpenFile(fd: -1, mode: mode, directory: nil)
        case .regular:
            if mode.access == .exec {
                // open(5): OEXEC asks for execute permission, which reading
                // the file (O_RDONLY) would not check.
                _ = try Host.call { faccessat(AT_FDCWD, Host.procPath(node.fd), X_OK, AT_EACCESS) }
            }
            let flags = accessFlags(mode) | (mode.truncate ? O_TRUNC : 0)
            return OpenFile(fd: try node.reopen(flags: flags), mode: mode, directory: nil)
        case .special:
            throw .specialFile
        }
    }

    /// Creates `name` in `parent` for Tcreate and opens it.
    static func create(
        _ name: String, perm: FileMode, mode: OpenMode, in parent: HostNode, directoryPermissions: UInt32
    ) throws(NinePError) -> (node: HostNode, file: OpenFile) {
        guard perm.isDisjoint(with: unsupportedCreateBits) else { throw .unsupportedMode }
        let isDirectory = perm.isDirectory
        let permissions: UInt32
        let fd: Int32
        if isDirectory {
            if mode.allowsWrite || mode.truncate { throw .isDirectory }
            // open(5): "perm & (~0777 | (dir.perm & 0777))"
            permissions = perm.rawValue & (~0o777 | (directoryPermissions & 0o777)) & 0o777
            _ = try Host.call { mkdirat(parent.fd, name, mode_t(permissions)) }
            do throws(NinePError) {
                fd = try Host.call { openat(parent.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            } catch {
                unlinkat(parent.fd, name, AT_REMOVEDIR)
                throw error
            }
        } else {
            // open(5): "perm & (~0666 | (dir.perm & 0666))"
            permissions = perm.rawValue & (~0o666 | (directoryPermissions & 0o666)) & 0o777
            let flags = O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | accessFlags(mode)
            fd = try Host.call { openat(parent.fd, name, flags, mode_t(permissions)) }
        }
        do throws(NinePError) {
            // The permissions are 9P's, not narrowed by the server's umask.
            _ = try Host.call { fchmod(fd, mode_t(permissions)) }
            let node = try HostNode.child(of: parent, name: name, openAs: fd)
            let reader = isDirectory ? try DirectoryReader(duplicating: fd) : nil
            return (node, OpenFile(fd: fd, mode: mode, directory: reader))
        } catch {
            close(fd)
            unlinkat(parent.fd, name, isDirectory ? AT_REMOVEDIR : 0)
            throw error
        }
    }

    /// The largest offset at which `count` bytes still fit in an off_t.
    private static func checkedOffset(_ offset: UInt64, count: Int) -> off_t? {
        offset <= UInt64(Int64.max) - UInt64(count) ? off_t(offset) : nil
    }

    /// pread(2) of up to `count` bytes; fewer only at the end of the file.
    static func read(_ fd: Int32, offset: UInt64, count: Int) throws(NinePError) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        guard let start = checkedOffset(offset, count: count) else { return buffer }
        while buffer.readableBytes < count {
            let done = buffer.readableBytes
            var failure: Int32 = 0
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - done) { ptr in
                let r = pread(fd, ptr.baseAddress, count - done, start + off_t(done))
                if r < 0 { failure = errno }
                return max(r, 0)
            }
            if failure == EINTR { continue }
            if failure != 0 {
                if done > 0 { break }
                throw NinePError(errno: failure)
            }
            if n == 0 { break }
        }
        return buffer
    }

    /// pwrite(2) of all of `data`; a failure after some bytes were written
    /// answers the count written.
    static func write(_ fd: Int32, _ data: ByteBuffer, offset: UInt64) throws(NinePError) -> Int {
        guard let start = checkedOffset(offset, count: data.readableBytes) else {
            throw NinePError(errno: EFBIG)
        }
        var done = 0
        var failure: Int32 = 0
        data.withUnsafeReadableBytes { bytes in
            while done < bytes.count {
                let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, start + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                done += n
            }
        }
        if failure != 0 && done == 0 { throw NinePError(errno: failure) }
        return done
    }

    /// A symbolic link's target, as the contents of a read-only file.
    static func readLink(_ node: HostNode, offset: UInt64, count: Int) throws(NinePError) -> ByteBuffer {
        var target = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = try Host.call {
            target.withUnsafeMutableBytes { readlinkat(node.fd, "", $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        }
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        if offset < UInt64(n) {
            let from = Int(offset)
            buffer.writeBytes(target[from..<min(n, from + count)])
        }
        return buffer
    }
}
