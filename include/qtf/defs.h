/* include/qtf/defs.h — library and format versions, the export macro.
 * Part of the public API; include <qtf.h> (the umbrella) or a topic header. */
#ifndef QTF_DEFS_H
#define QTF_DEFS_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define QTF_API
#elif defined(__GNUC__)
#define QTF_API __attribute__((visibility("default")))
#else
#define QTF_API
#endif

#define QTF_VERSION_MAJOR 0
#define QTF_VERSION_MINOR 1
#define QTF_VERSION_PATCH 0
#define QTF_VERSION_STRING "0.1.0"

/* Container format version this library reads and writes. Files are written
 * with the lowest minor version whose features they use (0 unless a tensor
 * has a layout: spec/FORMAT.md section 6.4). */
#define QTF_FORMAT_MAJOR 1
#define QTF_FORMAT_MINOR 1

#endif /* QTF_DEFS_H */
