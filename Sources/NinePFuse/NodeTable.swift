import NinePWire

/// The bridge's bookkeeping as a value: which FUSE node ids stand for which
/// 9P files, which fids the mount holds, and which handles are open. No I/O:
/// every mutating method says which fids the caller must clunk. The bridge
/// keeps one `NodeTable` behind a mutex and touches it only briefly
/// (never across a 9P round trip or a FUSE reply).
///
/// Nodes. Node id 1 is the root, whose fid is the attach fid. Every other
/// node was handed to the kernel by lookup, create, mknod, mkdir or
/// readdirplus and lives while the kernel's lookup count for it is above
/// zero. A node keeps the names it is known by (parent node id and name), so
/// that it can be walked to again from its parent: after a reconnect, and
/// whenever it has no fid of its own. Same qid.path, same node id, as long
/// as the node lives (hard links and aliases stay coherent).
///
/// Fids. Only directories keep a walked (unopened) fid, because their
/// children are walked from it; a directory seen in a listing gets it on
/// first use. Files keep none: opening walks from the directory anyway, and
/// a server such as the export spends a host descriptor per fid, so
/// holding one per cached file would exhaust it after `find` or a build.
///
/// Handles. Each open file or directory is a handle (FUSE's `fh`) holding
/// its opened fid, the node, the open mode, the iounit and, for a
/// directory, the entries read so far.
struct NodeTable: Sendable {
    /// A name by which a node was reached: entry `name` of directory `parent`.
    struct Link: Hashable, Sendable {
        var parent: UInt64
        var name: String
    }

    struct Node: Sendable {
        var qid: Qid
        /// Names the node is known by, most recent first (a few: hard links).
        var links: [Link]
        /// A walked, unopened fid: directories only, once walked.
        var fid: Fid?
        /// The kernel's lookup count: entries handed out minus those forgotten.
        var lookups: UInt64
        /// qid.vers when the file was last opened, to keep the page cache
        /// across opens while the file is unchanged.
        var openedVersion: UInt32?

        var isDirectory: Bool { qid.isDirectory }
    }

    /// An open file or directory.
    struct Handle: Sendable {
        let fid: Fid
        let node: UInt64
        let mode: OpenMode
        let iounit: UInt32
        /// Writes go at the file's end, wherever the kernel says (O_APPEND).
        let append: Bool
        /// For a directory: the listing read so far.
        var listing: Listing?
    }

    /// A directory's entries as read from the server, in order. FUSE
    /// cookies index this array (see `BridgeDirectories`), so they stay
    /// valid while the handle is open and nothing is lost or repeated.
    struct Listing: Sendable {
        var entries: [Stat] = []
        /// Where the next Tread of the directory starts (read(5): the
        /// offset after the last entry returned).
        var serverOffset: UInt64 = 0
        /// A Tread returned nothing: every entry is in `entries`.
        var complete = false
        /// A Tread is in flight.
        var fetching = false
    }

    static let root: UInt64 = 1
    static let maxLinks = 8

    private(set) var nodes: [UInt64: Node]
    private var byPath: [UInt64: UInt64]
    private var nextNode: UInt64 = 2
    private(set) var handles: [UInt64: Handle] = [:]
    /// The open handles of each node.
    private var handlesOfNode: [UInt64: Set<UInt64>] = [:]
    private var nextHandle: UInt64 = 1
    /// The names of directories, where the mount knows them all (see `KnownNames`).
    private(set) var known: [UInt64: KnownNames] = [:]
    /// After `removeAll`: nothing is taken in any more (late replies of an
    /// unmounted filesystem hand their fids back to be clunked).
    private(set) var isClosed = false

    /// - Parameter rootQid: the attach qid; if unknown, the root is found
    ///   by qid.path only once `setRootQid` has told it.
    init(rootFid: Fid, rootQid: Qid?) {
        nodes = [Self.root: Node(qid: rootQid ?? Qid(type: .dir, path: 0), links: [], fid: rootFid, lookups: 1)]
        byPath = rootQid.map { [$0.path: Self.root] } ?? [:]
    }

    // MARK: Nodes

