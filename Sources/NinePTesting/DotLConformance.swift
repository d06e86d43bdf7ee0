import Glibc
public import NinePTransport
import NinePWire

/// A conformance suite for 9P2000.L servers, driven over the wire with a
/// `RawNinePClient`: every .L transaction, and every check the service
/// loop makes before a FileServer sees a request (RequestCheck), with the
/// errno diod's protocol.md and Linux's v9fs expect.
///
/// ```swift
/// @Test(arguments: DotLConformance.checks(for: .ramFS))
/// func dotL(_ check: DotLConformance.Check) async throws {
///     try await LocalServer.with(RamFS()) { address in
///         try await DotLConformance(address: address, capabilities: .ramFS).run(check)
///     }
/// }
/// ```
///
/// As `FileServerConformance`: each check opens its own connection, works
/// in a fresh directory `<check>-<random>` of the root, and removes it
/// afterwards (Tunlinkat) over a second connection. What servers may
/// legitimately lack (symbolic links, hard links, xattrs, locks, renames
/// across directories) is declared in `Capabilities`; checks needing it do
/// not apply to a server without it.
public struct DotLConformance: Sendable {
    /// One check of the suite.
    public enum Check: String, CaseIterable, Sendable, CustomStringConvertible {
        /// Tversion "9P2000.L" is answered "9P2000.L"; errors are Rlerror
        /// (an unknown fid: an errno, not text).
        case versionAnswersDotL
        /// Tgetattr of the root: a directory (S_IFDIR, qid type DIR), the
        /// attach qid, every basic attribute asked for reported.
        case getattrRoot
        /// Tlcreate makes the file, the fid becomes it, open as asked;
        /// Tgetattr reports S_IFREG, the size written and the qid.
        case lcreateOpensTheNewFile
        /// Tlopen with O_RDONLY, O_WRONLY, O_RDWR and O_TRUNC.
        case lopenAccessModes
        /// Tlopen of an open fid, of a directory for writing; Twalk of an
        /// open fid; Tread of a directory are refused.
        case lopenAndReadValidation
        /// Tmkdir makes a directory the fid does not become; Treaddir lists
        /// ".", ".." and every name exactly once, whatever the count.
        case mkdirAndReaddir
        /// A client resumes a listing from any offset it was given, on the
        /// same fid or another, in any order.
        case readdirResumesFromAnyOffset
        /// Treaddir of an unopened directory, of a file, and with a count
        /// above msize − IOHDRSZ is refused.
        case readdirValidation
        /// Tsetattr changes the mode, the size (cut and extend) and mtime;
        /// Tgetattr shows them.
        case setattrModeSizeMtime
        /// Tsymlink makes a link whose Treadlink is the target verbatim and
        /// whose Tgetattr says S_IFLNK; Treadlink of a file is EINVAL.
        case symlinkAndReadlink
        /// Trenameat and Trename within a directory.
        case renameWithinDirectory
        /// Trenameat and Trename to another directory.
        case renameAcrossDirectories
        /// Tunlinkat of a file and (AT_REMOVEDIR) of a directory; the wrong
        /// flag for each, a non-empty directory and a missing name refused.
        case unlinkat
        /// Names "", ".", "..", and with "/" are refused by Tmkdir,
        /// Tlcreate, Tsymlink, Trenameat and Tunlinkat.
        case badNamesRefused
        /// Tstatfs answers sizes a df could show.
        case statfs
        /// Tfsync of an open fid succeeds; of an unopened one it is refused.
        case fsync
        /// An xattr fid (Txattrwalk) may be read and clunked, nothing else;
        /// a server without xattrs refuses Txattrwalk and leaves newfid unused.
        case xattrFidsAreRestricted
        /// Txattrcreate, Twrite, Tclunk sets an attribute; Txattrwalk reads
        /// it and lists it; writing past the declared size is refused.
        case xattrSetGetList
        /// Tlock takes and releases a write lock; Tgetlock reports UNLCK for
        /// the holder's own range; locks need an open fid.
        case locks
        /// Tlink makes a second name for a file (nlink 2, same qid path);
        /// linking a directory is refused.
        case hardLink
        /// An unknown fid is refused by every .L transaction.
        case unknownFidRefused

        public var description: String { rawValue }

        /// What a server needs for this check to apply, if anything.
        public var requirement: Requirement? {
            switch self {
            case .symlinkAndReadlink: .symlinks
            case .renameAcrossDirectories: .crossDirectoryRename
            case .xattrSetGetList: .xattrs
            case .locks: .locks
            case .hardLink: .hardLinks
            case .versionAnswersDotL, .getattrRoot, .lcreateOpensTheNewFile, .lopenAccessModes, .lopenAndReadValidation,
                .mkdirAndReaddir, .readdirResumesFromAnyOffset, .readdirValidation, .setattrModeSizeMtime,
                .renameWithinDirectory, .unlinkat, .badNamesRefused, .statfs, .fsync, .xattrFidsAreRestricted,
                .unknownFidRefused:
                nil
            }
        }
    }

