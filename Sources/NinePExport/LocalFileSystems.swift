import MountInfo

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
    /// these, by its line in /proc/self/mountinfo.
    static func contains(device: UInt64, mountInfoPath: String = "/proc/self/mountinfo") -> Bool {
        guard let type = type(of: device, mountInfoPath: mountInfoPath) else { return false }
        return types.contains(type)
    }

    /// The type of the file system mounted from `device`, or nil if no line names it.
    static func type(of device: UInt64, mountInfoPath: String = "/proc/self/mountinfo") -> String? {
        let name = MountInfo.deviceName(device)
        return MountInfo.entries(path: mountInfoPath).first { $0.device == name }?.fsType
    }
}
