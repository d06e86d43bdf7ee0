import Foundation
import Glibc
import NinePExport
import NinePServer
import NinePTransport

/// Whom `ninep export` lets attach and as whom it works, from who runs it
/// (root or an ordinary user), `--squash` and `--user-map`.
struct ExportAccess {
    /// Checked at attach (`AttachPolicy`).
    var policy: AttachPolicy
    /// As whom requests run (`ExportUsers`).
    var users: ExportUsers

    struct SetupError: Error, CustomStringConvertible {
        var description: String
    }

    init(squash: String?, userMap: String?, effectiveUID: UInt32 = geteuid()) throws(SetupError) {
        let certificateUsers = try userMap.map { file throws(SetupError) in try Self.readUserMap(file) } ?? [:]
        let me = LocalUser.withID(effectiveUID)
        policy = AttachPolicy(
            isKnownUser: isLocalUser, certificateUsers: certificateUsers, checksLocalCredentials: true, squash: squash)
        if let squash {
            guard let user = LocalUser.named(squash) else { throw SetupError(description: "--squash \(squash): no such user on this host") }
            if effectiveUID != 0 && user.uid != effectiveUID {
                throw SetupError(description: """
                    --squash \(squash): only root can act as another user; this export runs as \
                    \(me?.name ?? "uid \(effectiveUID)")
                    """)
            }
            users = effectiveUID == 0 ? .squash(user) : .server
        } else if effectiveUID == 0 {
            users = .perUser
        } else {
            users = .server
            policy.onlyUser = me?.name ?? "\(effectiveUID)"
        }
    }

    /// Reads a map file: "NAME USER" per line, blank lines and '#' comments
    /// ignored; every USER must be a user on this host.
    static func readUserMap(_ file: String) throws(SetupError) -> [String: String] {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw SetupError(description: "--user-map \(file): cannot read it: \(error.localizedDescription)")
        }
        var map: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.isEmpty { continue }
            guard fields.count == 2 else {
                throw SetupError(description: "--user-map \(file) line \(number + 1): expected 'NAME USER', got '\(rawLine)'")
            }
            let user = String(fields[1])
            guard isLocalUser(user) else {
                throw SetupError(description: "--user-map \(file) line \(number + 1): '\(user)' is not a user on this host")
            }
            map[String(fields[0])] = user
        }
        return map
    }
}
