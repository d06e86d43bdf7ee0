import ArgumentParser
import Foundation
import Glibc
import NinePTransport

/// `ninep cert`: the certificates for `tls!` without openssl.
struct Cert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a small CA and the certificates a tls! server and its clients need.",
        discussion: """
            In DIR (default ./ninep-tls): ca.pem and ca.key, the CA (made once, then \
            reused to sign); server.pem and server.key, for the hosts given with --host \
            (always with localhost, 127.0.0.1 and ::1 too); USER.pem and USER.key for \
            each --user, whose common name USER is the identity a server with \
            --client-ca sees. Keys are ECDSA P-256 and written with mode 0600. The \
            server key's pin (for clients' --pin) is printed last.

            EXAMPLES
              ninep cert --host fs.example.com --user alice
              ninep export --listen 'tls!*!564' --cert ninep-tls/server.pem \\
                  --key ninep-tls/server.key --client-ca ninep-tls/ca.pem /srv/share
              ninep mount --ca ninep-tls/ca.pem --cert ninep-tls/alice.pem \\
                  --key ninep-tls/alice.key 'tls!fs.example.com' /n/fs
              ninep cert --pin-of ninep-tls/server.pem
            """)

    @Option(help: ArgumentHelp("Where the files go.", valueName: "dir")) var dir = "ninep-tls"
    @Option(help: ArgumentHelp("A DNS name or IP address the server is reached by (repeatable); makes server.pem.", valueName: "host"))
    var host: [String] = []
    @Option(help: ArgumentHelp("A client user name (repeatable); makes USER.pem with that common name.", valueName: "user"))
    var user: [String] = []
    @Option(help: ArgumentHelp("How long the server and client certificates are valid.", valueName: "days"))
    var days: Int = 825
    @Option(help: ArgumentHelp("Only print the pin of this certificate's public key.", valueName: "file"))
    var pinOf: String?

    func validate() throws {
        guard days > 0 && days <= 36500 else { throw ValidationError("--days must be from 1 to 36500") }
        for name in user {
            guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
                throw ValidationError("--user '\(name)' cannot name a file")
            }
        }
    }

    func run() throws {
        if let pinOf {
            do {
                print(try NinePTLSPin(certificateFile: pinOf))
            } catch {
                fail("\(error)")
            }
            return
        }
        do {
            try make()
        } catch {
            fail("\(error)")
        }
    }

    private func make() throws {
        if mkdir(dir, 0o700) != 0 && errno != EEXIST { throw NinePTLSError("cannot make \(dir): \(String(cString: strerror(errno)))") }
        let caPath = "\(dir)/ca.pem", caKeyPath = "\(dir)/ca.key"
        let until = Date().addingTimeInterval(Double(days) * 86400)
        let ca: NinePCertificateAuthority
        if FileManager.default.fileExists(atPath: caPath) {
            ca = try NinePCertificateAuthority(
                certificatePEM: try String(contentsOfFile: caPath, encoding: .utf8),
                keyPEM: try String(contentsOfFile: caKeyPath, encoding: .utf8))
            print("using the CA in \(caPath)")
        } else {
            ca = try NinePCertificateAuthority(name: "ninep CA \(hostName())", notValidAfter: Date().addingTimeInterval(10 * 365 * 86400))
            try write(try ca.keyPEM, to: caKeyPath, mode: 0o600)
            try write(try ca.certificatePEM, to: caPath, mode: 0o644)
            print("made the CA: \(caPath) (its key \(caKeyPath) signs certificates: keep it private)")
        }
        let serverPath = "\(dir)/server.pem"
        if !host.isEmpty || !FileManager.default.fileExists(atPath: serverPath) {
            var hosts = host.isEmpty ? [hostName()] : host
            for loopback in ["localhost", "127.0.0.1", "::1"] where !hosts.contains(loopback) { hosts.append(loopback) }
            let server = try ca.issueServer(hosts: hosts, notValidAfter: until)
            try write(server.keyPEM, to: "\(dir)/server.key", mode: 0o600)
            try write(server.certificatePEM, to: serverPath, mode: 0o644)
            print("made the server certificate for \(hosts.joined(separator: ", ")): \(serverPath), \(dir)/server.key")
        }
        for name in user {
            let client = try ca.issueClient(user: name, notValidAfter: until)
            try write(client.keyPEM, to: "\(dir)/\(name).key", mode: 0o600)
            try write(client.certificatePEM, to: "\(dir)/\(name).pem", mode: 0o644)
            print("made the certificate of user \(name): \(dir)/\(name).pem, \(dir)/\(name).key")
        }
        print("server pin: \(try NinePTLSPin(certificateFile: serverPath))")
    }

    /// Writes `text` to a new file with `mode` (replacing an old one), so
    /// that a key is never readable by others, not even for a moment.
    private func write(_ text: String, to path: String, mode: mode_t) throws {
        let temporary = "\(path).\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw NinePTLSError("cannot write \(path): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else {
                close(fd)
                unlink(temporary)
                throw NinePTLSError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            done += n
        }
        fchmod(fd, mode)
        close(fd)
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw NinePTLSError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    private func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
