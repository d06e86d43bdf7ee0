import NIOCore
import NinePWire

// Golden frames of 9P2000.u and 9P2000.L.
//
// Where a frame says "diod", its bytes were captured from a real peer nobody
// here wrote: Debian 12's diod 1.0.24 server (`diod -f -n -l 127.0.0.1:PORT
// -e DIR`) and its client tools diodls and diodcat (`diodls -l -s
// 127.0.0.1:PORT -a DIR /`, `diodcat … hello.txt`), through a recording TCP
// proxy that logged every frame. "diodls" and "diodcat" mark bytes those
// clients sent; "diod" marks bytes the server sent, some of them in answer
// to requests written by hand from protocol.md that diod accepted (those
// requests are marked "to diod"). The rest is written by hand from diod's
// protocol.md and the 9p2000.u draft, field by field.

let qidExport = Qid(type: .dir, version: 0, path: 0xf7_a5b4)
let qidHello = Qid(type: .file, version: 0, path: 0xf7_a5b6)
let exportPath = "/tmp/cap/export"

/// 9P2000.u: the fields the draft adds, written by hand.
let goldensU: [Golden] = [
    Golden("U Tauth", Fcall(tag: Tag(1), .tauth(Tauth(afid: Fid(0x10), uname: "glenda", aname: "", nUname: 1000))), """
        19000000 66 0100     size 25
        10000000             afid 16
        0600 676c656e6461    uname "glenda"
        0000                 aname ""
        e8030000             n_uname 1000
        """.hexFields, version: .ninep2000u),
    Golden("U Tattach", Fcall(tag: Tag(2), .tattach(Tattach(fid: Fid(0), afid: .nofid, uname: "glenda", aname: "/usr/glenda"))), """
        28000000 68 0200                     size 40
        00000000 ffffffff                    fid 0, afid NOFID
        0600 676c656e6461                    uname "glenda"
        0b00 2f7573722f676c656e6461          aname "/usr/glenda"
        ffffffff                             n_uname NONUNAME
        """.hexFields, version: .ninep2000u),
    Golden("U Rerror", Fcall(tag: Tag(3), .rerror(Rerror(ename: "file does not exist", errno: 2))), """
        20000000 6b 0300                                  size 32
        1300 66696c6520646f6573206e6f74206578697374       ename[s], 19 bytes
        02000000                                          errno ENOENT
        """.hexFields, version: .ninep2000u),
    Golden("U Tcreate symlink", Fcall(tag: Tag(6), .tcreate(Tcreate(
        fid: Fid(1), name: "ln", perm: FileMode(permissions: 0o777, flags: .symlink), mode: .read, extension: "target"))), """
        1c000000 72 0600 01000000            size 28, fid 1
        0200 6c6e                            name "ln"
        ff010002                             perm DMSYMLINK|0777
        00                                   mode OREAD
        0600 746172676574                    extension "target"
        """.hexFields, version: .ninep2000u),
    Golden("U Rstat", Fcall(tag: Tag(11), .rstat(Rstat(stat: statCafeU))), """
        5c000000 7d 0b00                     size 92
        5300                                 n[2] 83
        5100                                 stat size[2] 81
        0000 00000000                        type, dev
        00 01000000 2c00000000000000         qid
        a4010000                             mode 0644
        00105e5f 00f15365                    atime 1600000000, mtime 1700000000
        0600000000000000                     length 6
        0500 636166c3a9                      name "café"
        0600 676c656e6461                    uid "glenda"
        0300 737973                          gid "sys"
        0600 e697a5e69cac                    muid "日本"
        0000                                 extension ""
        e8030000 64000000 e8030000           n_uid 1000, n_gid 100, n_muid 1000
        """.hexFields, version: .ninep2000u),
    Golden("U Twstat", Fcall(tag: Tag(12), .twstat(Twstat(fid: Fid(1), stat: statRename))), """
        52000000 7e 0c00 01000000            size 82, fid 1
        4500 4300                            n[2] 69, stat size[2] 67
        ffff ffffffff                        type, dev: don't touch
        ff ffffffff ffffffffffffffff         qid: don't touch
        80010000                             mode 0600
        ffffffff ffffffff ffffffffffffffff   atime, mtime, length: don't touch
        0600 6e61c3af7665                    name "naïve"
        0000 0000 0000                       uid, gid, muid ""
        0000                                 extension ""
        ffffffff ffffffff ffffffff           n_uid, n_gid, n_muid: don't touch
        """.hexFields, version: .ninep2000u),
]

