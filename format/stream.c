/* format/stream.c — non-temporal copies of decoded chunks to large
 * destinations (see stream.h for why). SSE2's _mm_stream_ps is part of every
 * x86-64 CPU, so the streaming form needs no run-time dispatch; 16-byte
 * streaming stores fill the same write-combining buffers as wider ones. */
#include "stream.h"

#include <string.h>

#if defined(__SSE2__) && (defined(__x86_64__) || defined(_M_X64))
#define QTF__STREAM_SSE2 1
#include <immintrin.h>
#else
#define QTF__STREAM_SSE2 0
#endif

uint64_t qtf__stream_min_values = QTF__STREAM_MIN_BYTES / 4;

int qtf__stream_wanted(uint64_t n) {
    return QTF__STREAM_SSE2 && n >= qtf__stream_min_values;
}

#if QTF__STREAM_SSE2 && defined(__GNUC__)
/* 32-byte streaming stores where the CPU has AVX: half the store-buffer
 * entries per line, so more of the decoding of the next chunk overlaps
 * (3-10% on the whole-matrix dequantize, bench/RESULTS.md). dst is 16-byte
 * aligned; returns how many values were stored. */
#define QTF__STREAM_AVX 1
__attribute__((target("avx"))) static size_t stream_avx(float *dst, const float *src, size_t n) {
    size_t i = 0;
    if (((uintptr_t)dst & 31) && n >= 4) {
        _mm_stream_ps(dst, _mm_loadu_ps(src));
        i = 4;
    }
    for (; i + 32 <= n; i += 32) {
        const __m256 a = _mm256_loadu_ps(src + i), b = _mm256_loadu_ps(src + i + 8);
        const __m256 c = _mm256_loadu_ps(src + i + 16), d = _mm256_loadu_ps(src + i + 24);
        _mm256_stream_ps(dst + i, a);
        _mm256_stream_ps(dst + i + 8, b);
        _mm256_stream_ps(dst + i + 16, c);
        _mm256_stream_ps(dst + i + 24, d);
    }
    for (; i + 8 <= n; i += 8) _mm256_stream_ps(dst + i, _mm256_loadu_ps(src + i));
    return i;
}
#else
#define QTF__STREAM_AVX 0
#endif

void qtf__stream_copy(float *dst, const float *src, size_t n) {
#if QTF__STREAM_SSE2
    if (((uintptr_t)dst & 3) == 0) {
        /* normal stores up to the first 16-byte boundary */
        size_t head = ((16 - ((uintptr_t)dst & 15)) & 15) / 4;
        if (head > n) head = n;
        memcpy(dst, src, head * 4);
        dst += head, src += head, n -= head;
        size_t i = 0;
#if QTF__STREAM_AVX
        if (__builtin_cpu_supports("avx")) i = stream_avx(dst, src, n);
#endif
        for (; i + 16 <= n; i += 16) {
            const __m128 a = _mm_loadu_ps(src + i), b = _mm_loadu_ps(src + i + 4);
            const __m128 c = _mm_loadu_ps(src + i + 8), d = _mm_loadu_ps(src + i + 12);
            _mm_stream_ps(dst + i, a);
            _mm_stream_ps(dst + i + 4, b);
            _mm_stream_ps(dst + i + 8, c);
            _mm_stream_ps(dst + i + 12, d);
        }
        for (; i + 4 <= n; i += 4) _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
        memcpy(dst + i, src + i, (n - i) * 4);
        return;
    }
#endif
    memcpy(dst, src, n * 4);
}

void qtf__stream_fence(void) {
#if QTF__STREAM_SSE2
    _mm_sfence();
#endif
}
