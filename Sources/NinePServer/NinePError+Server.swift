public import NinePWire

// Error texts the service loop and the file tree answer with that NinePWire
// does not define. Where lib9p has a text, it is lib9p's (srv.c).
extension NinePError {
    /// lib9p srv.c swalk: a Twalk of a fid that has been opened.
    public static let walkOpenFid = NinePError("cannot clone open fid")
    /// lib9p srv.c: a message the loop does not serve.
    public static let unknownMessage = NinePError("unknown message")
    /// Anything but Tversion before the session has a version.
    public static let versionRequired = NinePError("version not negotiated: Tversion must come first")
    /// Tversion with an msize below `ServerOptions.minMessageSize`.
    public static let messageSizeTooSmall = NinePError("msize too small")
    /// A new fid when all connections together hold `ServerLimits.maxFids`.
    public static let tooManyFidsOnServer = NinePError("too many fids on this server")
    /// A new fid numbered NOFID.
    public static let nofidReserved = NinePError("fid NOFID cannot be allocated")
    /// lib9p srv.c swstat.
    public static let wstatType = NinePError("wstat -- attempt to change type")
    public static let wstatDev = NinePError("wstat -- attempt to change dev")
    public static let wstatQid = NinePError("wstat -- attempt to change qid")
    public static let wstatMuid = NinePError("wstat -- attempt to change muid")
    public static let wstatDirBit = NinePError("wstat -- attempt to change DMDIR bit")
    /// stat(5): "it is illegal to attempt to change the owner of a file".
    public static let wstatUid = NinePError("wstat -- attempt to change uid")
    /// stat(5): "It is an error to attempt to set the length of a directory
    /// to a non-zero value".
    public static let wstatDirectoryLength = NinePError("wstat -- attempt to set length of a directory")
    /// read(5) on a directory: the count cannot hold even the next entry.
    public static let directoryEntryTooLarge = NinePError("read count too small for directory entry")
    /// A write that would grow a file beyond the tree's limit.
    public static let fileTooLarge = NinePError("file too large")
    /// Removing the root of a file tree.
    public static let removeRoot = NinePError("cannot remove root")
}