/// statCafe with 9P2000.u's numeric ids.
let statCafeU: Stat = {
    var s = statCafe
    s.nUid = 1000
    s.nGid = 100
    s.nMuid = 1000
    return s
}()

/// The Rreaddir data diod sent diodls for a directory holding hello.txt,
/// link (a symlink) and sub: qid[13] offset[8] type[1] name[s] each.
let diodReaddirData = bytes("""
    80 00000000 b4a5f70000000000  a2a9edf6c1f9eb4d  04  0100 2e
    02 00000000 b7a5f70000000000  983f3b13c30e3751  0a  0400 6c696e6b
    00 00000000 b6a5f70000000000  a46108c24fdecc54  08  0900 68656c6c6f2e747874
    80 00000000 b5a5f70000000000  1eba4030d7643a58  04  0300 737562
    80 00000000 b2a5f70000000000  ffffffffffffff7f  04  0200 2e2e
    """)

/// The entries of `diodReaddirData`.
let diodReaddirEntries = [
    DirEntry(qid: qidExport, offset: 0x4deb_f9c1_f6ed_a9a2, type: 4, name: "."),
    DirEntry(qid: Qid(type: .symlink, version: 0, path: 0xf7_a5b7), offset: 0x5137_0ec3_133b_3f98, type: 10, name: "link"),
    DirEntry(qid: qidHello, offset: 0x54cc_de4f_c208_61a4, type: 8, name: "hello.txt"),
    DirEntry(qid: Qid(type: .dir, version: 0, path: 0xf7_a5b5), offset: 0x583a_64d7_3040_ba1e, type: 4, name: "sub"),
    DirEntry(qid: Qid(type: .dir, version: 0, path: 0xf7_a5b2), offset: 0x7fff_ffff_ffff_ffff, type: 4, name: ".."),
]

