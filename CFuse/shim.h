#ifndef NINEP_CFUSE_SHIM_H
#define NINEP_CFUSE_SHIM_H

// libfuse3's low-level API, version 3.5 semantics.
#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#endif
