import Glibc

/// The mounts of this mount namespace, read from /proc/self/mountinfo
/// (proc(5)): what FuseLowLevel checks a mountpoint against and what the
/// export asks about the file system it serves. A leaf: Glibc only.
public enum MountInfo {
    /// One line of mountinfo: the device number ("0:52"), where it is
    /// mounted and the filesystem type ("fuse.9p").
    public struct Entry: Hashable, Sendable {
        public var device: String
        public var mountPoint: String
        public var fsType: String

        public init(device: String, mountPoint: String, fsType: String) {
            self.device = device
            self.mountPoint = mountPoint
            self.fsType = fsType
        }
    }

    /// Every line of the mountinfo file at `path`, in order (later mounts
    /// last); none if it cannot be read.
    public static func entries(path: String = "/proc/self/mountinfo") -> [Entry] {
        guard let file = fopen(path, "re") else { return [] }
        defer { fclose(file) }
        var entries: [Entry] = []
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            if let entry = parse(line: String(cString: line)) { entries.append(entry) }
        }
        return entries
    }

    /// proc(5): "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root
    /// rw,errors=continue": the device is the third field, the mount point
    /// the fifth, the type follows the lone "-" that ends the optional fields.
    public static func parse(line: String) -> Entry? {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count > 4 else { return nil }
        var fsType = ""
        if let separator = fields.dropFirst(6).firstIndex(of: "-"), separator + 1 < fields.count {
            fsType = unescape(fields[separator + 1])
        }
        return Entry(device: String(fields[2]), mountPoint: unescape(fields[4]), fsType: fsType)
    }

    /// mountinfo writes space, tab, newline and backslash as octal escapes (`\040`).
    public static func unescape(_ field: Substring) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3,
                let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A `st_dev` as mountinfo writes it, "major:minor" (gnu_dev_major and gnu_dev_minor).
    public static func deviceName(_ device: UInt64) -> String {
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & 0xffff_f000)
        let minor = (device & 0xff) | ((device >> 12) & 0xffff_ff00)
        return "\(major):\(minor)"
    }
}
