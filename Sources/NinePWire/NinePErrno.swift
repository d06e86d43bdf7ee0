import Glibc

/// Turns the error strings of 9P servers into Linux errno values, and back.
///
/// One table for every layer: the client and the mount read a 9P2000
/// server's text as an errno; the server library answers 9P2000.u's Rerror
/// errno and 9P2000.L's Rlerror from the text of a FileServer written for
/// 9P2000 (`NinePError.linuxErrno`).
///
/// 9P2000 carries errors as text (error(5)), and every server family words
/// them its own way. The table knows, matched case-insensitively:
/// - exact texts: Plan 9's kernel (port/error.h) and lib9p (srv.c), u9fs,
///   fossil and kfs, ninep's own server and export, and every Linux
///   `strerror` text (servers on Unix relay them: "No such file or directory");
/// - then substrings, in order: "does not exist" and "not found" → ENOENT,
///   "permission denied" → EACCES, "not a directory" → ENOTDIR, "exists" → EEXIST, …
///
/// Anything else is `EIO`: never an errno that would mislead the caller.
public enum NinePErrno {
    /// The errno for a server's error string.
    public static func errno(for ename: String) -> Int32 {
        let text = ename.lowercased()
        if let exact = exactTexts[text] { return exact }
        for (fragment, code) in substrings where text.contains(fragment) { return code }
        return EIO
    }