    /// The kernel was (or is about to be) given an entry for `qid`, reached
    /// as `name` in `parent`: returns its node id, adding one to its lookup
    /// count. `fid`, if given, is a walked fid of the file; the node keeps
    /// it if it is a directory without one, and otherwise it is returned
    /// for the caller to clunk. Once closed, returns no node.
    mutating func remember(qid: Qid, parent: UInt64, name: String, fid: Fid? = nil) -> (node: UInt64?, surplus: Fid?) {
        guard !isClosed else { return (nil, fid) }
        let link = Link(parent: parent, name: name)
        if let id = byPath[qid.path], var node = nodes[id] {
            var surplus = fid
            if id != Self.root {
                node.lookups += 1
                node.qid.version = qid.version
                node.links.removeAll { $0 == link }
                node.links.insert(link, at: 0)
                if node.links.count > Self.maxLinks { node.links.removeLast() }
                if node.fid == nil && node.isDirectory && fid != nil {
                    node.fid = fid
                    surplus = nil
                }
            }
            nodes[id] = node
            return (id, surplus)
        }
        let id = nextNode
        nextNode += 1
        let keep = qid.isDirectory ? fid : nil
        nodes[id] = Node(qid: qid, links: [link], fid: keep, lookups: 1)
        byPath[qid.path] = id
        return (id, keep == nil ? fid : nil)
    }

    /// The kernel dropped `count` lookups of `id`. At zero the node is gone
    /// and its fid, if any, is returned to be clunked. The root stays.
    mutating func forget(_ id: UInt64, count: UInt64) -> Fid? {
        guard id != Self.root, var node = nodes[id] else { return nil }
        node.lookups -= min(count, node.lookups)
        guard node.lookups == 0 else {
            nodes[id] = node
            return nil
        }
        nodes[id] = nil
        known[id] = nil
        if byPath[node.qid.path] == id { byPath[node.qid.path] = nil }
        return node.fid
    }

    /// The node a qid.path stands for, if the kernel knows one.
    func node(forPath path: UInt64) -> UInt64? { byPath[path] }

    /// Sets the fid of directory `id`, walked just now. Returns the fid if
    /// the node cannot take it (gone, or it got one meanwhile): clunk it.
    mutating func adopt(_ fid: Fid, for id: UInt64) -> Fid? {
        guard var node = nodes[id], node.fid == nil, node.isDirectory else { return fid }
        node.fid = fid
        nodes[id] = node
        return nil
    }

    /// `name` in `parent` was removed on the server: the node it named (if
    /// known) loses that name.
    mutating func unlinked(qidPath: UInt64, parent: UInt64, name: String) {
        guard let id = byPath[qidPath], var node = nodes[id] else { return }
        node.links.removeAll { $0 == Link(parent: parent, name: name) }
        nodes[id] = node
    }

    /// `name` in `parent` was renamed to `newName` (same directory).
    mutating func renamed(qidPath: UInt64, parent: UInt64, name: String, to newName: String) {
        guard let id = byPath[qidPath], var node = nodes[id] else { return }
        node.links.removeAll { $0.parent == parent && ($0.name == name || $0.name == newName) }
        node.links.insert(Link(parent: parent, name: newName), at: 0)
        nodes[id] = node
    }

    /// Records the version seen at open and says whether it equals the one
    /// seen at the previous open (so the page cache may be kept).
    mutating func opened(_ id: UInt64, version: UInt32) -> Bool {
        guard var node = nodes[id] else { return false }
        let unchanged = node.openedVersion == version
        node.openedVersion = version
        node.qid.version = version
        nodes[id] = node
        return unchanged
    }

    /// The root's qid, once the first Tstat told it (attach may not have).
    mutating func setRootQid(_ qid: Qid) {
        guard var root = nodes[Self.root] else { return }
        if root.qid.path != qid.path, byPath[root.qid.path] == Self.root { byPath[root.qid.path] = nil }
        root.qid = qid
        nodes[Self.root] = root
        if byPath[qid.path] == nil { byPath[qid.path] = Self.root }
    }

