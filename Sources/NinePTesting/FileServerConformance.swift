import Glibc
public import NinePTransport
import NinePWire

/// A conformance suite for any 9P2000 file server, driven over the wire
/// with a `RawNinePClient`: exact T-messages, exact expectations from
/// intro(5), version(5) … wstat(5), lib9p's srv.c where the manual leaves a
/// choice, and confinement to the served tree.
///
/// ```swift
/// @Test(arguments: FileServerConformance.checks(for: .ramFS))
/// func conformance(_ check: FileServerConformance.Check) async throws {
///     try await LocalServer.with(RamFS()) { address in
///         try await FileServerConformance(address: address, capabilities: .ramFS).run(check)
///     }
/// }
/// ```
///
/// Each check opens its own connection (Tversion with `msize`, Tattach as
/// `capabilities.uname`), works in a fresh directory `<check>-<random>` in
/// the root, and removes it afterwards over a second connection, so checks
/// run in any order and in parallel against one server. A failure is a
/// `ConformanceFailure` naming the check, the message sent and the reply.
///
/// What a server must do where servers legitimately differ is said by
/// `Capabilities`; checks that need a capability a server lacks do not apply
/// to it (`Check.requirement`).
public struct FileServerConformance: Sendable {
    /// One check of the suite.
    public enum Check: String, CaseIterable, Sendable, CustomStringConvertible {
        // version(5), attach(5)
        /// msize is at most what the client offered; "9P2000" and
        /// "9P2000.anything" both negotiate 9P2000; Rversion carries NOTAG.
        case versionNegotiatesMsize
        /// An unknown version answers Rversion "unknown" (not Rerror); until
        /// a good Tversion, nothing else is served.
        case versionUnknownAnswersUnknown
        /// A second Tversion clunks every fid.
        case versionResetsSession
        /// Rattach gives a directory qid, the root is named "/", a second
        /// attach gives the same qid; an in-use fid, an unknown afid and
        /// Tauth (this suite needs no authentication) are refused.
        case attachGivesRoot

        // walk(5)
        /// A walk of no names clones the fid; fid == newfid is allowed; a
        /// newfid already in use is refused.
        case walkZeroNamesClones
        /// Several names at once, up to sixteen, with one qid per name.
        case walkMultipleNames
        /// A walk failing after the first name answers the qids walked and
        /// leaves newfid unused (and fid unchanged when newfid == fid).
        case walkShortLeavesNewfidUnused
        /// A walk whose first name fails is Rerror; newfid stays unused.
        case walkFirstElementFails
        /// ".." goes to the parent, and at the root stays at the root.
        case walkDotDot
        /// A fid opened for I/O cannot be walked, not even cloned.
        case walkOpenFidRefused
        /// Walking names from a file is refused; cloning a file is fine.
        case walkFromFileRefused

        // open(5)
        /// OREAD reads; writing the fid is refused.
        case openRead
        /// OWRITE writes; reading the fid is refused.
        case openWrite
        /// ORDWR reads and writes through one fid.
        case openReadWrite
        /// OEXEC opens an executable for reading; with execute bits, a file
        /// without them is refused and created files keep them.
        case openExec
        /// OTRUNC empties the file.
        case openTruncate
        /// ORCLOSE removes the file when the fid is clunked (Topen and Tcreate).
        case openRemoveOnClose
        /// A directory cannot be opened for writing or truncation.
        case openDirectoryForWritingRefused
        /// An open fid cannot be opened again.
        case openTwiceRefused

        // create
        /// Tcreate of a file: the fid becomes the new file, open as asked.
        case createFile
        /// Tcreate with DMDIR makes a directory, open for reading.
        case createDirectory
        /// An existing name (file or directory) is refused.
        case createExistingRefused
        /// Creating in a file is refused.
        case createInFileRefused
        /// open(5): "perm & (~0666 | (dir.perm & 0666))" for files, 0777 for directories.
        case createPermissionRule
        /// "", ".", "..", and names with "/" or NUL are refused.
        case createBadNamesRefused

        // read(5), write(5)
        /// Writes at offsets, holes read as zeros.
        case readWriteAtOffsets
        /// Reads at and past the end return 0 bytes; straddling reads are short.
        case readPastEndReturnsNothing
        /// count up to msize − IOHDRSZ is served, above it refused.
        case countAboveIounitRefused

