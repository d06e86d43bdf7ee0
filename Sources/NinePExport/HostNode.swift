import Glibc
import NinePWire
import Synchronization

/// One file of the exported tree, held open with O_PATH: the capability a
/// fid walks, opens, stats and changes through.
///
/// Confinement rests on three facts. A node is reached only from its parent
/// node by one validated name (no "/", NUL, "." or "..") opened with
/// O_NOFOLLOW, so the kernel never follows a symbolic link or climbs a
/// directory for us. ".." is answered from `parent`, the node we came from,
/// never by the kernel, and stops at a root. Everything after the walk works
/// on the descriptor (or its /proc/self/fd magic link, which names that exact
/// inode), so a symbolic link swapped in after the walk is never seen.
///
/// Immutable but for `name`, which follows our own renames; shared by the
/// fids that walked through it and by its children. Touched only on the
/// export's worker threads, except `deinit`, which closes the O_PATH
/// descriptor wherever the last reference goes (that never blocks).
final class HostNode: Sendable {
    /// What a node is; fixed for the life of an inode.
    enum Kind: Sendable {
        case directory, regular, symlink, special
        init(mode: mode_t) {
            switch mode & S_IFMT {
            case S_IFDIR: self = .directory
            case S_IFREG: self = .regular
            case S_IFLNK: self = .symlink
            default: self = .special
            }
        }
    }

    /// The O_PATH descriptor.
    let fd: Int32
    /// The node this one was walked from; nil for a root (the export root or
    /// an attach root named by aname).
    let parent: HostNode?
    let kind: Kind
    /// The inode's identity, to check that a name still means this file.
    let device: UInt64
    let inode: UInt64
    private let currentName: Mutex<String>

    private init(fd: Int32, parent: HostNode?, name: String, status st: stat) {
        self.fd = fd
        self.parent = parent
        self.kind = Kind(mode: st.st_mode)
        self.device = UInt64(st.st_dev)
        self.inode = UInt64(st.st_ino)
        self.currentName = Mutex(name)
    }

    deinit { close(fd) }

    /// Takes ownership of `fd` as a root (".." stays here). Fails unless it
    /// is a directory.
    static func root(adopting fd: Int32, name: String) throws(NinePError) -> HostNode {
        let st: stat
        do throws(NinePError) { st = try Host.status(of: fd) } catch { close(fd); throw error }
        let node = HostNode(fd: fd, parent: nil, name: name, status: st)
        guard node.kind == .directory else { throw .notDirectory }
        return node
    }

    /// The child `name` of `parent` whose inode is open on `fd` (which
    /// stays the caller's): a node with its own O_PATH descriptor.
    static func child(of parent: HostNode, name: String, openAs fd: Int32) throws(NinePError) -> HostNode {
        let pathfd = try Host.call { open(Host.procPath(fd), Host.openPath | O_CLOEXEC) }
        do throws(NinePError) {
            return HostNode(fd: pathfd, parent: parent, name: name, status: try Host.status(of: pathfd))
        } catch {
            close(pathfd)
            throw error
        }
    }

    var name: String {
        get { currentName.withLock { $0 } }
        set { currentName.withLock { $0 = newValue } }
    }

    var isRoot: Bool { parent == nil }
    var isDirectory: Bool { kind == .directory }

    /// The node as a root of its own: an attach with an aname below the
    /// export root must not climb out of that subtree either.
    func asRoot() throws(NinePError) -> HostNode {
        if isRoot { return self }
        return try HostNode.root(adopting: try Host.duplicate(fd), name: name)
    }

    /// fstat of the node.
    func status() throws(NinePError) -> stat { try Host.status(of: fd) }

    /// One step of a walk. `name` has been checked by `FileName.walkable`.
    func walk(to name: String) throws(NinePError) -> HostNode {
        // walk(5): every name but the last must be a directory, ".." too.
        guard kind == .directory else { throw .notDirectory }
        if name == ".." { return parent ?? self }
        let childfd = try Host.call { openat(fd, name, Host.openPath | O_NOFOLLOW | O_CLOEXEC) }
        do throws(NinePError) {
            return HostNode(fd: childfd, parent: self, name: name, status: try Host.status(of: childfd))
        } catch {
            close(childfd)
            throw error
        }
    }

    /// Opens the node's inode for I/O through its magic link. Symbolic links
    /// are never opened this way (the kernel would refuse with ELOOP anyway).
    func reopen(flags: Int32) throws(NinePError) -> Int32 {
        precondition(kind != .symlink, "symbolic links are read through readlinkat")
        return try Host.call { open(Host.procPath(fd), flags | O_CLOEXEC | O_NOCTTY) }
    }

    /// The node's parent and current name, after checking that the name
    /// still refers to this inode: remove and rename act on names, and a
    /// file renamed or replaced behind our back must not be mistaken.
    func verifiedEntry() throws(NinePError) -> (parent: HostNode, name: String) {
        guard let parent else { throw .permissionDenied }
        let name = self.name
        let st = try Host.status(of: name, in: parent.fd)
        guard UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode else { throw .doesNotExist }
        return (parent, name)
    }

    /// unlinkat(2) of this node's name in its parent.
    func removeFromParent() throws(NinePError) {
        let (parent, name) = try verifiedEntry()
        do throws(NinePError) {
            _ = try Host.call { unlinkat(parent.fd, name, kind == .directory ? AT_REMOVEDIR : 0) }
        } catch where error == .exists {
            throw .notEmpty  // rmdir(2) may say EEXIST for a non-empty directory
        }
    }

    /// renameat(2) within the parent directory. An existing `newName` is
    /// replaced atomically, as POSIX rename does. Other nodes of the same
    /// file (fids that walked to it separately) keep the old name: their
    /// stat shows it, and their remove or rename answers "file does not
    /// exist" until they walk to the file again.
    func rename(to newName: String) throws(NinePError) {
        let (parent, name) = try verifiedEntry()
        if name == newName { return }
        _ = try Host.call { renameat(parent.fd, name, parent.fd, newName) }
        self.name = newName
    }

    /// The node's path below its root, for log messages.
    var pathDescription: String {
        var parts: [String] = []
        var node: HostNode? = self
        while let n = node, !n.isRoot {
            parts.append(n.name)
            node = n.parent
        }
        return "/" + parts.reversed().joined(separator: "/")
    }
}

/// The names a client may use.
enum FileName {
    /// A name to walk: ".." is allowed (it is answered from our own parent
    /// chain); "/" and NUL are bad characters; "" and "." name nothing.
    static func checkWalkable(_ name: String) throws(NinePError) {
        if name == ".." { return }
        try checkCharacters(name)
        if name.isEmpty || name == "." { throw .doesNotExist }
    }

    /// A name to create or rename to: no "/" or NUL, and not "", "." or "..".
    static func checkCreatable(_ name: String) throws(NinePError) {
        try checkCharacters(name)
        if name.isEmpty { throw .badName }
        if name == "." || name == ".." { throw .exists }
    }

    private static func checkCharacters(_ name: String) throws(NinePError) {
        if name.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 == 0 }) { throw .badName }
    }
}
