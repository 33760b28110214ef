/* format/stream.h — writing decoded f32 values to a destination larger than
 * the caches (private to format/). A decoder that fills a large destination
 * decodes a chunk into a small buffer (qtf__stream_buf, L1-resident) and
 * copies it out with non-temporal stores: the destination lines are then
 * written without first being read for ownership, which on the machines
 * measured (bench/RESULTS.md) roughly doubles the write bandwidth of one core
 * (2.0 -> 5-6 G f32/s). Small destinations keep normal stores, so that a
 * consumer that follows finds them in cache. The values written are the same
 * either way: only the store instruction differs. */
#ifndef QTF_FORMAT_STREAM_H
#define QTF_FORMAT_STREAM_H

#include <stddef.h>
#include <stdint.h>

/* Destinations of at least this many bytes are streamed: 4x the 2 MiB L2 of
 * one core of the measured machines, past what a consumer could still find in
 * that core's caches. */
#define QTF__STREAM_MIN_BYTES ((uint64_t)8 << 20)

/* Elements of the chunk buffer: 2 KiB of f32, a multiple of every block (32,
 * 256). Small on purpose: the streaming stores of one chunk are still
 * draining to memory while the next chunk is decoded, which overlaps the two
 * (4096-element chunks ran 1.2-1.6x slower, bench/RESULTS.md). */
#define QTF__STREAM_CHUNK 512

/* Whether a destination of n f32 values is written with streaming stores:
 * n >= qtf__stream_min_values (QTF__STREAM_MIN_BYTES / 4; tests set it to 0
 * or UINT64_MAX to compare the two paths on small tensors). */
int qtf__stream_wanted(uint64_t n);
extern uint64_t qtf__stream_min_values;

/* dst[0..n) = src[0..n): non-temporal stores where the target has them and
 * dst is float-aligned (normal stores for the unaligned head and tail), else
 * memcpy. Call qtf__stream_fence() before the data is handed to another
 * thread or returned. */
void qtf__stream_copy(float *dst, const float *src, size_t n);

/* Orders the streaming stores before everything after it (sfence). */
void qtf__stream_fence(void);

#endif
