import Glibc

/// The file system types whose metadata calls are local work — memory or a
/// local disk — and answer in microseconds once cached: the ones where the
/// export runs walks, stats and creates on its event loop. Network, FUSE
/// and unknown file systems are not here: there a stat can wait for a
/// server, which must never stall the loop.
enum LocalFileSystems {
    static let types: Set<String> = [
        "tmpfs", "ramfs", "ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "zfs", "bcachefs",
        "overlay",  // containers: layers on a local disk
    ]

    /// Whether the file system of device `device` (a `st_dev`) is one of
    /// these, by its line in /proc/self/mountinfo (proc(5)).
    static func contains(device: UInt64, mountInfoPath: String = "/proc/self/mountinfo") -> Bool {
        guard let type = type(of: device, mountInfoPath: mountInfoPath) else { return false }
        return types.contains(type)
    }

    /// The type of the file system mounted from `device`, or nil if no line names it.
    static func type(of device: UInt64, mountInfoPath: String = "/proc/self/mountinfo") -> String? {
        guard let file = fopen(mountInfoPath, "re") else { return nil }
        defer { fclose(file) }
        var buffer: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(buffer) }
        // gnu_dev_major and gnu_dev_minor
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~0xfff)
        let minor = (device & 0xff) | ((device >> 12) & ~0xff)
        let wanted = "\(major):\(minor)"
        while getline(&buffer, &capacity, file) > 0, let buffer {
            let line = String(cString: buffer).dropLast()  // the newline
            // ID parentID major:minor root mountpoint options [optional...] - type source superoptions
            let fields = line.split(separator: " ")
            guard fields.count > 3, fields[2] == wanted, let dash = fields.firstIndex(of: "-"),
                dash + 1 < fields.count
            else { continue }
            return String(fields[dash + 1])
        }
        return nil
    }
}
