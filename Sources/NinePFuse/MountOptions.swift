public import FuseLowLevel
public import NIOCore

/// How a 9P tree is mounted: caching, permissions and what the kernel may do,
/// parsed from `-o` strings as mount(8) takes them.
public struct MountOptions: Sendable, Hashable {
    /// No caching at all (`direct_io`): every read and write goes to the
    /// server (no page cache), and, unless given explicitly, the three
    /// timeouts below are 0, so every lookup and every stat asks the server
    /// too (a file another client makes or changes is seen at once).
    public var directIO = false
    /// Let the kernel cache writes and send them later (`writeback`, `writeback_cache`).
    public var writebackCache = false
    /// Seconds the kernel may cache attributes (`attr_timeout=N`); 1 by
    /// default, 0 with `direct_io`.
    public var attrTimeout: Double {
        get { explicitAttrTimeout ?? defaultTimeout }
        set { explicitAttrTimeout = newValue }
    }
    /// Seconds the kernel may cache a name → file binding
    /// (`entry_timeout=N`); 1 by default, 0 with `direct_io`.
    public var entryTimeout: Double {
        get { explicitEntryTimeout ?? defaultTimeout }
        set { explicitEntryTimeout = newValue }
    }
    /// Seconds "no such file" may be trusted (`negative_timeout=N`): by
    /// the kernel for a name it looked up, and by the mount for a name
    /// missing from a directory whose every name it knows (`KnownNames`);
    /// 0 asks the server every time. 1 by default, 0 with `direct_io`.
    public var negativeTimeout: Double {
        get { explicitNegativeTimeout ?? defaultTimeout }
        set { explicitNegativeTimeout = newValue }
    }
    /// The timeouts as set, whatever `directIO` says (nil: not set).
    private var explicitAttrTimeout: Double?
    private var explicitEntryTimeout: Double?
    private var explicitNegativeTimeout: Double?
    /// A timeout not set: nothing is cached with `direct_io`, 1 s otherwise.
    private var defaultTimeout: Double { directIO ? 0 : 1 }
    /// Let other users use the mount (`allow_other`).
    public var allowOther = false
    /// Let the kernel check permissions from the mode bits (`default_permissions`).
    public var defaultPermissions = false
    /// Mount read-only (`ro`; `rw` undoes it).
    public var readOnly = false
    /// The source shown in /proc/mounts (`fsname=`); the CLI puts the server's address there.
    public var fsName: String? = nil
    /// Shown as `fuse.<subtype>` in /proc/mounts (`subtype=`); "9p" by default.
    public var subtype = "9p"
    /// When the kernel uses readdirplus (`readdirplus=auto|always|never`).
    public var readdirPlus = FuseSessionOptions.ReaddirPlus.auto
    /// The kernel's readahead window in KiB (`read_ahead_kb=N`): by default
    /// four of the largest read requests, so that a sequential read goes
    /// out as Treads of 1 MiB rather than of the kernel's 128 KiB, several
    /// in flight: the server reads ahead while the kernel copies (NFS keeps
    /// fifteen). Setting it takes root; for other users the kernel's window stays.
    public var readAheadKiB = 4 * FuseSessionOptions.maxTransferSize / 1024
    /// FUSE worker threads (`threads=N`). nil, the default: no threads of
    /// their own; the client's event loop reads the FUSE device, so each
    /// request goes from the kernel to the 9P connection without a hand-off
    /// between threads. A count serves the device from that many threads.
    public var workerThreads: Int?
    /// libfuse prints every FUSE request and reply on stderr (`debug`).
    public var fuseDebug = false
    /// For `tls!` servers: the CA file the server's certificate must chain to (`ca=FILE`).
    public var tlsCA: String?
    /// For `tls!` servers: the pinned key of the server (`pin=sha256:HEX`), as text.
    public var tlsPin: String?
    /// For `tls!` servers: the client certificate to show (`cert=FILE`).
    public var tlsCertificate: String?
    /// For `tls!` servers: the key of the client certificate (`key=FILE`).
    public var tlsKey: String?
    /// mount(8)'s generic flags, handed to the kernel's mount(2) by libfuse
    /// in the order given (`nosuid`, `nodev`, `noexec`, `noatime`, `sync`…;
    /// see `kernelFlags`). FUSE mounts are nosuid and nodev unless root
    /// mounts them with `suid` or `dev`, as mount.fuse3 asks by default.
    public var kernelFlags: [String] = []

    /// The generic flags of mount(8) that libfuse 3 hands to mount(2)
    /// (its `mount_flags` table; `ro` and `rw` are `readOnly`).
    public static let kernelFlagNames: Set<String> = [
        "suid", "nosuid", "dev", "nodev", "exec", "noexec", "sync", "async", "dirsync", "noatime",
    ]
    /// Seconds the first connection may take to dial, agree on the version
    /// and attach (`connect_timeout=N`, as `--connect-timeout`); nil: the
    /// command's default. Not a FUSE option: the mount command reads it.
    public var connectTimeout: Double?

    public init() {}

