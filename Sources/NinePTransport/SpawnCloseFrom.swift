#if canImport(Glibc)
public import Glibc

/// Adds glibc's `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+) to
/// `actions`: the child closes every descriptor from `lowest` up. The Glibc
/// module does not export it, so it is looked up at run time; on an older
/// glibc this does nothing.
///
/// Why: a child that inherits a descriptor on a FUSE mount keeps that mount
/// busy, and one that inherits a socket keeps a peer from seeing EOF.
public func spawnActionsCloseFrom(_ actions: inout posix_spawn_file_actions_t, _ lowest: Int32) {
    guard let addCloseFrom else { return }
    _ = addCloseFrom(&actions, lowest)
}

private let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
        return nil
    }
    return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}()
#endif
