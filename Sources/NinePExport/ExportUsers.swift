import CThreadCredentials
import Glibc
public import NinePTransport
import NinePWire
import Synchronization

/// As whom the export performs its clients' requests.
public enum ExportUsers: Sendable {
    /// With the server process's own credentials, whoever attached (an
    /// export run by an ordinary user, which serves only that user).
    case server
    /// With the file-system credentials of the user each fid was attached
    /// as (`ServerFid.uname`): an export run as root, so that the host's
    /// permission checks decide and files a user creates are theirs.
    case perUser
    /// With one user's credentials, whoever attached (`--squash USER`).
    case squash(LocalUser)
}

/// Runs a request's system calls with its user's file-system credentials:
/// fsuid, fsgid and supplementary groups set on the calling thread only
/// (raw setfsuid/setfsgid/setgroups system calls, see CThreadCredentials),
/// for the duration of the request, then restored to the server's own.
///
/// Threads: any (the pool's workers and the event loops that run cheap
/// metadata work); each thread's credentials are its own, so requests on
/// different threads never see each other's, and a request changes and
/// restores them on the thread it runs on before anything else runs there.
/// Deadlocks: the user cache's lock is a leaf.
final class ThreadCredentials: Sendable {
    private let users: ExportUsers
    /// The server's own credentials, restored after every request.
    private let ownUID: uid_t
    private let ownGID: gid_t
    private let ownGroups: [gid_t]
    /// Users looked up by name, for `.perUser`: once per name for the
    /// server's life (a restart picks up new group memberships).
    private let known = Mutex<[String: LocalUser]>([:])

    init(_ users: ExportUsers) {
        self.users = users
        self.ownUID = geteuid()
        self.ownGID = getegid()
        let count = getgroups(0, nil)
        var groups = [gid_t](repeating: 0, count: Int(max(count, 0)))
        if count > 0 { groups = Array(groups.prefix(Int(getgroups(count, &groups)))) }
        self.ownGroups = groups
    }

    /// The user whose credentials a request on a fid attached as `uname`
    /// runs with; nil for the server's own.
    func user(for uname: String?) throws(NinePError) -> LocalUser? {
        switch users {
        case .server: return nil
        case .squash(let user): return user
        case .perUser:
            guard let uname else { return nil }
            if let user = known.withLock({ $0[uname] }) { return user }
            guard let user = LocalUser.named(uname) else {
                throw NinePError("unknown user '\(uname)': no such user on this host", errno: EACCES)
            }
            known.withLock { $0[uname] = user }
            return user
        }
    }

    /// Runs `body` on this thread as the user of a fid attached as `uname`.
    func run<T>(as uname: String?, _ body: () throws(NinePError) -> T) throws(NinePError) -> T {
        guard let user = try user(for: uname), user.uid != ownUID || user.gid != ownGID else { return try body() }
        let failed = user.groups.withUnsafeBufferPointer {
            ninep_set_thread_fs_credentials(user.uid, user.gid, $0.count, $0.baseAddress)
        }
        defer { restore() }
        guard failed == 0 else {
            throw NinePError("cannot act as user \(user): \(String(cString: strerror(failed)))", errno: EACCES)
        }
        return try body()
    }

    /// Back to the server's own credentials. A thread that kept a user's
    /// credentials would run the next request with them, so failing here
    /// stops the server rather than carry on.
    private func restore() {
        let failed = ownGroups.withUnsafeBufferPointer {
            ninep_set_thread_fs_credentials(ownUID, ownGID, $0.count, $0.baseAddress)
        }
        precondition(failed == 0, "cannot restore the export's own credentials: \(String(cString: strerror(failed)))")
    }
}
