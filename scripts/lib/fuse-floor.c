/*
 * fuse-floor: the fastest a FUSE file system can be on this machine, for
 * scripts/bench to measure the mount against in the same run.
 *
 * A single-threaded libfuse low-level file system with nothing behind it:
 * one flat directory held in memory, files that keep their size but not
 * their data (writes are discarded, reads return zeros). Every request is
 * answered at once, so what a workload costs here is the cost of FUSE
 * itself: the kernel, /dev/fuse and the context switches. Opens drop the
 * kernel's page cache (no keep_cache), so a read after a reopen reaches the
 * file system, as after ninep's remount.
 *
 *   fuse-floor MOUNTPOINT        (foreground; unmount with fusermount3 -u)
 */
#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct file { char *name; uint64_t size; int used; };

static struct file *files;          /* index = inode - 2 */
static size_t nfiles, capfiles;
static uint64_t *slots;             /* hash of names → inode, 0 = empty */
static size_t capslots = 1 << 16;
static char zeros[1 << 20];

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static size_t find_slot(const char *name) {
    size_t i = hash(name) & (capslots - 1);
    while (slots[i] && strcmp(files[slots[i] - 2].name, name) != 0) i = (i + 1) & (capslots - 1);
    return i;
}

static void fill(struct stat *st, fuse_ino_t ino) {
    memset(st, 0, sizeof *st);
    st->st_ino = ino;
    if (ino == 1) { st->st_mode = S_IFDIR | 0755; st->st_nlink = 2; return; }
    st->st_mode = S_IFREG | 0644; st->st_nlink = 1; st->st_size = files[ino - 2].size;
}

static void reply_entry(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    e.ino = ino; e.attr_timeout = 1; e.entry_timeout = 1;
    fill(&e.attr, ino);
    if (fi) fuse_reply_create(req, &e, fi); else fuse_reply_entry(req, &e);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
    size_t i = find_slot(name);
    if (parent != 1 || !slots[i]) { fuse_reply_err(req, ENOENT); return; }
    reply_entry(req, slots[i], NULL);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    struct stat st;
    fill(&st, ino);
    fuse_reply_attr(req, &st, 1);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, struct fuse_file_info *fi) {
    if (ino != 1 && (to_set & FUSE_SET_ATTR_SIZE)) files[ino - 2].size = attr->st_size;
    op_getattr(req, ino, fi);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi) {
    size_t i = find_slot(name);
    if (parent != 1 || slots[i] || (nfiles + 1) * 2 > capslots) { fuse_reply_err(req, slots[i] ? EEXIST : ENOSPC); return; }
    if (nfiles == capfiles) {
        capfiles = capfiles ? capfiles * 2 : 1024;
        files = realloc(files, capfiles * sizeof *files);
        if (!files) abort();
    }
    files[nfiles] = (struct file){ strdup(name), 0, 1 };
    slots[i] = ++nfiles + 1;
    fi->noflush = 1;
    reply_entry(req, slots[i], fi);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
    if (fi->flags & O_TRUNC) files[ino - 2].size = 0;
    fi->noflush = 1;
    fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
    uint64_t length = files[ino - 2].size;
    size_t n = (uint64_t)off >= length ? 0 : (size_t)(length - off < size ? length - off : size);
    fuse_reply_buf(req, zeros, n > sizeof zeros ? sizeof zeros : n);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
    if ((uint64_t)off + size > files[ino - 2].size) files[ino - 2].size = off + size;
    fuse_reply_write(req, size);
}

static void op_ok(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) { fuse_reply_err(req, 0); }

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
    size_t i = find_slot(name);
    if (parent != 1 || !slots[i]) { fuse_reply_err(req, ENOENT); return; }
    /* Re-insert the rest of the cluster so that probing still finds it. */
    slots[i] = 0;
    for (size_t j = (i + 1) & (capslots - 1); slots[j]; j = (j + 1) & (capslots - 1)) {
        uint64_t ino = slots[j];
        slots[j] = 0;
        slots[find_slot(files[ino - 2].name)] = ino;
    }
    fuse_reply_err(req, 0);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n) { fuse_reply_none(req); }

static const struct fuse_lowlevel_ops ops = {
    .lookup = op_lookup, .forget = op_forget, .getattr = op_getattr, .setattr = op_setattr,
    .create = op_create, .open = op_open, .read = op_read, .write = op_write, .fsync = op_ok,
    .unlink = op_unlink,
};

int main(int argc, char *argv[]) {
    if (argc != 2) { fprintf(stderr, "usage: fuse-floor MOUNTPOINT\n"); return 2; }
    slots = calloc(capslots, sizeof *slots);
    char *fargv[] = { argv[0], NULL };
    struct fuse_args args = FUSE_ARGS_INIT(1, fargv);
    struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
    if (!slots || !se || fuse_set_signal_handlers(se) || fuse_session_mount(se, argv[1])) return 1;
    int r = fuse_session_loop(se);
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return r;
}
