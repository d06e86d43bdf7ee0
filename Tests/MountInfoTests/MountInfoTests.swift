import MountInfo
import Testing

struct MountInfoTests {
    @Test func mountinfoEscapes() {
        #expect(MountInfo.unescape("/tmp/a\\040b\\134c") == "/tmp/a b\\c")
        #expect(MountInfo.entries().contains { $0.mountPoint == "/" })
    }

    @Test func mountinfoLines() {
        let fuse = MountInfo.parse(
            line: "512 28 0:52 / /tmp/a\\040b rw,nosuid,nodev,relatime shared:300 - fuse.9p 9p:unix!/s rw,user_id=0\n")
        #expect(fuse == MountInfo.Entry(device: "0:52", mountPoint: "/tmp/a b", fsType: "fuse.9p"))
        let noOptionalFields = MountInfo.parse(line: "36 35 98:0 /mnt1 /mnt2 rw,noatime - ext3 /dev/root rw")
        #expect(noOptionalFields == MountInfo.Entry(device: "98:0", mountPoint: "/mnt2", fsType: "ext3"))
        #expect(MountInfo.parse(line: "36 35 98:0\n") == nil)
    }

    /// st_dev as mountinfo names it (gnu_dev_makedev's inverse).
    @Test func deviceNames() {
        #expect(MountInfo.deviceName(0xFE00) == "254:0")
        #expect(MountInfo.deviceName(52) == "0:52")
        // Majors above 0xfff and minors above 0xff: glibc's split layout.
        #expect(MountInfo.deviceName(0x1000_0562_3478) == "4660:22136")  // makedev(0x1234, 0x5678)
    }
}