        // directories
        /// Every entry exactly once, in whole entries, even with small counts.
        case directoryReadEveryEntryOnce
        /// Offset 0 restarts; any offset but where the last read ended is
        /// refused; a count too small for the next entry is an error.
        case directoryReadOffsetRules

        // stat(5)
        /// name, qid (== the walk's), qid.type echoing the mode, length, the
        /// root's name "/", and directory entries agreeing with Tstat.
        case statFields

        // wstat
        /// Renaming within the directory, files and directories.
        case wstatRename
        /// Renaming over an existing name: `Capabilities.renameOverExisting`.
        case wstatRenameOverExisting
        /// Permission bits change; the DMDIR bit cannot.
        case wstatMode
        /// Length down truncates, up zero-fills; a directory's cannot be set.
        case wstatLength
        /// mtime (with mode in the same Twstat) is set.
        case wstatMtime
        /// All "don't touch" succeeds (a sync) and changes nothing.
        case wstatAllDontTouchSyncs
        /// Changing the owner (uid) is refused.
        case wstatUidRefused

        // remove(5), clunk(5), flush(5)
        /// A file is removed and its fid clunked.
        case removeFile
        /// An empty directory is removed.
        case removeEmptyDirectory
        /// A non-empty directory is refused, and the fid is clunked anyway.
        case removeNonEmptyDirectoryRefused
        /// A clunked fid is unknown, then free for reuse.
        case clunkFreesFid
        /// Tflush of a tag not in use answers Rflush.
        case flushUnknownTagAnswersRflush

        // permissions
        /// Plan 9 permissions against the attach uname (another user's 0600
        /// file, 0644 file, 0755 directory).
        case permissionsFollowUname

        // confinement
        /// ".." repeated from the root and from deep directories never goes
        /// above the root (compared by qid).
        case confinementDotDot
        /// Names with "/" (or NUL) never act as paths: walk, create and
        /// rename refuse them.
        case confinementSlashInNames
        /// Symlinks to a directory outside (absolute and relative) cannot be
        /// walked through and reveal nothing.
        case confinementSymlinkToOutsideDirectory
        /// Symlinks to a file outside (absolute and relative) neither reveal
        /// nor change it; create does not follow a dangling one.
        case confinementSymlinkToOutsideFile
        /// A symlink swapped in after a walk does not redirect the fid.
        case confinementSymlinkSwappedIn

        public var description: String { rawValue }

        /// What a server needs for this check to apply, if anything.
        public var requirement: Requirement? {
            switch self {
            case .confinementSymlinkToOutsideDirectory, .confinementSymlinkToOutsideFile, .confinementSymlinkSwappedIn:
                .backingDirectory
            case .permissionsFollowUname:
                .unamePermissions
            default:
                nil
            }
        }
    }

    /// A capability some checks need.
    public enum Requirement: Sendable, Hashable {
        /// `Capabilities.backingDirectory`: the suite plants symbolic links there.
        case backingDirectory
        /// `Capabilities.enforcesUnamePermissions`.
        case unamePermissions
    }

    /// Where servers legitimately differ.
    public struct Capabilities: Sendable {
        /// What a Twstat renaming a file over an existing name does.
        public enum RenameOverExisting: Sendable {
            /// The existing file is replaced atomically (POSIX rename; the export).
            case replaces
            /// Refused, the existing file untouched (Plan 9's kernel and lib9p).
            case refused
        }

        /// The host directory the server exports, when there is one (an
        /// export): checks plant symbolic links in it and look at it to
        /// confirm that changes reached the host.
        public var backingDirectory: String?
        /// Whether execute permission bits are kept and OEXEC needs one.
        public var supportsExecutableBits: Bool
        /// Whether the server checks Plan 9 permissions against the attach
        /// uname (ramfs). An export leaves it to the host's checks.
        public var enforcesUnamePermissions: Bool
        /// What renaming over an existing name does.
        public var renameOverExisting: RenameOverExisting
        /// The user the checks attach as.
        public var uname: String
        /// A second user, for permission checks.
        public var otherUname: String

        public init(
            backingDirectory: String? = nil, supportsExecutableBits: Bool = true,
            enforcesUnamePermissions: Bool = false, renameOverExisting: RenameOverExisting = .refused,
            uname: String = "glenda", otherUname: String = "conformance-other"
        ) {
            self.backingDirectory = backingDirectory
            self.supportsExecutableBits = supportsExecutableBits
            self.enforcesUnamePermissions = enforcesUnamePermissions
            self.renameOverExisting = renameOverExisting
            self.uname = uname
            self.otherUname = otherUname
        }