/// 9P2000.L: every message, many of them as diod and its tools put them on the wire.
let goldensL: [Golden] = [
    Golden("L Tversion diodls", Fcall(tag: .notag, .tversion(Tversion(msize: 65536, version: "9P2000.L"))), """
        15000000 64 ffff 00000100 0800 3950323030302e4c
        """.hexFields, version: .ninep2000L),
    Golden("L Rversion diod", Fcall(tag: .notag, .rversion(Rversion(msize: 65536, version: "9P2000.L"))), """
        15000000 65 ffff 00000100 0800 3950323030302e4c
        """.hexFields, version: .ninep2000L),
    Golden("L Tauth diodls", Fcall(tag: Tag(0), .tauth(Tauth(afid: Fid(0), uname: "", aname: exportPath, nUname: 0))), """
        22000000 66 0000 00000000            size 34, afid 0
        0000                                 uname ""
        0f00 2f746d702f6361702f6578706f7274  aname "/tmp/cap/export"
        00000000                             n_uname 0 (root)
        """.hexFields, version: .ninep2000L),
    Golden("L Rlerror diod", Fcall(tag: Tag(0), .rlerror(Rlerror(ecode: 2))), """
        0b000000 07 0000 02000000            ecode ENOENT (diod's answer to Tauth)
        """.hexFields, version: .ninep2000L),
    Golden("L Tattach diodls", Fcall(tag: Tag(0), .tattach(Tattach(fid: Fid(0), afid: .nofid, uname: "", aname: exportPath, nUname: 0))), """
        26000000 68 0000 00000000 ffffffff   size 38, fid 0, afid NOFID
        0000                                 uname ""
        0f00 2f746d702f6361702f6578706f7274  aname
        00000000                             n_uname 0
        """.hexFields, version: .ninep2000L),
    Golden("L Rattach diod", Fcall(tag: Tag(0), .rattach(Rattach(qid: qidExport))), """
        14000000 69 0000 80 00000000 b4a5f70000000000
        """.hexFields, version: .ninep2000L),
    Golden("L Twalk clone diodls", Fcall(tag: Tag(0), .twalk(Twalk(fid: Fid(0), newfid: Fid(1), wname: []))), """
        11000000 6e 0000 00000000 01000000 0000
        """.hexFields, version: .ninep2000L),
    Golden("L Tlopen diodls", Fcall(tag: Tag(0), .tlopen(Tlopen(fid: Fid(1), flags: .readOnly))), """
        0f000000 0c 0000 01000000 00000000   fid 1, flags O_RDONLY
        """.hexFields, version: .ninep2000L),
    Golden("L Rlopen diod", Fcall(tag: Tag(0), .rlopen(Rlopen(qid: qidExport, iounit: 0))), """
        18000000 0d 0000 80 00000000 b4a5f70000000000 00000000
        """.hexFields, version: .ninep2000L),
    Golden("L Tgetattr diodls", Fcall(tag: Tag(0), .tgetattr(Tgetattr(fid: Fid(1), requestMask: .basic))), """
        13000000 18 0000 01000000 ff07000000000000     request_mask P9_GETATTR_BASIC
        """.hexFields, version: .ninep2000L),
    Golden("L Rgetattr diod", Fcall(tag: Tag(0), .rgetattr(Rgetattr(attributes: LinuxAttributes(
        valid: .basic, qid: qidExport, mode: 0o40755, uid: 0, gid: 0, nlink: 3, rdev: 0, size: 4096, blksize: 4096,
        blocks: 8, atimeSec: 1_796_604_047, atimeNsec: 256_232_468, mtimeSec: 1_796_604_047, mtimeNsec: 264_232_468,
        ctimeSec: 1_796_604_047, ctimeNsec: 264_232_468)))), """
        a0000000 19 0000                     size 160
        ff07000000000000                     valid BASIC
        80 00000000 b4a5f70000000000         qid
        ed410000 00000000 00000000           mode 040755, uid 0, gid 0
        0300000000000000 0000000000000000    nlink 3, rdev 0
        0010000000000000 0010000000000000    size 4096, blksize 4096
        0800000000000000                     blocks 8
        8f00166b00000000 14cc450f00000000    atime
        8f00166b00000000 14debf0f00000000    mtime
        8f00166b00000000 14debf0f00000000    ctime
        0000000000000000 0000000000000000    btime
        0000000000000000 0000000000000000    gen, data_version
        """.hexFields, version: .ninep2000L),
    Golden("L Treaddir diodls", Fcall(tag: Tag(0), .treaddir(Treaddir(fid: Fid(1), offset: 0, count: 65512))), """
        17000000 28 0000 01000000 0000000000000000 e8ff0000
        """.hexFields, version: .ninep2000L),
    Golden("L Rreaddir diod", Fcall(tag: Tag(0), .rreaddir(Rreaddir(data: diodReaddirData))), """
        96000000 29 0000 8b000000            size 150, count 139
        80 00000000 b4a5f70000000000  a2a9edf6c1f9eb4d  04  0100 2e
        02 00000000 b7a5f70000000000  983f3b13c30e3751  0a  0400 6c696e6b
        00 00000000 b6a5f70000000000  a46108c24fdecc54  08  0900 68656c6c6f2e747874
        80 00000000 b5a5f70000000000  1eba4030d7643a58  04  0300 737562
        80 00000000 b2a5f70000000000  ffffffffffffff7f  04  0200 2e2e
        """.hexFields, version: .ninep2000L),
    Golden("L Tread diodcat", Fcall(tag: Tag(0), .tread(Tread(fid: Fid(1), offset: 0, count: 65512))), """
        17000000 74 0000 01000000 0000000000000000 e8ff0000
        """.hexFields, version: .ninep2000L),
    Golden("L Rread diod", Fcall(tag: Tag(0), .rread(Rread(data: data("hello\n")))), """
        11000000 75 0000 06000000 68656c6c6f0a
        """.hexFields, version: .ninep2000L),
    Golden("L Tstatfs to diod", Fcall(tag: Tag(1), .tstatfs(Tstatfs(fid: Fid(0)))), """
        0b000000 08 0100 00000000
        """.hexFields, version: .ninep2000L),
    Golden("L Rstatfs diod", Fcall(tag: Tag(1), .rstatfs(Rstatfs(
        type: 0x0102_1997, bsize: 4096, blocks: 66_053_021, bfree: 61_952_636, bavail: 20_666_018,
        files: 16_777_216, ffree: 16_343_808, fsid: 0xffff_ffff_cd66_68f5, namelen: 255))), """
        43000000 09 0100                     size 67
        97190201 00100000                    type 0x01021997, bsize 4096
        9de3ef0300000000 7c52b10300000000    blocks, bfree
        a2563b0100000000 0000000100000000    bavail, files
        0063f90000000000 f56866cdffffffff    ffree, fsid
        ff000000                             namelen 255
        """.hexFields, version: .ninep2000L),
    Golden("L Tmkdir to diod", Fcall(tag: Tag(1), .tmkdir(Tmkdir(dfid: Fid(0), name: "d", mode: 0o40755, gid: 0))), """
        16000000 48 0100 00000000 0100 64 ed410000 00000000
        """.hexFields, version: .ninep2000L),
    Golden("L Rmkdir diod", Fcall(tag: Tag(1), .rmkdir(Rmkdir(qid: Qid(type: .dir, version: 0, path: 0xf7_a65b)))), """
        14000000 49 0100 80 00000000 5ba6f70000000000
        """.hexFields, version: .ninep2000L),
    Golden("L Tsymlink to diod", Fcall(tag: Tag(1), .tsymlink(Tsymlink(fid: Fid(0), name: "s", symtgt: "hello.txt", gid: 0))), """
        1d000000 10 0100 00000000            size 29, fid 0
        0100 73                              name "s"
        0900 68656c6c6f2e747874              symtgt "hello.txt"
        00000000                             gid 0
        """.hexFields, version: .ninep2000L),
    Golden("L Rsymlink diod", Fcall(tag: Tag(1), .rsymlink(Rsymlink(qid: Qid(type: .symlink, version: 0, path: 0xf7_a65c)))), """
        14000000 11 0100 02 00000000 5ca6f70000000000     qid QTSYMLINK
        """.hexFields, version: .ninep2000L),
    Golden("L Treadlink to diod", Fcall(tag: Tag(1), .treadlink(Treadlink(fid: Fid(2)))), """
        0b000000 16 0100 02000000
        """.hexFields, version: .ninep2000L),
    Golden("L Rreadlink diod", Fcall(tag: Tag(1), .rreadlink(Rreadlink(target: "hello.txt"))), """
        12000000 17 0100 0900 68656c6c6f2e747874
        """.hexFields, version: .ninep2000L),
    Golden("L Tsetattr to diod", Fcall(tag: Tag(1), .tsetattr(Tsetattr(fid: Fid(3), valid: .mode, mode: 0o600))), """
        43000000 1a 0100 03000000            size 67, fid 3
        01000000 80010000                    valid MODE, mode 0600
        00000000 00000000 0000000000000000   uid, gid, size
        0000000000000000 0000000000000000    atime
        0000000000000000 0000000000000000    mtime
        """.hexFields, version: .ninep2000L),
    Golden("L Rsetattr diod", Fcall(tag: Tag(1), .rsetattr(Rsetattr())), """
        07000000 1b 0100
        """.hexFields, version: .ninep2000L),
    Golden("L Tgetattr all to diod", Fcall(tag: Tag(1), .tgetattr(Tgetattr(fid: Fid(3), requestMask: .all))), """
        13000000 18 0100 03000000 ff3f000000000000
        """.hexFields, version: .ninep2000L),
    Golden("L Rgetattr all diod", Fcall(tag: Tag(1), .rgetattr(Rgetattr(attributes: LinuxAttributes(
        valid: .all, qid: qidHello, mode: 0o100600, uid: 0, gid: 0, nlink: 1, rdev: 0, size: 6, blksize: 4096,
        blocks: 8, atimeSec: 1_796_604_049, atimeNsec: 520_232_382, mtimeSec: 1_796_604_047, mtimeNsec: 256_232_468,
        ctimeSec: 1_796_604_058, ctimeNsec: 292_232_045)))), """
        a0000000 19 0100 ff3f000000000000    valid ALL
        00 00000000 b6a5f70000000000         qid
        80810000 00000000 00000000           mode 0100600
        0100000000000000 0000000000000000 0600000000000000 0010000000000000 0800000000000000
        9100166b00000000 be1d021f00000000    atime
        8f00166b00000000 14cc450f00000000    mtime
        9a00166b00000000 6d1b6b1100000000    ctime
        0000000000000000 0000000000000000 0000000000000000 0000000000000000
        """.hexFields, version: .ninep2000L),
    Golden("L Tlopen rdwr to diod", Fcall(tag: Tag(1), .tlopen(Tlopen(fid: Fid(3), flags: .readWrite))), """
        0f000000 0c 0100 03000000 02000000
        """.hexFields, version: .ninep2000L),
    Golden("L Tfsync to diod", Fcall(tag: Tag(1), .tfsync(Tfsync(fid: Fid(3), datasync: 0))), """
        0f000000 32 0100 03000000 00000000
        """.hexFields, version: .ninep2000L),
    Golden("L Rfsync diod", Fcall(tag: Tag(1), .rfsync(Rfsync())), """
        07000000 33 0100
        """.hexFields, version: .ninep2000L),
    Golden("L Tlock to diod", Fcall(tag: Tag(1), .tlock(Tlock(
        fid: Fid(3), type: .writeLock, flags: [], start: 0, length: 0, procId: 4242, clientId: "ninep"))), """
        2b000000 34 0100 03000000            size 43, fid 3
        01 00000000                          type WRLCK, flags 0
        0000000000000000 0000000000000000    start 0, length 0 (to the end)
        92100000 0500 6e696e6570             proc_id 4242, client_id "ninep"
        """.hexFields, version: .ninep2000L),
    Golden("L Rlock diod", Fcall(tag: Tag(1), .rlock(Rlock(status: .success))), """
        08000000 35 0100 00
        """.hexFields, version: .ninep2000L),
    Golden("L Tgetlock to diod", Fcall(tag: Tag(1), .tgetlock(Tgetlock(
        fid: Fid(3), type: .readLock, start: 0, length: 0, procId: 4243, clientId: "ninep"))), """
        27000000 36 0100 03000000 00         size 39, fid 3, type RDLCK
        0000000000000000 0000000000000000
        93100000 0500 6e696e6570
        """.hexFields, version: .ninep2000L),
    Golden("L Rgetlock diod", Fcall(tag: Tag(1), .rgetlock(Rgetlock(
        type: .unlock, start: 0, length: 0, procId: 4243, clientId: "ninep"))), """
        23000000 37 0100 02                  type UNLCK: no conflicting lock
        0000000000000000 0000000000000000
        93100000 0500 6e696e6570
        """.hexFields, version: .ninep2000L),
    Golden("L Tlcreate to diod", Fcall(tag: Tag(1), .tlcreate(Tlcreate(
        fid: Fid(1), name: "new", flags: [.create, .readWrite], mode: 0o644, gid: 0))), """
        1c000000 0e 0100 01000000            size 28, fid 1
        0300 6e6577                          name "new"
        42000000 a4010000 00000000           flags O_CREAT|O_RDWR, mode 0644, gid 0
        """.hexFields, version: .ninep2000L),
    Golden("L Rlcreate diod", Fcall(tag: Tag(1), .rlcreate(Rlcreate(qid: Qid(type: .file, version: 0, path: 0xf7_a65d), iounit: 0))), """
        18000000 0f 0100 00 00000000 5da6f70000000000 00000000
        """.hexFields, version: .ninep2000L),
    Golden("L Tlink to diod", Fcall(tag: Tag(1), .tlink(Tlink(dfid: Fid(0), fid: Fid(3), name: "hard"))), """
        15000000 46 0100 00000000 03000000 0400 68617264
        """.hexFields, version: .ninep2000L),
    Golden("L Rlink diod", Fcall(tag: Tag(1), .rlink(Rlink())), """
        07000000 47 0100
        """.hexFields, version: .ninep2000L),
    Golden("L Trename to diod", Fcall(tag: Tag(1), .trename(Trename(fid: Fid(4), dfid: Fid(0), name: "hard2"))), """
        16000000 14 0100 04000000 00000000 0500 6861726432
        """.hexFields, version: .ninep2000L),
    Golden("L Rrename diod", Fcall(tag: Tag(1), .rrename(Rrename())), """
        07000000 15 0100
        """.hexFields, version: .ninep2000L),
    Golden("L Trenameat to diod", Fcall(tag: Tag(1), .trenameat(Trenameat(
        olddirfid: Fid(0), oldname: "hard2", newdirfid: Fid(0), newname: "hard3"))), """
        1d000000 4a 0100 00000000 0500 6861726432 00000000 0500 6861726433
        """.hexFields, version: .ninep2000L),
    Golden("L Rlerror EOPNOTSUPP diod", Fcall(tag: Tag(1), .rlerror(Rlerror(ecode: 95))), """
        0b000000 07 0100 5f000000            diod's answer to Trenameat and Tunlinkat
        """.hexFields, version: .ninep2000L),
    Golden("L Rrenameat", Fcall(tag: Tag(1), .rrenameat(Rrenameat())), """
        07000000 4b 0100
        """.hexFields, version: .ninep2000L),
    Golden("L Tunlinkat to diod", Fcall(tag: Tag(1), .tunlinkat(Tunlinkat(dirfd: Fid(0), name: "d", flags: Tunlinkat.removeDirectory))), """
        12000000 4c 0100 00000000 0100 64 00020000    flags AT_REMOVEDIR
        """.hexFields, version: .ninep2000L),
    Golden("L Runlinkat", Fcall(tag: Tag(1), .runlinkat(Runlinkat())), """
        07000000 4d 0100
        """.hexFields, version: .ninep2000L),
    Golden("L Tmknod to diod", Fcall(tag: Tag(1), .tmknod(Tmknod(dfid: Fid(0), name: "fifo", mode: 0o10644, major: 0, minor: 0, gid: 0))), """
        21000000 12 0100 00000000 0400 6669666f     size 33, dfid 0, name "fifo"
        a4110000 00000000 00000000 00000000         mode S_IFIFO|0644, major, minor, gid
        """.hexFields, version: .ninep2000L),
    Golden("L Rmknod diod", Fcall(tag: Tag(1), .rmknod(Rmknod(qid: Qid(type: .file, version: 0, path: 0xf7_a65e)))), """
        14000000 13 0100 00 00000000 5ea6f70000000000
        """.hexFields, version: .ninep2000L),
    Golden("L Txattrcreate to diod", Fcall(tag: Tag(1), .txattrcreate(Txattrcreate(fid: Fid(6), name: "user.test", attrSize: 3, flags: 0))), """
        22000000 20 0100 06000000 0900 757365722e74657374 0300000000000000 00000000
        """.hexFields, version: .ninep2000L),
    Golden("L Rxattrcreate diod", Fcall(tag: Tag(1), .rxattrcreate(Rxattrcreate())), """
        07000000 21 0100
        """.hexFields, version: .ninep2000L),
    Golden("L Txattrwalk to diod", Fcall(tag: Tag(1), .txattrwalk(Txattrwalk(fid: Fid(3), newfid: Fid(7), name: "user.test"))), """
        1a000000 1e 0100 03000000 07000000 0900 757365722e74657374
        """.hexFields, version: .ninep2000L),
    Golden("L Txattrwalk list to diod", Fcall(tag: Tag(1), .txattrwalk(Txattrwalk(fid: Fid(3), newfid: Fid(8), name: ""))), """
        11000000 1e 0100 03000000 08000000 0000
        """.hexFields, version: .ninep2000L),
    Golden("L Rxattrwalk diod", Fcall(tag: Tag(1), .rxattrwalk(Rxattrwalk(size: 3))), """
        0f000000 1f 0100 0300000000000000
        """.hexFields, version: .ninep2000L),
    Golden("L Tflush", Fcall(tag: Tag(4), .tflush(Tflush(oldtag: Tag(3)))), """
        09000000 6c 0400 0300
        """.hexFields, version: .ninep2000L),
    Golden("L Rflush", Fcall(tag: Tag(4), .rflush(Rflush())), """
        07000000 6d 0400
        """.hexFields, version: .ninep2000L),
    Golden("L Rwalk", Fcall(tag: Tag(1), .rwalk(Rwalk(wqid: [qidHello]))), """
        16000000 6f 0100 0100 00 00000000 b6a5f70000000000
        """.hexFields, version: .ninep2000L),
    Golden("L Twrite", Fcall(tag: Tag(1), .twrite(Twrite(fid: Fid(6), offset: 0, data: data("abc")))), """
        1a000000 76 0100 06000000 0000000000000000 03000000 616263
        """.hexFields, version: .ninep2000L),
    Golden("L Rwrite diod", Fcall(tag: Tag(1), .rwrite(Rwrite(count: 3))), """
        0b000000 77 0100 03000000
        """.hexFields, version: .ninep2000L),
    Golden("L Tclunk diodls", Fcall(tag: Tag(0), .tclunk(Tclunk(fid: Fid(1)))), """
        0b000000 78 0000 01000000
        """.hexFields, version: .ninep2000L),
    Golden("L Rclunk diod", Fcall(tag: Tag(0), .rclunk(Rclunk())), """
        07000000 79 0000
        """.hexFields, version: .ninep2000L),
    Golden("L Tremove", Fcall(tag: Tag(1), .tremove(Tremove(fid: Fid(2)))), """
        0b000000 7a 0100 02000000
        """.hexFields, version: .ninep2000L),
    Golden("L Rremove", Fcall(tag: Tag(1), .rremove(Rremove())), """
        07000000 7b 0100
        """.hexFields, version: .ninep2000L),
    Golden("L Rauth", Fcall(tag: Tag(1), .rauth(Rauth(aqid: qidAuth))), """
        14000000 67 0100 08 00000000 0807060504030201
        """.hexFields, version: .ninep2000L),
]

