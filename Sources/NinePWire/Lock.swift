/// The type of a Tlock, Tgetlock or Rgetlock.
///
/// protocol.md: "#define P9_LOCK_TYPE_RDLCK 0 / #define P9_LOCK_TYPE_WRLCK 1
/// / #define P9_LOCK_TYPE_UNLCK 2". Any other byte decodes as itself, for
/// the server to refuse.
public struct LockType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let readLock = LockType(rawValue: 0)
    public static let writeLock = LockType(rawValue: 1)
    public static let unlock = LockType(rawValue: 2)

    public var description: String {
        switch self {
        case .readLock: "RDLCK"
        case .writeLock: "WRLCK"
        case .unlock: "UNLCK"
        default: "lock type \(rawValue)"
        }
    }
}

/// The flags of Tlock.
///
/// protocol.md: "#define P9_LOCK_FLAGS_BLOCK 1 /* blocking request */
/// #define P9_LOCK_FLAGS_RECLAIM 2 /* reserved for future use */"
public struct LockFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let block = LockFlags(rawValue: 1)
    public static let reclaim = LockFlags(rawValue: 2)
}

/// The status of Rlock.
///
/// protocol.md: "#define P9_LOCK_SUCCESS 0 / #define P9_LOCK_BLOCKED 1 /
/// #define P9_LOCK_ERROR 2 / #define P9_LOCK_GRACE 3 ... If the response is
/// P9_LOCK_BLOCKED, it retries the lock request in an interruptible loop".
public struct LockStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let success = LockStatus(rawValue: 0)
    public static let blocked = LockStatus(rawValue: 1)
    public static let error = LockStatus(rawValue: 2)
    public static let grace = LockStatus(rawValue: 3)

    public var description: String {
        switch self {
        case .success: "SUCCESS"
        case .blocked: "BLOCKED"
        case .error: "ERROR"
        case .grace: "GRACE"
        default: "lock status \(rawValue)"
        }
    }
}
