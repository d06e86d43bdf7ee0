import NinePServer
import NinePTransport
import NinePWire
import Testing

/// Whom `AttachPolicy` lets attach, and as whom (uid 0 is root everywhere).
@Suite struct AttachPolicyTests {
    let exportPolicy = AttachPolicy(isKnownUser: { LocalUser.named($0) != nil }, checksLocalCredentials: true)
    let rootPeer = NinePPeerIdentity.unixCredentials(uid: 0, gid: 0, pid: 42)

    private func refusal(_ result: Result<String, NinePError>) -> String? {
        if case .failure(let e) = result { return e.ename }
        return nil
    }

    @Test func aUidTheKernelVouchesForMustBeTheAttachName() {
        #expect(exportPolicy.decide(identity: rootPeer, uname: "root") == .success("root"))
        let text = refusal(exportPolicy.decide(identity: rootPeer, uname: "alice"))
        #expect(text == "attach as 'alice' refused: the client is 'root' (unix credentials uid 0 gid 0 (pid 42)); attach as 'root'")
        let loopback = refusal(exportPolicy.decide(identity: .loopbackOwner(uid: 0), uname: "alice"))
        #expect(loopback?.contains("loopback TCP socket owned by uid 0") == true)
        let exec = refusal(exportPolicy.decide(identity: .serverProcess(uid: 0), uname: "alice"))
        #expect(exec?.contains("standard input and output, uid 0") == true)
    }

    @Test func nUnameIsPreferredToUnameAndMustAgree() {
        #expect(exportPolicy.decide(identity: rootPeer, uname: "", nUname: 0) == .success("root"))
        // Linux's v9fs: the mount's uname ("nobody") with the user's uid.
        #expect(exportPolicy.decide(identity: rootPeer, uname: "nobody", nUname: 0) == .success("root"))
        #expect(exportPolicy.decide(identity: rootPeer, uname: "root", nUname: 0) == .success("root"))
        let text = refusal(exportPolicy.decide(identity: rootPeer, uname: "root", nUname: 1000))
        #expect(text?.contains("(n_uname 1000) refused: the client is 'root'") == true, "\(text ?? "let through")")
    }

    @Test func aCertificateNamesAUserDirectlyOrThroughTheMap() {
        var policy = exportPolicy
        policy.certificateUsers = ["root-laptop": "root"]
        #expect(policy.decide(identity: .certificate(commonName: "root"), uname: "root") == .success("root"))
        #expect(policy.decide(identity: .certificate(commonName: "root-laptop"), uname: "root-laptop") == .success("root"))
        #expect(policy.decide(identity: .certificate(commonName: "root-laptop"), uname: "root") == .success("root"))
        let other = refusal(policy.decide(identity: .certificate(commonName: "root-laptop"), uname: "daemon"))
        #expect(other == "attach as 'daemon' refused: the client's certificate 'root-laptop' is for 'root'; attach as 'root'")
        let unknown = refusal(policy.decide(identity: .certificate(commonName: "nosuchuser9p"), uname: "nosuchuser9p"))
        #expect(unknown == "attach refused: the client's certificate 'nosuchuser9p' names 'nosuchuser9p', who is not a user on this server")
    }

    @Test func noIdentityTakesTheNameOnTrust() {
        #expect(exportPolicy.decide(identity: nil, uname: "anyone") == .success("anyone"))
    }

    @Test func withoutLocalChecksAUidPeerAttachesAsItSays() {
        #expect(AttachPolicy().decide(identity: rootPeer, uname: "glenda") == .success("glenda"))
    }

    @Test func squashMakesEveryClientOneUser() {
        var policy = exportPolicy
        policy.squash = "nobody"
        #expect(policy.decide(identity: rootPeer, uname: "alice") == .success("nobody"))
        #expect(policy.decide(identity: .certificate(commonName: "stranger"), uname: "x") == .success("nobody"))
    }

    @Test func aServerForOneUserRefusesEveryoneElse() {
        var policy = exportPolicy
        policy.onlyUser = "daemon"
        let text = refusal(policy.decide(identity: rootPeer, uname: "root"))
        #expect(text?.contains("serves only 'daemon'") == true, "\(text ?? "let through")")
    }
}