    /// A capability some checks need.
    public enum Requirement: String, Sendable, Hashable {
        case symlinks, hardLinks, xattrs, locks, crossDirectoryRename
    }

    /// Where .L servers legitimately differ.
    public struct Capabilities: Sendable {
        /// What the server supports of `Requirement`.
        public var supports: Set<Requirement>
        /// The user the checks attach as, by name and number.
        public var uname: String
        public var nUname: UInt32
        /// The aname of Tattach.
        public var aname: String

        public init(
            supports: Set<Requirement>, uname: String = "glenda", nUname: UInt32 = 1000, aname: String = ""
        ) {
            self.supports = supports
            self.uname = uname
            self.nUname = nUname
            self.aname = aname
        }

        /// NinePServer's RamFS (and `ninep ramfs`): symbolic links; renames
        /// within a directory only; no hard links, xattrs or locks.
        public static let ramFS = Capabilities(supports: [.symlinks])

        /// A host directory export over .L: everything.
        public static let hostExport = Capabilities(
            supports: [.symlinks, .hardLinks, .xattrs, .locks, .crossDirectoryRename])

        public func meets(_ requirement: Requirement?) -> Bool {
            requirement.map { supports.contains($0) } ?? true
        }
    }

    public var capabilities: Capabilities
    /// The msize offered: small, so that count limits are cheap to reach.
    public var msize: UInt32 = 8192 + NineP.ioHeaderSize
    public let connect: @Sendable () async throws -> RawNinePClient

    public init(capabilities: Capabilities, connect: @escaping @Sendable () async throws -> RawNinePClient) {
        self.capabilities = capabilities
        self.connect = connect
    }

    /// A suite that dials `address` for each connection.
    public init(address: NinePAddress, capabilities: Capabilities) {
        self.init(capabilities: capabilities) { try await RawNinePClient.connect(to: address) }
    }

    /// The checks that apply to a server with `capabilities`.
    public static func checks(for capabilities: Capabilities) -> [Check] {
        Check.allCases.filter { capabilities.meets($0.requirement) }
    }

    /// Runs one check in a fresh directory, then removes the directory.
    /// - Throws: `ConformanceFailure` if the server does not conform (or
    ///   the check does not apply to these capabilities).
    public func run(_ check: Check) async throws {
        guard capabilities.meets(check.requirement) else {
            throw ConformanceFailure(check.rawValue, "needs \(check.requirement?.rawValue ?? "-"), which these capabilities lack")
        }
        try await ConformanceRun.inWorkDirectory(for: check.rawValue) { workName in
            try await session(check.rawValue).closing { s in
                try await s.mkdir(s.root, workName, mode: 0o755)
                let work = try await s.walk(s.root, [workName])
                try await perform(check, DotLContext(s: s, work: work, suite: self))
            }
        } cleanup: { workName in
            try await session("\(check.rawValue) (cleanup)").closing { s in
                if try await s.exists(s.root, workName) { try await s.removeTree(s.root, workName) }
            }
        }
    }

    func session(_ check: String) async throws -> DotLSession {
        try await DotLSession.open(
            check: check, msize: msize, uname: capabilities.uname, nUname: capabilities.nUname,
            aname: capabilities.aname, connect: connect)
    }

    private func perform(_ check: Check, _ c: DotLContext) async throws {
        switch check {
        case .versionAnswersDotL: try await versionAnswersDotL(c)
        case .getattrRoot: try await getattrRoot(c)
        case .lcreateOpensTheNewFile: try await lcreateOpensTheNewFile(c)
        case .lopenAccessModes: try await lopenAccessModes(c)
        case .lopenAndReadValidation: try await lopenAndReadValidation(c)
        case .mkdirAndReaddir: try await mkdirAndReaddir(c)
        case .readdirResumesFromAnyOffset: try await readdirResumesFromAnyOffset(c)
        case .readdirValidation: try await readdirValidation(c)
        case .setattrModeSizeMtime: try await setattrModeSizeMtime(c)
        case .symlinkAndReadlink: try await symlinkAndReadlink(c)
        case .renameWithinDirectory: try await renameWithinDirectory(c)
        case .renameAcrossDirectories: try await renameAcrossDirectories(c)
        case .unlinkat: try await unlinkat(c)
        case .badNamesRefused: try await badNamesRefused(c)
        case .statfs: try await statfs(c)
        case .fsync: try await fsync(c)
        case .xattrFidsAreRestricted: try await xattrFidsAreRestricted(c)
        case .xattrSetGetList: try await xattrSetGetList(c)
        case .locks: try await locks(c)
        case .hardLink: try await hardLink(c)
        case .unknownFidRefused: try await unknownFidRefused(c)
        }
    }
}

/// What a .L check works with.
struct DotLContext: Sendable {
    let s: DotLSession
    /// A fid on the check's own directory (not open).
    let work: Fid
    let suite: DotLConformance
}