/// Edge values of the 9P2000.u bodies.
let variedFcallsU: [Fcall] = [
    Fcall(tag: Tag(1), .tauth(Tauth(afid: .nofid, uname: "", aname: "", nUname: 0))),
    Fcall(tag: Tag(1), .tattach(Tattach(fid: Fid(1), afid: Fid(2), uname: "ü", aname: "/", nUname: .max - 1))),
    Fcall(tag: Tag(1), .rerror(Rerror(ename: "", errno: .max))),
    Fcall(tag: Tag(1), .tcreate(Tcreate(
        fid: Fid(1), name: "null", perm: FileMode(permissions: 0o666, flags: .device), mode: .read, extension: "c 1 3"))),
    Fcall(tag: Tag(1), .tcreate(Tcreate(
        fid: Fid(1), name: "hard", perm: FileMode(permissions: 0o644, flags: .link), mode: .read, extension: "7"))),
    Fcall(tag: Tag(1), .rstat(Rstat(stat: Stat(
        qid: Qid(type: .symlink, path: 9), mode: FileMode(permissions: 0o777, flags: .symlink), name: "ln",
        extension: String(repeating: "../", count: 300), nUid: 0, nGid: 0, nMuid: 0)))),
    Fcall(tag: Tag(1), .twstat(Twstat(fid: Fid(1), stat: Stat(
        qid: Qid(path: 1), mode: FileMode(permissions: 0o4755, flags: [.setuid, .setgid, .setvtx]), name: "x",
        nUid: 1000, nGid: 1000)))),
    Fcall(tag: Tag(2), .topen(Topen(fid: Fid(1), mode: .readWrite))),
    Fcall(tag: Tag(2), .tstat(Tstat(fid: Fid(1)))),
]

