#define _GNU_SOURCE
#include "CThreadCredentials.h"
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

// setfsuid(2): "On success, ... the previous value of fsuid is returned. On
// error, the current value of fsuid is returned." The call is made again
// with -1 (never a valid id) to read back what the kernel set.
int ninep_set_thread_fs_credentials(uid_t fsuid, gid_t fsgid, size_t ngroups, const gid_t *groups) {
    if (syscall(SYS_setgroups, ngroups, groups) != 0) return errno;
    syscall(SYS_setfsgid, fsgid);
    if ((gid_t)syscall(SYS_setfsgid, (gid_t)-1) != fsgid) return EPERM;
    syscall(SYS_setfsuid, fsuid);
    if ((uid_t)syscall(SYS_setfsuid, (uid_t)-1) != fsuid) return EPERM;
    return 0;
}

void ninep_thread_fs_ids(uid_t *fsuid, gid_t *fsgid) {
    *fsuid = (uid_t)syscall(SYS_setfsuid, (uid_t)-1);
    *fsgid = (gid_t)syscall(SYS_setfsgid, (gid_t)-1);
}
