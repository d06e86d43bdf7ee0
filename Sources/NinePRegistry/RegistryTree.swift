public import NinePWire
import NinePTransport

/// The registry's contents as a pure value: a tree of service directories,
/// each with a `clone` file, sub-directories named by number, and entries
/// that hold one service address each.
///
/// Every operation checks the rules of srv(3) and throws a `NinePError`
/// whose text names the service; nothing here does I/O. `SrvRegistry`
/// keeps one of these behind a lock and serves it.
public struct RegistryTree: Sendable {
    /// What a node is.
    public enum Kind: Sendable, Equatable {
        case directory
        case clone
        case entry
    }

    /// One file or directory. `id` is also its qid path.
    public struct Node: Sendable {
        public var id: UInt64
        public var parent: UInt64
        public var name: String
        public var kind: Kind
        /// For directories: name → node id.
        public var children: [String: UInt64] = [:]
        /// For directories: the number the next `clone` hands out.
        public var nextCloneID = 1
        /// For entries: the posted address, nil until written.
        public var address: String?
        /// For file entries: the path of the file, in the tree served at
        /// `address`, that the entry stands for (a file2chan file placed in
        /// the registry); nil for an entry that names a whole service.
        public var file: String?
        /// What was posted: "ADDR", or "ADDR /FILE" for a file entry.
        public var posted: String? { address.map { a in file.map { "\(a) \($0)" } ?? a } }
        /// For entries: the registry holds the service's listening socket
        /// (a hand-over, see `HandOverListener`).
        public var held = false
        /// For entries: false once a probe found nothing answering.
        public var alive = true
        /// Seconds since the epoch of the last change.
        public var mtime: UInt32
        /// The user who made it.
        public var owner: String
    }

    /// The root directory's id.
    public static let root: UInt64 = 0
    /// Names that no entry may take: `clone` everywhere, and at the root the
    /// registry's own files in the namespace directory.
    static let reservedAtRoot: Set<String> = ["clone", SrvNamespace.socketName, SrvNamespace.stateName]

    public private(set) var nodes: [UInt64: Node] = [:]
    private var nextID: UInt64 = 1

    public init(owner: String, now: UInt32 = 0) {
        nodes[Self.root] = Node(id: Self.root, parent: Self.root, name: "/", kind: .directory, mtime: now, owner: owner)
        addClone(to: Self.root, now: now)
    }

    public func node(_ id: UInt64) -> Node? { nodes[id] }

    /// The node `name` inside directory `dir` ("..", and "." are understood).
    public func child(of dir: UInt64, named name: String) -> UInt64? {
        guard let d = nodes[dir], d.kind == .directory else { return nil }
        switch name {
        case "..": return d.parent
        case ".": return dir
        default: return d.children[name]
        }
    }

    /// The node at `path` from the root, or nil.
    public func resolve(_ path: [String]) -> UInt64? {
        var at = Self.root
        for name in path {
            guard let next = child(of: at, named: name) else { return nil }
            at = next
        }
        return at
    }

    /// The names from the root to `id` ("" components excluded).
    public func path(of id: UInt64) -> [String] {
        var names: [String] = []
        var at = id
        while at != Self.root, let n = nodes[at] {
            names.append(n.name)
            at = n.parent
        }
        return names.reversed()
    }

    /// A directory's children, `clone` first, then by name.
    public func listing(of dir: UInt64) -> [UInt64] {
        guard let d = nodes[dir] else { return [] }
        return d.children.sorted { a, b in
            if a.key == "clone" || b.key == "clone" { return a.key == "clone" && b.key != "clone" }
            return a.key < b.key
        }.map(\.value)
    }

