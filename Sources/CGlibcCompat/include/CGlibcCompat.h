// CGlibcCompat has no API: with DRMAA_GLIBC_COMPAT (set by `make lib` only) glibc_compat.c defines
// hidden replacements for glibc symbols that are too new for glibc 2.28 (Docs/C-API.md). This header
// exists so that SwiftPM treats the directory as a normal C target.
#ifndef CGLIBCCOMPAT_H
#define CGLIBCCOMPAT_H
#endif