    /// Parses `-o` arguments: each may hold several options separated by
    /// commas (`-o ro,attr_timeout=5`). Unknown options, missing or bad
    /// values throw `MountOptionsError`, which names the option.
    public init(parsing arguments: [String]) throws(MountOptionsError) {
        self.init()
        for argument in arguments {
            for option in argument.split(separator: ",", omittingEmptySubsequences: true) {
                try apply(String(option))
            }
        }
    }

    /// Every option `init(parsing:)` understands, for help texts.
    public static let known = [
        "direct_io", "writeback", "writeback_cache", "attr_timeout=N", "entry_timeout=N", "negative_timeout=N",
        "allow_other", "default_permissions", "ro", "rw", "fsname=NAME", "subtype=NAME",
        "readdirplus=auto|always|never", "read_ahead_kb=N", "threads=N", "debug", "connect_timeout=N",
        "ca=FILE", "pin=sha256:HEX", "cert=FILE", "key=FILE",
    ] + kernelFlagNames.sorted()

    private mutating func apply(_ option: String) throws(MountOptionsError) {
        let parts = option.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let key = String(parts[0])
        let value = parts.count > 1 ? String(parts[1]) : nil
        func flag() throws(MountOptionsError) {
            if value != nil { throw .unexpectedValue(option: key) }
        }
        func seconds() throws(MountOptionsError) -> Double {
            guard let value else { throw .missingValue(option: key) }
            guard let number = Double(value), number >= 0, number.isFinite else {
                throw .badValue(option: key, value: value, expected: "a number of seconds ≥ 0")
            }
            return number
        }
        func text() throws(MountOptionsError) -> String {
            guard let value, !value.isEmpty else { throw .missingValue(option: key) }
            return value
        }
        switch key {
        case "direct_io": try flag(); directIO = true
        case "writeback", "writeback_cache": try flag(); writebackCache = true
        case "attr_timeout": attrTimeout = try seconds()
        case "entry_timeout": entryTimeout = try seconds()
        case "negative_timeout": negativeTimeout = try seconds()
        case "connect_timeout":
            let limit = try seconds()
            guard limit > 0 else { throw .badValue(option: key, value: value ?? "", expected: "a number of seconds > 0") }
            connectTimeout = limit
        case "allow_other": try flag(); allowOther = true
        case "default_permissions": try flag(); defaultPermissions = true
        case "ro": try flag(); readOnly = true
        case "rw": try flag(); readOnly = false
        case "fsname": fsName = try text()
        case "subtype": subtype = try text()
        case "debug": try flag(); fuseDebug = true
        case "ca": tlsCA = try text()
        case "pin": tlsPin = try text()
        case "cert": tlsCertificate = try text()
        case "key": tlsKey = try text()
        case _ where Self.kernelFlagNames.contains(key): try flag(); kernelFlags.append(key)
        case "readdirplus":
            switch try text() {
            case "auto": readdirPlus = .auto
            case "always": readdirPlus = .always
            case "never": readdirPlus = .never
            case let other: throw .badValue(option: key, value: other, expected: "auto, always or never")
            }
        case "read_ahead_kb":
            let raw = try text()
            guard let kib = Int(raw), (0...(1 << 20)).contains(kib) else {
                throw .badValue(option: key, value: raw, expected: "a size in KiB from 0 to 1048576")
            }
            readAheadKiB = kib
        case "threads":
            let raw = try text()
            guard let count = Int(raw), (1...64).contains(count) else {
                throw .badValue(option: key, value: raw, expected: "a thread count from 1 to 64")
            }
            workerThreads = count
        default:
            throw .unknown(option: option)
        }
    }

    /// The FUSE session options these mount options ask for; without
    /// `threads=N`, the device is read on `eventLoop` (the client's).
    public func sessionOptions(defaultFsName: String, eventLoop: (any EventLoop)? = nil) -> FuseSessionOptions {
        var options = FuseSessionOptions(fsName: fsName ?? defaultFsName, subtype: subtype)
        options.allowOther = allowOther
        options.defaultPermissions = defaultPermissions
        options.readOnly = readOnly
        options.writebackCache = writebackCache
        options.readdirPlus = readdirPlus
        options.workerThreads = workerThreads ?? 1
        if workerThreads == nil { options.eventLoop = eventLoop }
        options.debug = fuseDebug
        options.asyncRead = true
        options.parallelDirops = true
        options.maxWrite = FuseSessionOptions.maxTransferSize
        options.maxRead = FuseSessionOptions.maxTransferSize
        options.maxReadahead = FuseSessionOptions.maxTransferSize
        options.readAheadKiB = readAheadKiB
        options.extraMountOptions = kernelFlags
        return options
    }
}

/// A `-o` option that could not be understood.
public enum MountOptionsError: Error, Sendable, Hashable, CustomStringConvertible {
    case unknown(option: String)
    case missingValue(option: String)
    case unexpectedValue(option: String)
    case badValue(option: String, value: String, expected: String)

    public var description: String {
        switch self {
        case .unknown(let option):
            return "unknown mount option '\(option)' (known: \(MountOptions.known.joined(separator: ", ")))"
        case .missingValue(let option):
            return "mount option '\(option)' needs a value (\(option)=…)"
        case .unexpectedValue(let option):
            return "mount option '\(option)' takes no value"
        case .badValue(let option, let value, let expected):
            return "mount option '\(option)=\(value)': expected \(expected)"
        }
    }
}