        /// NinePServer's RamFS (and `ninep ramfs`): lib9p permissions by uname, rename over a name refused.
        public static let ramFS = Capabilities(enforcesUnamePermissions: true, renameOverExisting: .refused)

        /// NinePExport's ExportFileServer (and `ninep export`) of
        /// `backingDirectory`, attached as the user running the checks (whom
        /// `ninep export` expects: it checks the attach name against the
        /// user the transport vouches for).
        public static func hostExport(backingDirectory: String?) -> Capabilities {
            Capabilities(
                backingDirectory: backingDirectory, enforcesUnamePermissions: false, renameOverExisting: .replaces,
                uname: LocalUser.name(of: geteuid()))
        }

        /// Whether a check with this requirement applies.
        public func meets(_ requirement: Requirement?) -> Bool {
            switch requirement {
            case nil: true
            case .backingDirectory: backingDirectory != nil
            case .unamePermissions: enforcesUnamePermissions
            }
        }
    }

    /// What the suite knows of the server.
    public var capabilities: Capabilities
    /// The msize offered in Tversion. Small, so that the count limits are
    /// cheap to reach.
    public var msize: UInt32 = 8192 + NineP.ioHeaderSize
    /// Makes a new connection to the server.
    public let connect: @Sendable () async throws -> RawNinePClient

    /// A suite that connects with `connect`.
    public init(capabilities: Capabilities, connect: @escaping @Sendable () async throws -> RawNinePClient) {
        self.capabilities = capabilities
        self.connect = connect
    }

    /// A suite that dials `address` (tcp! or unix!) for each connection.
    public init(address: NinePAddress, capabilities: Capabilities) {
        self.init(capabilities: capabilities) { try await RawNinePClient.connect(to: address) }
    }

    /// The checks that apply to a server with `capabilities`.
    public static func checks(for capabilities: Capabilities) -> [Check] {
        Check.allCases.filter { capabilities.meets($0.requirement) }
    }

    /// Runs one check: a new connection, a fresh directory, the check,
    /// removal of the directory.
    ///
    /// - Throws: `ConformanceFailure` if the server does not conform (or
    ///   the check does not apply to these capabilities).
    public func run(_ check: Check) async throws {
        guard capabilities.meets(check.requirement) else {
            throw ConformanceFailure(check.rawValue, "needs \(check.requirement.map { "\($0)" } ?? "-"), which these capabilities lack")
        }
        try await ConformanceRun.inWorkDirectory(for: check.rawValue) { workName in
            let session = try await ConformanceSession.open(
                check: check.rawValue, msize: msize, uname: capabilities.uname, connect: connect)
            try await session.closing { session in
                let work = try await session.makeDirectory(session.root, workName)
                // open(5)'s rule narrows the new directory by the root's mode
                // (an exported mkdtemp directory is 0700); checks expect 0755.
                try await session.wstat(work, "chmod of the check's directory to 0755") {
                    $0.mode = FileMode(permissions: 0o755, flags: .dir)
                }
                let context = CheckContext(
                    s: session, work: work, workName: workName, workQid: try await session.stat(work).qid,
                    capabilities: capabilities, hostWork: capabilities.backingDirectory.map { $0 + "/" + workName },
                    suite: self)
                try await perform(check, context)
            }
        } cleanup: { workName in
            let s = try await ConformanceSession.open(
                check: "\(check.rawValue) (cleanup)", msize: msize, uname: capabilities.uname, connect: connect)
            try await s.closing { s in
                let target = s.newFid()
                let reply = try await s.call(.twalk(Twalk(fid: s.root, newfid: target, wname: [workName])))
                // Not there: never made, or already gone.
                if case .rwalk(let w) = reply, w.wqid.count == 1 { try await s.removeTree(target) }
            }
        }
    }

