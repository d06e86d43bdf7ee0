import NIOCore
import NinePWire
import Testing

/// Transcript lines in the manner of lib9p's chatty9p.
@Suite struct DescriptionTests {
    @Test("one line per golden message, tag after the type", arguments: [
        ("Tversion", "Tversion tag NOTAG msize 8216 version '9P2000'"),
        ("Rversion", "Rversion tag NOTAG msize 8192 version '9P2000'"),
        ("Tauth", "Tauth tag 1 afid 16 uname glenda aname "),
        ("Rauth", "Rauth tag 1 qid (102030405060708 0 'A')"),
        ("Tattach", "Tattach tag 2 fid 0 afid NOFID uname glenda aname /usr/glenda"),
        ("Rattach", "Rattach tag 2 qid (1 7 'd')"),
        ("Rerror", "Rerror tag 3 ename file does not exist"),
        ("Tflush", "Tflush tag 4 oldtag 3"),
        ("Rflush", "Rflush tag 4"),
        ("Twalk", "Twalk tag 3 fid 0 newfid 1 nwname 2 0:usr 1:glenda"),
        ("Twalk clone", "Twalk tag 13 fid 0 newfid 1 nwname 0"),
        ("Rwalk", "Rwalk tag 3 nwqid 2 0:(10 0 'd') 1:(11 0 'd')"),
        ("Topen", "Topen tag 5 fid 1 mode ORDWR|OTRUNC"),
        ("Ropen", "Ropen tag 5 qid (2a 3 '') iounit 8192"),
        ("Tcreate", "Tcreate tag 6 fid 1 name notes perm -rw-r--r-- (0644) mode OWRITE"),
        ("Tread", "Tread tag 7 fid 1 offset 4096 count 4096"),
        ("Rread", "Rread tag 7 count 6"),
        ("Twrite", "Twrite tag 8 fid 1 offset 6 count 5"),
        ("Rwrite", "Rwrite tag 8 count 5"),
        ("Tclunk", "Tclunk tag 9 fid 1"),
        ("Rclunk", "Rclunk tag 9"),
        ("Tremove", "Tremove tag 10 fid 2"),
        ("Tstat", "Tstat tag 11 fid 1"),
        ("Rstat", "Rstat tag 11 'café' 'glenda' 'sys' '日本' q (2c 1 '') m 644 at 1600000000 mt 1700000000 l 6 t 0 d 0"),
        ("Rwstat", "Rwstat tag 12"),
    ])
    func line(_ name: String, _ text: String) {
        #expect(golden(name).fcall.description == text)
    }

    @Test("the tag follows the type word in every message", arguments: variedFcalls)
    func tagAfterType(_ fcall: Fcall) {
        let words = fcall.description.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        #expect(words.count >= 3)
        #expect(words[0].lowercased() == "\(fcall.message.type)")
        #expect(words[1] == "tag" && words[2] == "\(fcall.tag)")
    }
}
