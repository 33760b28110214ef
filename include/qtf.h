/*
 * qtf.h — libqtf, the Quantized Tensor File library: the umbrella header over
 * the topic headers in qtf/ (as zstd.h / zstd_errors.h): defs, errors,
 * types, encodings, container, metrics.
 *
 * ==========================================================================
 *  FILE LAYOUT (container v1.0; the normative text is spec/FORMAT.md)
 * ==========================================================================
 *  All integers little-endian. Hashes are XXH3-64 (seed 0) stored in xxHash's
 *  canonical (big-endian) byte order, so they read like `xxhsum -H3` output.
 *
 *   offset 0            fixed header, 128 bytes
 *     0  u8[8] magic    89 51 54 46 0D 0A 1A 0A   ("\x89QTF\r\n\x1a\n")
 *     8  u16   major    1        (unknown major -> QTF_E_VERSION)
 *    10  u16   minor    0        (newer minor -> read what is known)
 *    12  u32   byte-order marker 0x01020304 (on disk: 04 03 02 01)
 *    16  u32   header size (128)
 *    20  u32   flags    bits 0-15 required (unknown -> refuse), 16-31 optional
 *    24  u32   alignment (power of two, 8 .. 1 MiB, default 64)
 *    28  u32   checksum algorithm (1 = XXH3-64)
 *    32  u64   tensor count
 *    40  u64   metadata count
 *    48  u64   data offset      = align_up(128, alignment)
 *    56  u64   data size        (multiple of alignment)
 *    64  u64   metadata offset  = data offset + data size
 *    72  u64   metadata size
 *    80  u64   directory offset = metadata offset + metadata size
 *    88  u64   directory size;  file size = directory offset + directory size
 *    96  u8[24] reserved (written as zero, ignored on read)
 *   120  u8[8] XXH3-64 of header[0,120) || metadata || directory
 *
 *   data section        every tensor part, in directory order, each starting at
 *                       the running total rounded up to the alignment; padding
 *                       bytes are zero; no holes, overlap or trailing bytes.
 *   metadata section    metadata count key/value records (typed, see qtf_type)
 *   directory section   tensor count records: name, shape, source dtype,
 *                       encoding id + parameters, parts (role, element type,
 *                       compression, offset, stored size, decoded size, hash)
 *
 *  Metadata and directory follow the data so that a writer can stream tensors
 *  of unknown compressed size with memory bounded by one tensor plus the
 *  directory, and so that metadata can be rewritten without touching data.
 *
 * ==========================================================================
 *  CONVENTIONS
 * ==========================================================================
 *  - Functions return qtf_status; QTF_OK is 0. On failure, qtf_error_detail()
 *    gives a thread-local message naming the file, tensor or key, the offset
 *    and what was expected versus found.
 *  - Out-parameters come first. What is returned through `**out` is owned by
 *    the caller (free it with the matching _free/_close). Pointers returned
 *    directly (const) are borrowed and live as long as their parent object.
 *  - Option structs are versioned: initialise them with their _INIT macro.
 *  - No function aborts on bad input; no validation relies on assert().
 *
 *  Headers: qtf/errors.h (1. status)  qtf/types.h (2. types)
 *           qtf/container.h (3. reader, 4. writer)
 *           qtf/encodings.h (5. encodings, 6. quantization)
 *           qtf/metrics.h (7. metrics and float conversion)
 */
#ifndef QTF_H
#define QTF_H

#include "qtf/defs.h"
#include "qtf/errors.h"
#include "qtf/types.h"
#include "qtf/encodings.h"
#include "qtf/container.h"
#include "qtf/metrics.h"

#endif /* QTF_H */
