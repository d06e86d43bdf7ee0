public import Glibc
import NinePTransport
import Synchronization

/// An unprivileged user made for a test (useradd, with a group of its own
/// and no home directory) and removed again (`remove()`, userdel). Needs
/// root; names are unique per process and call, so parallel tests and
/// parallel runs do not meet.
public struct TemporaryUser: Sendable {
    public let name: String
    public let uid: uid_t
    public let gid: gid_t

    private static let counter = Atomic<Int>(0)

    /// Whether this process may make users (it runs as root and useradd exists).
    public static var canMake: Bool {
        geteuid() == 0 && access("/usr/sbin/useradd", X_OK) == 0 && access("/usr/sbin/userdel", X_OK) == 0
    }

    /// Makes a user named `n9<pid>x<n>` (short: useradd allows 32 characters).
    public init() throws {
        let n = Self.counter.add(1, ordering: .relaxed).newValue
        let name = "n9t\(getpid())x\(n)"
        try Posix.runOK(["/usr/sbin/useradd", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name])
        guard let user = LocalUser.named(name) else {
            _ = try? Posix.run(["/usr/sbin/userdel", name])
            throw ConformanceFailure("useradd", "\(name) was made but the password database does not know it")
        }
        self.name = name
        self.uid = user.uid
        self.gid = user.gid
    }

    /// Removes the user (and its group).
    public func remove() {
        _ = try? Posix.run(["/usr/sbin/userdel", name])
    }

    /// `argv` run as this user, with its groups (setpriv(1)), and the
    /// environment's USER and LOGNAME set to it.
    public func command(_ argv: [String]) -> [String] {
        ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--init-groups", "--",
         "/usr/bin/env", "USER=\(name)", "LOGNAME=\(name)", "HOME=/"] + argv
    }
}

/// A directory tree for tests of per-user access: two `TemporaryUser`s,
/// each with a 0600 file "<name>-secret" holding "<name> only\n" and a 0700
/// directory "<name>", and a 1777 directory "pub" anyone may create in.
/// `remove()` removes the users and the tree.
public struct TwoUserTree: Sendable {
    public let directory: TemporaryDirectory
    public let users: [TemporaryUser]
    public var path: String { directory.path }

    public init() throws {
        directory = try TemporaryDirectory(prefix: "ninep-users")
        chmod(directory.path, 0o755)
        var made: [TemporaryUser] = []
        do {
            made = [try TemporaryUser(), try TemporaryUser()]
            for user in made {
                try Self.write("\(user.name) only\n", to: "\(directory.path)/\(user.name)-secret")
                chmod("\(directory.path)/\(user.name)-secret", 0o600)
                chown("\(directory.path)/\(user.name)-secret", user.uid, user.gid)
                mkdir("\(directory.path)/\(user.name)", 0o700)
                chown("\(directory.path)/\(user.name)", user.uid, user.gid)
            }
            mkdir("\(directory.path)/pub", 0o777)
            chmod("\(directory.path)/pub", 0o1777)
        } catch {
            made.forEach { $0.remove() }
            directory.remove()
            throw error
        }
        users = made
    }

    public func remove() {
        users.forEach { $0.remove() }
        directory.remove()
    }

    /// The owner of `path` (relative to the tree), not following a symbolic link.
    public func owner(_ path: String) -> uid_t? {
        var st = stat()
        return lstat("\(directory.path)/\(path)", &st) == 0 ? st.st_uid : nil
    }

    private static func write(_ text: String, to path: String) throws {
        let fd = try Posix.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { Posix.close(fd) }
        try Posix.write(fd, Array(text.utf8), path: path)
    }
}
