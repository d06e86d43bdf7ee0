import Glibc
import NinePClient
import NinePFuse
import NinePWire
import Testing

@Suite("9P error strings → errno")
struct ErrnoTableTests {
    @Test("Plan 9 kernel, lib9p and u9fs texts", arguments: [
        ("file does not exist", ENOENT), ("file not found", ENOENT), ("file already exists", EEXIST),
        ("permission denied", EACCES), ("not a directory", ENOTDIR), ("is a directory", EISDIR),
        ("file is a directory", EISDIR), ("directory not empty", ENOTEMPTY), ("file in use", EBUSY),
        ("bad character in file name", EINVAL), ("file system read only", EROFS), ("interrupted", EINTR),
        ("walk in non-directory", ENOTDIR), ("create in non-directory", ENOTDIR), ("create prohibited", EPERM),
        ("wstat prohibited", EPERM), ("unknown fid", ESTALE), ("too many fids", EMFILE),
        ("exclusive use file already open", EBUSY), ("name too long", ENAMETOOLONG),
        ("operation not supported", EOPNOTSUPP), ("9P protocol botch", EIO),
        // u9fs
        ("file or directory already exists", EEXIST), ("fid unknown or out of range", ESTALE),
        ("only owner can change mode", EPERM), ("unknown group", EINVAL), ("not in group", EPERM),
        ("i/o count too large", EINVAL), ("bogus wstat buffer", EINVAL),
    ] as [(String, Int32)])
    func knownTexts(_ text: String, _ expected: Int32) {
        #expect(NinePErrno.errno(for: text) == expected, "\(text)")
    }

    @Test("Linux strerror texts relayed by servers", arguments: [
        ENOENT, EACCES, EPERM, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, EROFS, ENOSPC, EINVAL, ENAMETOOLONG,
        EBUSY, EXDEV, EFBIG, ESTALE, EDQUOT, EMFILE, ELOOP, EMLINK, ETXTBSY,
    ])
    func strerrorTexts(_ code: Int32) {
        let text = String(cString: strerror(code))
        #expect(NinePErrno.errno(for: text) == code, "\(text)")
        #expect(NinePErrno.errno(for: text.uppercased()) == code, "matching ignores case")
    }

    @Test("ninep's own server and export texts")
    func ninepTexts() {
        let constants: [(NinePError, Int32)] = [
            (.doesNotExist, ENOENT), (.notFound, ENOENT), (.exists, EEXIST), (.permissionDenied, EACCES),
            (.notDirectory, ENOTDIR), (.isDirectory, EISDIR), (.notEmpty, ENOTEMPTY), (.readOnly, EROFS),
            (.interrupted, EINTR), (.inUse, EBUSY), (.badName, EINVAL), (.tooManyFids, EMFILE),
            (.noCreate, EPERM), (.noRemove, EPERM), (.noWrite, EPERM), (.noWstat, EPERM),
            (.walkOpenFid, EIO), (.wstatUid, EPERM), (.wstatDirectoryLength, EISDIR), (.fileTooLarge, EFBIG),
            (.removeRoot, EBUSY), (.directoryEntryTooLarge, EINVAL),
        ]
        for (error, expected) in constants {
            #expect(NinePErrno.errno(for: error.ename) == expected, "\(error.ename)")
            #expect(NinePErrno.errno(for: error) == expected, "\(error.ename) as an Error")
        }
        #expect(NinePErrno.errno(for: "wstat -- attempt to change DMDIR bit") == EPERM)
        #expect(NinePErrno.errno(for: "cannot open a device, pipe or socket through the export") == EOPNOTSUPP)
    }

    @Test("known fragments inside longer texts", arguments: [
        ("'/usr/glenda/x' does not exist", ENOENT), ("remove -- directory not empty", ENOTEMPTY),
        ("open: Permission denied (server policy)", EACCES), ("create: name exists", EEXIST),
        ("mount is read-only", EROFS), ("device or resource busy now", EBUSY), ("too many open files here", EMFILE),
        ("component name too long", ENAMETOOLONG), ("bad character in name 'a\\b'", EINVAL),
    ] as [(String, Int32)])
    func fragments(_ text: String, _ expected: Int32) {
        #expect(NinePErrno.errno(for: text) == expected, "\(text)")
    }

    @Test("anything else is EIO, never an odd errno")
    func fallback() {
        for text in ["", "something odd happened", "gremlins", "Δ", "9P2000.u unsupported message 120"] {
            #expect(NinePErrno.errno(for: text) == EIO, "\(text)")
        }
    }

    @Test("client errors: lost connection EIO, short walk ENOENT, cancellation EINTR")
    func clientErrors() {
        #expect(NinePErrno.errno(for: NinePClientError(.connectionLost(reason: "eof"))) == EIO)
        #expect(NinePErrno.errno(for: NinePClientError(.walkIncomplete(name: "x"))) == ENOENT)
        #expect(NinePErrno.errno(for: NinePClientError(.server(NinePError("file does not exist")))) == ENOENT)
        #expect(NinePErrno.errno(for: NinePClientError(.protocolError("bad"))) == EIO)
        #expect(NinePErrno.errno(for: CancellationError()) == EINTR)
        #expect(NinePErrno.name(of: ENOENT) == "ENOENT")
    }
}
