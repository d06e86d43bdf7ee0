#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A user of this host, as the password and group databases describe it:
/// what a server acts as when it performs a client's requests.
public struct LocalUser: Sendable, Hashable, CustomStringConvertible {
    /// The login name.
    public let name: String
    public let uid: UInt32
    /// The primary group.
    public let gid: UInt32
    /// Every group the user is in (getgrouplist(3)), the primary one included.
    public let groups: [UInt32]

    public init(name: String, uid: UInt32, gid: UInt32, groups: [UInt32]) {
        self.name = name; self.uid = uid; self.gid = gid; self.groups = groups
    }

    public var description: String { "'\(name)' (uid \(uid))" }

    /// The user called `name`, or nil if the password database has none.
    public static func named(_ name: String) -> LocalUser? {
        lookUp { entry, buffer, result in getpwnam_r(name, &entry, &buffer, bufferSize, &result) }
    }

    /// The user whose uid is `uid`, or nil if the password database has none.
    public static func withID(_ uid: UInt32) -> LocalUser? {
        lookUp { entry, buffer, result in getpwuid_r(uid, &entry, &buffer, bufferSize, &result) }
    }

    /// The name of `uid`, or the number when the password database has none.
    public static func name(of uid: UInt32) -> String {
        withID(uid)?.name ?? "\(uid)"
    }

    private static let bufferSize = 16384

    private static func lookUp(
        _ call: (inout passwd, inout [CChar], inout UnsafeMutablePointer<passwd>?) -> Int32
    ) -> LocalUser? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: bufferSize)
        guard call(&entry, &buffer, &result) == 0, result != nil, let cName = entry.pw_name else { return nil }
        let name = String(cString: cName)
        return LocalUser(name: name, uid: entry.pw_uid, gid: entry.pw_gid, groups: groupList(cName, entry.pw_gid))
    }

    /// getgrouplist(3), growing the buffer until the list fits.
    private static func groupList(_ name: UnsafePointer<CChar>, _ gid: gid_t) -> [UInt32] {
        var count: Int32 = 32
        while true {
            var groups = [gid_t](repeating: 0, count: Int(count))
            var n = count
            if getgrouplist(name, gid, &groups, &n) >= 0 {
                return Array(groups.prefix(Int(n)))
            }
            guard n > count else { return [gid] }
            count = n
        }
    }
}