    /// Creates an empty entry `name` in `dir` (srv(3): "create a new file").
    /// - Throws: "service NAME already posted", or a bad-name error.
    public mutating func create(in dir: UInt64, name: String, owner: String, now: UInt32) throws(NinePError) -> UInt64 {
        guard let d = nodes[dir] else { throw .doesNotExist }
        guard d.kind == .directory else { throw .createNonDirectory }
        let display = (path(of: dir) + [name]).joined(separator: "/")
        guard name != "clone", !(dir == Self.root && Self.reservedAtRoot.contains(name)) else {
            throw NinePError("'\(name)' is reserved in the srv registry")
        }
        guard !name.isEmpty, !name.contains(where: { $0 == "!" || $0 == "/" || $0 == " " || $0 == "\t" || $0 == "\n" }) else {
            throw NinePError("bad service name '\(name)': no '!', '/' or blanks")
        }
        guard d.children[name] == nil else { throw NinePError("service \(display) already posted") }
        let id = allocate()
        nodes[id] = Node(id: id, parent: dir, name: name, kind: .entry, mtime: now, owner: owner)
        nodes[dir]!.children[name] = id
        nodes[dir]!.mtime = now
        return id
    }

    /// Writes the address into an entry, once (srv(3): "It is an error to
    /// write more than one number into a server file"). The text is a dial
    /// string, or a dial string (not `exec!`, whose command has blanks), a
    /// blank and the absolute path of one file of the tree served there:
    /// the entry is then that file.
    public mutating func post(_ id: UInt64, address text: String, now: UInt32) throws(NinePError) {
        guard let n = nodes[id] else { throw .doesNotExist }
        guard n.kind == .entry else { throw NinePError("not a service entry") }
        let display = path(of: id).joined(separator: "/")
        guard n.address == nil else { throw NinePError("service \(display) is already posted: an entry is written once") }
        let fields = Self.fields(of: text)
        guard let first = fields.first, fields.count <= 2 else {
            throw NinePError("cannot post \(display): write a dial string, optionally followed by the path of one of its files (/ctl)")
        }
        let file = fields.count == 2 ? fields[1] : nil
        if let file, !file.hasPrefix("/") || file.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) || file == "/" {
            throw NinePError("cannot post \(display): '\(file)' is not the absolute path of a file")
        }
        let address: NinePAddress
        do {
            address = try NinePAddress(dialString: first)
        } catch {
            throw NinePError("cannot post \(display): \(error)")
        }
        if case .srv = address { throw NinePError("cannot post \(display): post a dialable address, not another srv name") }
        nodes[id]!.address = address.description
        nodes[id]!.file = file
        nodes[id]!.alive = true
        nodes[id]!.mtime = now
    }

    /// Allocates a new service directory in `dir` and returns its id and name.
    public mutating func clone(in dir: UInt64, owner: String, now: UInt32) throws(NinePError) -> (UInt64, String) {
        guard let d = nodes[dir], d.kind == .directory else { throw .notDirectory }
        var number = d.nextCloneID
        while d.children["\(number)"] != nil { number += 1 }
        let name = "\(number)"
        nodes[dir]!.nextCloneID = number + 1
        return (try makeDirectory(in: dir, name: name, owner: owner, now: now), name)
    }

    /// Removes an entry, or a service directory holding nothing but its clone.
    public mutating func remove(_ id: UInt64, now: UInt32) throws(NinePError) {
        guard id != Self.root, let n = nodes[id] else { throw .doesNotExist }
        let display = path(of: id).joined(separator: "/")
        switch n.kind {
        case .clone: throw NinePError("the clone file cannot be removed")
        case .directory:
            guard n.children.keys.allSatisfy({ $0 == "clone" }) else {
                throw NinePError("service directory \(display) is not empty")
            }
            for c in n.children.values { nodes[c] = nil }
        case .entry: break
        }
        nodes[id] = nil
        nodes[n.parent]?.children[n.name] = nil
        nodes[n.parent]?.mtime = now
    }

    /// Marks an entry as holding a handed-over listening socket.
    public mutating func setHeld(_ id: UInt64) {
        guard nodes[id]?.kind == .entry else { return }
        nodes[id]!.held = true
    }

    /// Records a probe's verdict.
    public mutating func setAlive(_ id: UInt64, _ alive: Bool) {
        guard nodes[id]?.kind == .entry else { return }
        nodes[id]!.alive = alive
    }

    /// Every posted entry: path, what was posted ("ADDR" or "ADDR /FILE")
    /// and whether it answered last time.
    public var entries: [(path: [String], address: String, alive: Bool)] {
        nodes.values.compactMap { n in
            guard n.kind == .entry, let a = n.posted else { return nil }
            return (path(of: n.id), a, n.alive)
        }.sorted { $0.path.joined(separator: "/") < $1.path.joined(separator: "/") }
    }

    /// An entry's text split into its fields: what is posted ("ADDR" or
    /// "ADDR /FILE") and what reading it gives ("ADDR" or "ADDR gone"). An
    /// `exec!` command is one field, blanks and all: it has no file part and
    /// is never found gone.
    public static func fields(of text: String) -> [String] {
        let trimmed = text.trimmingCharacters(in: " \t\r\n")
        return trimmed.hasPrefix("exec!")
            ? [trimmed] : trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
    }

    /// The directory entry of a node: directories 0555 (0777 at the root),
    /// clone 0444, entries 0666 when alive, 0000 once found gone. A file
    /// entry has the DMTMP bit (QTTMP in its qid: Plan 9's "not backed up",
    /// its contents live in a program) and length 0, and says so to
    /// clients that must not read it as an address (`ninep srv ls`, lookups).
    public func stat(_ id: UInt64) -> Stat? {
        guard let n = nodes[id] else { return nil }
        let isFile = n.kind == .entry && n.file != nil
        let qid = Qid(type: n.kind == .directory ? .dir : isFile ? .tmp : .file, version: n.mtime, path: n.id)
        let mode: FileMode
        var length: UInt64 = 0
        switch n.kind {
        case .directory: mode = FileMode(permissions: 0o777, flags: .dir)
        case .clone: mode = FileMode(permissions: 0o444)
        case .entry where isFile:
            mode = FileMode(permissions: n.alive ? 0o666 : 0, flags: .tmp)
        case .entry:
            mode = FileMode(permissions: n.alive ? 0o666 : 0)
            length = UInt64(contents(of: n).utf8.count)
        }
        return Stat(qid: qid, mode: mode, atime: n.mtime, mtime: n.mtime, length: length,
                    name: id == Self.root ? "/" : n.name, uid: n.owner, gid: n.owner, muid: n.owner)
    }

    /// What reading an entry returns: "ADDR\n", or "ADDR gone\n" once its
    /// server has stopped answering; "" before it is written.
    public func contents(of n: Node) -> String {
        guard let a = n.address else { return "" }
        return n.alive ? "\(a)\n" : "\(a) gone\n"
    }

    /// A directory named `name` with its `clone` file (used by clone and restore).
    mutating func makeDirectory(in dir: UInt64, name: String, owner: String, now: UInt32) throws(NinePError) -> UInt64 {
        guard nodes[dir]?.kind == .directory, nodes[dir]?.children[name] == nil else { throw .exists }
        let id = allocate()
        nodes[id] = Node(id: id, parent: dir, name: name, kind: .directory, mtime: now, owner: owner)
        nodes[dir]!.children[name] = id
        if let number = Int(name), number >= nodes[dir]!.nextCloneID { nodes[dir]!.nextCloneID = number + 1 }
        addClone(to: id, now: now)
        return id
    }

    private mutating func addClone(to dir: UInt64, now: UInt32) {
        let id = allocate()
        nodes[id] = Node(id: id, parent: dir, name: "clone", kind: .clone, mtime: now, owner: nodes[dir]!.owner)
        nodes[dir]!.children["clone"] = id
    }

    private mutating func allocate() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }
}

extension String {
    /// Drops leading and trailing characters made of `set`'s scalars (by
    /// scalar: "\r\n" in `set` is one Character, and "\n" alone must match).
    func trimmingCharacters(in set: String) -> String {
        let drop = { (c: Character) in c.unicodeScalars.allSatisfy { set.unicodeScalars.contains($0) } }
        guard let first = firstIndex(where: { !drop($0) }), let last = lastIndex(where: { !drop($0) }) else { return "" }
        return String(self[first...last])
    }
}