    private func perform(_ check: Check, _ c: CheckContext) async throws {
        switch check {
        case .versionNegotiatesMsize: try await versionNegotiatesMsize(c)
        case .versionUnknownAnswersUnknown: try await versionUnknownAnswersUnknown(c)
        case .versionResetsSession: try await versionResetsSession(c)
        case .attachGivesRoot: try await attachGivesRoot(c)
        case .walkZeroNamesClones: try await walkZeroNamesClones(c)
        case .walkMultipleNames: try await walkMultipleNames(c)
        case .walkShortLeavesNewfidUnused: try await walkShortLeavesNewfidUnused(c)
        case .walkFirstElementFails: try await walkFirstElementFails(c)
        case .walkDotDot: try await walkDotDot(c)
        case .walkOpenFidRefused: try await walkOpenFidRefused(c)
        case .walkFromFileRefused: try await walkFromFileRefused(c)
        case .openRead: try await openRead(c)
        case .openWrite: try await openWrite(c)
        case .openReadWrite: try await openReadWrite(c)
        case .openExec: try await openExec(c)
        case .openTruncate: try await openTruncate(c)
        case .openRemoveOnClose: try await openRemoveOnClose(c)
        case .openDirectoryForWritingRefused: try await openDirectoryForWritingRefused(c)
        case .openTwiceRefused: try await openTwiceRefused(c)
        case .createFile: try await createFile(c)
        case .createDirectory: try await createDirectory(c)
        case .createExistingRefused: try await createExistingRefused(c)
        case .createInFileRefused: try await createInFileRefused(c)
        case .createPermissionRule: try await createPermissionRule(c)
        case .createBadNamesRefused: try await createBadNamesRefused(c)
        case .readWriteAtOffsets: try await readWriteAtOffsets(c)
        case .readPastEndReturnsNothing: try await readPastEndReturnsNothing(c)
        case .countAboveIounitRefused: try await countAboveIounitRefused(c)
        case .directoryReadEveryEntryOnce: try await directoryReadEveryEntryOnce(c)
        case .directoryReadOffsetRules: try await directoryReadOffsetRules(c)
        case .statFields: try await statFields(c)
        case .wstatRename: try await wstatRename(c)
        case .wstatRenameOverExisting: try await wstatRenameOverExisting(c)
        case .wstatMode: try await wstatMode(c)
        case .wstatLength: try await wstatLength(c)
        case .wstatMtime: try await wstatMtime(c)
        case .wstatAllDontTouchSyncs: try await wstatAllDontTouchSyncs(c)
        case .wstatUidRefused: try await wstatUidRefused(c)
        case .removeFile: try await removeFile(c)
        case .removeEmptyDirectory: try await removeEmptyDirectory(c)
        case .removeNonEmptyDirectoryRefused: try await removeNonEmptyDirectoryRefused(c)
        case .clunkFreesFid: try await clunkFreesFid(c)
        case .flushUnknownTagAnswersRflush: try await flushUnknownTagAnswersRflush(c)
        case .permissionsFollowUname: try await permissionsFollowUname(c)
        case .confinementDotDot: try await confinementDotDot(c)
        case .confinementSlashInNames: try await confinementSlashInNames(c)
        case .confinementSymlinkToOutsideDirectory: try await confinementSymlinkToOutsideDirectory(c)
        case .confinementSymlinkToOutsideFile: try await confinementSymlinkToOutsideFile(c)
        case .confinementSymlinkSwappedIn: try await confinementSymlinkSwappedIn(c)
        }
    }
}

/// What a check works with.
struct CheckContext: Sendable {
    /// The check's connection, attached as `capabilities.uname` on fid 0.
    let s: ConformanceSession
    /// A fid on the check's own directory (not open).
    let work: Fid
    let workName: String
    let workQid: Qid
    let capabilities: FileServerConformance.Capabilities
    /// The check's directory on the host, when the server exports one.
    let hostWork: String?
    let suite: FileServerConformance

    /// The host path of `name` in the check's directory.
    func host(_ name: String) throws -> String {
        guard let hostWork else { throw s.failure("this check needs Capabilities.backingDirectory") }
        return hostWork + "/" + name
    }

    /// lstat of a host path, or nil if nothing is there.
    func hostStatus(_ path: String) -> stat? {
        var st = stat()
        return lstat(path, &st) == 0 ? st : nil
    }

    /// A second connection attached as `uname`.
    func connectAs(_ uname: String) async throws -> ConformanceSession {
        try await ConformanceSession.open(check: s.check, msize: suite.msize, uname: uname, connect: suite.connect)
    }
}

extension Array where Element == UInt8 {
    /// The UTF-8 bytes of `text`.
    static func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }
}
