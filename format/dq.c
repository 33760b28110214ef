/* format/dq.c — double quantization of per-group scales (spec/encodings/block.md,
 * "Double quantization").
 *
 * The scales of a tensor are centred on their mean (one f32 offset), then
 * every block of QTF__DQ_BLOCK centred scales is quantized to 8-bit codes with
 * a uniform symmetric map: code = 128 + round(r / step), step = absmax(r)/127,
 * one f32 step per block. A uniform map rather than bitsandbytes' signed
 * "dynamic" (log-like) map: it is simpler to specify and decode, and what
 * matters is the error it adds to the weights, which is small: the bench
 * (bench/RESULTS-encodings.md) shows nf4 g64 with dq within
 * 0.1% of nf4 with f16 scales. Code 0 is never written; it decodes like any
 * other code (offset - 128 * step), so hostile codes cannot fault. The block
 * family's search re-chooses codes among neighbours (block_int.c). */
#include <math.h>

#include "family.h"

void qtf__dq_quantize(const float *scales, uint64_t n, uint8_t *codes, float *block_scales,
                      float *offset) {
    if (n == 0) {
        *offset = 0.0f;
        return;
    }
    /* Sequential double sum: the same bytes whatever the caller's threading. */
    double sum = 0.0;
    for (uint64_t i = 0; i < n; i++) sum += scales[i];
    const float mean = (float)(sum / (double)n);
    *offset = mean;

    uint64_t n_blocks = (n + QTF__DQ_BLOCK - 1) / QTF__DQ_BLOCK;
    for (uint64_t b = 0; b < n_blocks; b++) {
        uint64_t begin = b * QTF__DQ_BLOCK;
        uint64_t end = begin + QTF__DQ_BLOCK < n ? begin + QTF__DQ_BLOCK : n;
        float amax = 0.0f;
        for (uint64_t i = begin; i < end; i++) {
            float r = fabsf(scales[i] - mean);
            if (r > amax) amax = r;
        }
        float step = amax / 127.0f;
        block_scales[b] = step;
        if (step == 0.0f || !isfinite(step)) {
            /* every scale equals the mean (or the centred value overflowed,
             * which finite f32 group scales cannot produce): code 128 = mean */
            if (!isfinite(step)) block_scales[b] = 0.0f;
            for (uint64_t i = begin; i < end; i++) codes[i] = 128;
            continue;
        }
        float inv = 1.0f / step;
        for (uint64_t i = begin; i < end; i++) {
            float q = rintf((scales[i] - mean) * inv);
            if (q < -127.0f) q = -127.0f;
            if (q > 127.0f) q = 127.0f;
            codes[i] = (uint8_t)(128 + (int)q);
        }
    }
}

void qtf__dq_dequantize(float *scales, uint64_t n, const uint8_t *codes,
                        const float *block_scales, float offset) {
    for (uint64_t i = 0; i < n; i++)
        scales[i] = (float)((int)codes[i] - 128) * block_scales[i / QTF__DQ_BLOCK] + offset;
}
