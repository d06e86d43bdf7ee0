#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import NinePWire

/// An in-memory file server, after lib9p's ramfs.c: an empty tree that
/// clients fill with files and directories, all kept in memory and lost when
/// the process exits. Serve it with one line:
///
/// ```swift
/// let listener = try await NinePServer.listen(RamFS(), unixPath: path)
/// ```
///
/// Like ramfs, the root is mode 0777 by default, so every user may create
/// in it; what they create is theirs, with Plan 9 permissions.
///
/// Thread safety: any thread (the tree locks itself).
public final class RamFS: FileTreeServer {
    public let tree: FileTree

    /// - Parameters:
    ///   - owner: uid and gid of the root; defaults to the user running the process.
    ///   - permissions: the root's permission bits.
    ///   - maxFileSize: the largest a file may grow.
    ///   - dialects: what Tversion may settle on (default: all three).
    public init(
        owner: String = RamFS.currentUser(), permissions: UInt32 = 0o777, maxFileSize: UInt64 = 1 << 30,
        dialects: Set<ProtocolVersion> = Set(ProtocolVersion.allCases)
    ) {
        self.tree = FileTree(owner: owner, permissions: permissions, maxFileSize: maxFileSize)
        self.dialects = dialects
    }

    /// Serves an existing tree.
    public init(tree: FileTree, dialects: Set<ProtocolVersion> = Set(ProtocolVersion.allCases)) {
        self.tree = tree
        self.dialects = dialects
    }

    /// The dialects this server speaks: 9P2000, 9P2000.u and 9P2000.L
    /// unless limited at init.
    public let dialects: Set<ProtocolVersion>

    /// $USER, else the name of the process's uid, else "none".
    public static func currentUser() -> String {
        if let user = getenv("USER"), user.pointee != 0 { return String(cString: user) }
        if let entry = getpwuid(getuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "none"
    }
}
