#ifndef NINEP_THREAD_CREDENTIALS_H
#define NINEP_THREAD_CREDENTIALS_H

#include <stddef.h>
#include <sys/types.h>

/// Sets the calling thread's file-system credentials: supplementary groups,
/// fsgid, then fsuid, with the raw system calls, which change only the
/// calling thread (glibc's setgroups(3) changes every thread of the process).
/// Returns 0, or an errno when a call failed (nothing is undone).
int ninep_set_thread_fs_credentials(uid_t fsuid, gid_t fsgid, size_t ngroups, const gid_t *groups);

/// The calling thread's fsuid and fsgid, as the kernel has them now.
void ninep_thread_fs_ids(uid_t *fsuid, gid_t *fsgid);

#endif