/// Edge values of the 9P2000.L bodies.
let variedFcallsL: [Fcall] = {
    let maxQid = Qid(type: QidType(rawValue: 0xff), version: .max, path: .max)
    var entries = ByteBuffer()
    for e in diodReaddirEntries { entries.writeDirEntry(e) }
    entries.writeDirEntry(DirEntry(qid: maxQid, offset: .max, type: .max, name: String(repeating: "n", count: 255)))
    return [
        Fcall(tag: Tag(1), .rlerror(Rlerror(ecode: 0))),
        Fcall(tag: Tag(1), .rlerror(Rlerror(ecode: .max))),
        Fcall(tag: Tag(1), .rstatfs(Rstatfs(
            type: .max, bsize: .max, blocks: .max, bfree: .max, bavail: .max, files: .max, ffree: .max, fsid: .max,
            namelen: .max))),
        Fcall(tag: Tag(1), .tlopen(Tlopen(fid: .nofid, flags: LinuxOpenFlags(rawValue: .max)))),
        Fcall(tag: Tag(1), .tlcreate(Tlcreate(
            fid: Fid(1), name: "", flags: [.create, .exclusive, .writeOnly, .closeOnExec], mode: 0o100600, gid: .max))),
        Fcall(tag: Tag(1), .rlcreate(Rlcreate(qid: maxQid, iounit: .max))),
        Fcall(tag: Tag(1), .tsymlink(Tsymlink(fid: Fid(1), name: "ссылка", symtgt: String(repeating: "../", count: 1000), gid: 0))),
        Fcall(tag: Tag(1), .tmknod(Tmknod(dfid: Fid(1), name: "null", mode: 0o20666, major: 1, minor: 3, gid: 5))),
        Fcall(tag: Tag(1), .treadlink(Treadlink(fid: .nofid))),
        Fcall(tag: Tag(1), .rreadlink(Rreadlink(target: ""))),
        Fcall(tag: Tag(1), .tgetattr(Tgetattr(fid: Fid(1), requestMask: GetattrMask(rawValue: .max)))),
        Fcall(tag: Tag(1), .rgetattr(Rgetattr(attributes: LinuxAttributes(
            valid: .all, qid: maxQid, mode: .max, uid: .max, gid: .max, nlink: .max, rdev: .max, size: .max,
            blksize: .max, blocks: .max, atimeSec: .max, atimeNsec: 999_999_999, mtimeSec: .max, mtimeNsec: 1,
            ctimeSec: .max, ctimeNsec: .max, btimeSec: .max, btimeNsec: .max, gen: .max, dataVersion: .max)))),
        Fcall(tag: Tag(1), .tsetattr(Tsetattr(
            fid: Fid(1), valid: [.mode, .uid, .gid, .size, .atime, .mtime, .ctime, .atimeSet, .mtimeSet],
            mode: .max, uid: .max, gid: .max, size: .max, atimeSec: .max, atimeNsec: .max, mtimeSec: .max,
            mtimeNsec: .max))),
        Fcall(tag: Tag(1), .txattrcreate(Txattrcreate(fid: Fid(1), name: "trusted.x", attrSize: .max, flags: Txattrcreate.replace))),
        Fcall(tag: Tag(1), .rxattrwalk(Rxattrwalk(size: .max))),
        Fcall(tag: Tag(1), .treaddir(Treaddir(fid: Fid(1), offset: .max, count: .max))),
        Fcall(tag: Tag(1), .rreaddir(Rreaddir(data: ByteBuffer()))),
        Fcall(tag: Tag(1), .rreaddir(Rreaddir(data: entries))),
        Fcall(tag: Tag(1), .tfsync(Tfsync(fid: Fid(1), datasync: 1))),
        Fcall(tag: Tag(1), .tlock(Tlock(
            fid: Fid(1), type: LockType(rawValue: .max), flags: [.block, .reclaim], start: .max, length: .max,
            procId: .max, clientId: String(repeating: "h", count: 64)))),
        Fcall(tag: Tag(1), .rlock(Rlock(status: .blocked))),
        Fcall(tag: Tag(1), .rlock(Rlock(status: LockStatus(rawValue: .max)))),
        Fcall(tag: Tag(1), .tgetlock(Tgetlock(fid: Fid(1), type: .writeLock, start: 10, length: 20, procId: 1, clientId: ""))),
        Fcall(tag: Tag(1), .rgetlock(Rgetlock(type: .writeLock, start: .max, length: .max, procId: .max, clientId: "host"))),
        Fcall(tag: Tag(1), .tmkdir(Tmkdir(dfid: .nofid, name: "новый", mode: .max, gid: .max))),
        Fcall(tag: Tag(1), .trenameat(Trenameat(olddirfid: Fid(1), oldname: "", newdirfid: .nofid, newname: "ü"))),
        Fcall(tag: Tag(1), .tunlinkat(Tunlinkat(dirfd: Fid(1), name: "f", flags: 0))),
        Fcall(tag: .notag, .tauth(Tauth(afid: Fid(1), uname: "glenda", aname: "", nUname: NineP.nonuname))),
    ]
}()