    /// The text of `code` as the host's strerror(3) words it ("No such
    /// file or directory"): what a 9P2000 client is shown for an errno.
    public static func text(for code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// The symbolic name of an errno for traces ("ENOENT"), or its number.
    public static func name(of code: Int32) -> String {
        names[code] ?? "errno \(code)"
    }

    // MARK: The table

    /// Texts known word for word. Later entries win over `strerror`'s.
    private static let known: [(String, Int32)] = [
        // lib9p srv.c (NinePError's constants)
        ("unknown specifier in attach", ENOENT),
        ("bad offset", EINVAL),
        ("bad count", EINVAL),
        ("9p protocol botch", EIO),
        ("create in non-directory", ENOTDIR),
        ("duplicate fid", EIO),
        ("duplicate tag", EIO),
        ("is a directory", EISDIR),
        ("create prohibited", EPERM),
        ("remove prohibited", EPERM),
        ("stat prohibited", EACCES),
        ("file not found", ENOENT),
        ("write prohibited", EPERM),
        ("wstat prohibited", EPERM),
        ("permission denied", EACCES),
        ("unknown fid", ESTALE),
        ("bad directory in wstat", EINVAL),
        ("walk in non-directory", ENOTDIR),
        ("fid is already open", EIO),
        ("fid not open", EBADF),
        ("file not open for writing", EBADF),
        ("file not open for reading", EBADF),
        ("authentication not required", EACCES),
        ("interrupted", EINTR),
        ("request dropped by server", EIO),
        // Plan 9 kernel, port/error.h
        ("file does not exist", ENOENT),
        ("file already exists", EEXIST),
        ("not a directory", ENOTDIR),
        ("file is a directory", EISDIR),
        ("directory not empty", ENOTEMPTY),
        ("file in use", EBUSY),
        ("device or object already in use", EBUSY),
        ("exclusive use file already open", EBUSY),
        ("bad character in file name", EINVAL),
        ("file name syntax", EINVAL),
        ("name too long", ENAMETOOLONG),
        ("file system read only", EROFS),
        ("too many fids", EMFILE),
        ("too many outstanding requests", EAGAIN),
        ("operation not supported", EOPNOTSUPP),
        ("mounted directory forbids creation", EACCES),
        ("mount/attach disallowed", EACCES),
        ("inappropriate use of fd", EBADF),
        ("fd out of range or not open", EBADF),
        ("bad arg in system call", EINVAL),
        ("i/o error", EIO),
        ("read or write too large", EFBIG),
        ("read or write too small", EINVAL),
        ("i/o on hungup channel", EPIPE),
        ("seek on a stream", ESPIPE),
        ("seek in directory", EINVAL),
        ("negative i/o offset", EINVAL),
        ("inconsistent mode", EINVAL),
        ("malformed stat buffer", EINVAL),
        ("stat buffer too small", EINVAL),
        ("bad attach specifier", ENOENT),
        ("no free file descriptors", EMFILE),
        ("kernel allocate failed", ENOMEM),
        ("virtual memory allocation failed", ENOMEM),
        ("connection timed out", ETIMEDOUT),
        ("connection refused", ECONNREFUSED),
        ("device shut down", EIO),
        ("not mounted", EINVAL),
        ("is a mount point", EBUSY),
        // fossil, kfs, cwfs
        ("directory is not empty", ENOTEMPTY),
        ("file is in use", EBUSY),
        ("read only file system", EROFS),
        ("file system full", ENOSPC),
        ("disk full", ENOSPC),
        ("wstat -- not owner", EPERM),
        ("wstat -- not in group", EPERM),
        ("not owner", EPERM),
        ("not in group", EPERM),
        // u9fs
        ("authentication failed", EACCES),
        ("fid unknown or out of range", ESTALE),
        ("bad offset in directory read", EINVAL),
        ("bad use of fid", EBADF),
        ("cannot convert between files and directories", EINVAL),
        ("file or directory already exists", EEXIST),
        ("fid already in use", EIO),
        ("only owner can change mode", EPERM),
        ("no access to special file", EACCES),
        ("i/o count too large", EINVAL),
        ("unknown group", EINVAL),
        ("unknown user", EINVAL),
        ("bogus wstat buffer", EINVAL),
        // ninep's service loop, file tree and export
        ("cannot clone open fid", EIO),
        ("unknown message", EIO),
        ("msize too small", EIO),
        ("fid nofid cannot be allocated", EIO),
        ("wstat -- attempt to change uid", EPERM),
        ("wstat -- attempt to set length of a directory", EISDIR),
        ("read count too small for directory entry", EINVAL),
        ("file too large", EFBIG),
        ("cannot remove root", EBUSY),
        ("i/o count too small", EINVAL),
        ("wstat -- attempt to change dmdir bit", EPERM),
        ("wstat -- attempt to change type", EPERM),
        ("wstat -- attempt to change dev", EPERM),
        ("wstat -- attempt to change qid", EPERM),
        ("wstat -- attempt to change muid", EPERM),
        ("cannot open a device, pipe or socket through the export", EOPNOTSUPP),
        ("symbolic links can only be renamed or removed", EPERM),
    ]

    /// Fragments tried in order when no exact text matched.
    private static let substrings: [(String, Int32)] = [
        ("does not exist", ENOENT),
        ("not found", ENOENT),
        ("no such file", ENOENT),
        ("no such", ENOENT),
        ("not a directory", ENOTDIR),
        ("non-directory", ENOTDIR),
        ("is a directory", EISDIR),
        ("not empty", ENOTEMPTY),
        ("permission denied", EACCES),
        ("access denied", EACCES),
        ("not permitted", EPERM),
        ("prohibited", EPERM),
        ("not owner", EPERM),
        ("already exists", EEXIST),
        ("exists", EEXIST),
        ("read only", EROFS),
        ("read-only", EROFS),
        ("readonly", EROFS),
        ("interrupted", EINTR),
        ("flushed", EINTR),
        ("name too long", ENAMETOOLONG),
        ("too long", ENAMETOOLONG),
        ("too many links", EMLINK),
        ("too many levels", ELOOP),
        ("too many open", EMFILE),
        ("too many", EMFILE),
        ("in use", EBUSY),
        ("busy", EBUSY),
        ("bad character", EINVAL),
        ("invalid", EINVAL),
        ("no space", ENOSPC),
        ("disk full", ENOSPC),
        ("quota", EDQUOT),
        ("too large", EFBIG),
        ("too big", EFBIG),
        ("timed out", ETIMEDOUT),
        ("not supported", EOPNOTSUPP),
        ("not implemented", ENOSYS),
        ("cross-device", EXDEV),
        ("stale", ESTALE),
        ("unknown fid", ESTALE),
        ("out of memory", ENOMEM),
        ("broken pipe", EPIPE),
        ("hungup", EPIPE),
        ("hung up", EPIPE),
    ]

    /// The errnos whose `strerror` text servers may relay, and the names used in traces.
    private static let errnos: [(Int32, String)] = [
        (EPERM, "EPERM"), (ENOENT, "ENOENT"), (ESRCH, "ESRCH"), (EINTR, "EINTR"), (EIO, "EIO"),
        (ENXIO, "ENXIO"), (E2BIG, "E2BIG"), (ENOEXEC, "ENOEXEC"), (EBADF, "EBADF"), (ECHILD, "ECHILD"),
        (EAGAIN, "EAGAIN"), (ENOMEM, "ENOMEM"), (EACCES, "EACCES"), (EFAULT, "EFAULT"), (EBUSY, "EBUSY"),
        (EEXIST, "EEXIST"), (EXDEV, "EXDEV"), (ENODEV, "ENODEV"), (ENOTDIR, "ENOTDIR"), (EISDIR, "EISDIR"),
        (EINVAL, "EINVAL"), (ENFILE, "ENFILE"), (EMFILE, "EMFILE"), (ENOTTY, "ENOTTY"), (ETXTBSY, "ETXTBSY"),
        (EFBIG, "EFBIG"), (ENOSPC, "ENOSPC"), (ESPIPE, "ESPIPE"), (EROFS, "EROFS"), (EMLINK, "EMLINK"),
        (EPIPE, "EPIPE"), (ERANGE, "ERANGE"), (ENAMETOOLONG, "ENAMETOOLONG"), (ENOSYS, "ENOSYS"),
        (ENOTEMPTY, "ENOTEMPTY"), (ELOOP, "ELOOP"), (EOPNOTSUPP, "EOPNOTSUPP"), (ETIMEDOUT, "ETIMEDOUT"),
        (ECONNREFUSED, "ECONNREFUSED"), (ECONNRESET, "ECONNRESET"), (ENOTCONN, "ENOTCONN"),
        (ESTALE, "ESTALE"), (EDQUOT, "EDQUOT"), (EOVERFLOW, "EOVERFLOW"), (EILSEQ, "EILSEQ"),
        (ENOTSUP, "ENOTSUP"), (ECANCELED, "ECANCELED"), (EHOSTUNREACH, "EHOSTUNREACH"),
        (ENETUNREACH, "ENETUNREACH"), (EADDRINUSE, "EADDRINUSE"), (ENOLCK, "ENOLCK"), (EDEADLK, "EDEADLK"),
    ]

    private static let names: [Int32: String] = Dictionary(errnos.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })

    private static let exactTexts: [String: Int32] = {
        var exact: [String: Int32] = [:]
        for (code, _) in errnos {
            exact[String(cString: strerror(code)).lowercased()] = code
        }
        // Older glibc wording, still relayed by long-lived servers.
        exact["stale nfs file handle"] = ESTALE
        for (text, code) in known { exact[text] = code }
        return exact
    }()
}
