import Glibc

/// Filesystem statistics, a Swift mirror of `struct statvfs`, answered to statfs.
public struct FuseStatvfs: Sendable, Hashable {
    /// Preferred block size (`f_bsize`).
    public var blockSize: UInt64
    /// Fundamental block size; the unit of the block counts (`f_frsize`).
    public var fragmentSize: UInt64
    public var blocks: UInt64
    public var blocksFree: UInt64
    /// Free blocks available to unprivileged users.
    public var blocksAvailable: UInt64
    public var files: UInt64
    public var filesFree: UInt64
    public var filesAvailable: UInt64
    /// Longest file name (`f_namemax`).
    public var nameMax: UInt64

    public init(
        blockSize: UInt64 = 4096, fragmentSize: UInt64? = nil, blocks: UInt64 = 0, blocksFree: UInt64 = 0,
        blocksAvailable: UInt64? = nil, files: UInt64 = 0, filesFree: UInt64 = 0, filesAvailable: UInt64? = nil,
        nameMax: UInt64 = 255
    ) {
        self.blockSize = blockSize
        self.fragmentSize = fragmentSize ?? blockSize
        self.blocks = blocks
        self.blocksFree = blocksFree
        self.blocksAvailable = blocksAvailable ?? blocksFree
        self.files = files
        self.filesFree = filesFree
        self.filesAvailable = filesAvailable ?? filesFree
        self.nameMax = nameMax
    }

    var cValue: statvfs {
        var s = statvfs()
        s.f_bsize = UInt(blockSize)
        s.f_frsize = UInt(fragmentSize)
        s.f_blocks = UInt(blocks)
        s.f_bfree = UInt(blocksFree)
        s.f_bavail = UInt(blocksAvailable)
        s.f_files = UInt(files)
        s.f_ffree = UInt(filesFree)
        s.f_favail = UInt(filesAvailable)
        s.f_namemax = UInt(nameMax)
        return s
    }
}