    /// "/a/b/c", for messages; names unknown are shown as "?".
    func path(of id: UInt64) -> String {
        var parts: [String] = []
        var current = id
        var seen: Set<UInt64> = []
        while current != Self.root, seen.insert(current).inserted {
            guard let link = nodes[current]?.links.first else {
                parts.append("?")
                break
            }
            parts.append(link.name)
            current = link.parent
        }
        return "/" + parts.reversed().joined(separator: "/")
    }

    // MARK: Names known to be missing (see `KnownNames`)

    /// Whether `name` is known to be missing from directory `dir`, and
    /// whether to read its listing now.
    mutating func lookUp(_ name: String, in dir: UInt64, now: UInt64, validity: UInt64) -> (
        answer: KnownNames.Answer, read: Bool
    ) {
        known[dir]?.lookUp(name, now: now, validity: validity) ?? (.ask, false)
    }

    /// The server said `name` is not in `dir`; returns whether to read its listing now.
    mutating func missed(_ name: String, in dir: UInt64, now: UInt64, validity: UInt64) -> Bool {
        guard !isClosed, nodes[dir] != nil else { return false }
        return known[dir, default: KnownNames()].missed(name, now: now, validity: validity)
    }

    /// `name` now is (or is not) in `dir`: made, removed or renamed by this
    /// mount, or seen by a lookup.
    mutating func nameChanged(_ name: String, in dir: UInt64, present: Bool) {
        known[dir]?.changed(name, present: present)
    }

    /// This mount made directory `id`, empty at `asOf`.
    mutating func madeDirectory(_ id: UInt64, asOf: UInt64) {
        guard !isClosed, nodes[id]?.isDirectory == true else { return }
        known[id] = KnownNames(empty: asOf)
    }

    /// The listing of `dir` asked for at `asOf` came, with these names.
    mutating func listed(_ dir: UInt64, _ names: some Sequence<String>, asOf: UInt64) {
        known[dir]?.listed(names, asOf: asOf)
    }

    mutating func listingFailed(_ dir: UInt64) {
        known[dir]?.listingFailed()
    }

    /// What happened to `dir`'s names is unknown (an answer lost with the
    /// connection): nothing is known of them any more.
    mutating func forgetNames(of dir: UInt64) {
        known[dir] = nil
    }

    /// The connection was lost: the server may come back with other files.
    mutating func forgetAllNames() {
        known.removeAll()
    }

    // MARK: Handles

    /// Adds an open handle and returns its id; nil once closed.
    /// The node standing for the file with this qid.path, if the kernel knows one.
    func node(withPath path: UInt64) -> UInt64? {
        byPath[path]
    }

    mutating func open(_ handle: Handle) -> UInt64? {
        guard !isClosed else { return nil }
        let id = nextHandle
        nextHandle += 1
        handles[id] = handle
        handlesOfNode[handle.node, default: []].insert(id)
        return id
    }

    mutating func close(_ id: UInt64) -> Handle? {
        guard let handle = handles.removeValue(forKey: id) else { return nil }
        handlesOfNode[handle.node]?.remove(id)
        if handlesOfNode[handle.node]?.isEmpty == true { handlesOfNode[handle.node] = nil }
        return handle
    }

    /// An open handle of node `id`, preferring `preferred`: its fid reaches
    /// the same file without a walk.
    func openHandle(of id: UInt64, preferring preferred: UInt64?) -> Handle? {
        if let preferred, let handle = handles[preferred], handle.node == id { return handle }
        return handlesOfNode[id]?.first.flatMap { handles[$0] }
    }

    mutating func updateListing(_ id: UInt64, _ change: (inout Listing) -> Void) {
        guard var handle = handles[id], var listing = handle.listing else { return }
        change(&listing)
        handle.listing = listing
        handles[id] = handle
    }

    // MARK: Shutdown

    /// Empties both tables and returns every fid they held (the root's too).
    mutating func removeAll() -> [Fid] {
        isClosed = true
        let fids = nodes.values.compactMap(\.fid) + handles.values.map(\.fid)
        nodes.removeAll()
        byPath.removeAll()
        handles.removeAll()
        handlesOfNode.removeAll()
        known.removeAll()
        return fids
    }
}
