/* format/pal_lut.c — stored precision of palettization tables and scales.
 *
 * The quantizer always rounds a table or a scale to its stored form first and
 * then computes indices against the rounded values, so that the indices are
 * the nearest ones for what a decoder will actually multiply.
 */
#include <math.h>
#include <string.h>

#include <stdlib.h>

#include "pal_family.h"

static float ld_f32(const unsigned char *p) {
    uint32_t b = qtf__ld32(p);
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static void st_f32(unsigned char *p, float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    qtf__st32(p, b);
}

qtf_status qtf__pal_store_table(const qtf__pal_geom *g, uint64_t t, float *vals,
                                void *const *parts) {
    const uint64_t n = (uint64_t)g->k * g->dim;
    const uint64_t base = t * n;
    unsigned char *lut = parts[g->p_lut];
    switch (g->lut_type) {
    case QTF_DTYPE_F32:
        for (uint64_t i = 0; i < n; i++) {
            if (!isfinite(vals[i]))
                return qtf__error(QTF_E_NUMERIC, "pal: table %llu entry %llu is not finite",
                                  (unsigned long long)t, (unsigned long long)i);
            uint32_t b;
            memcpy(&b, &vals[i], 4);
            qtf__st32(lut + 4 * (base + i), b);
        }
        return QTF_OK;
    case QTF_DTYPE_F16:
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h = qtf_f32_to_f16(vals[i]);
            float back = qtf_f16_to_f32(h);
            if (!isfinite(back))
                return qtf__error(QTF_E_NUMERIC,
                                  "pal: table %llu entry %llu = %g does not fit F16 "
                                  "(use lut=f32 or rowscale)",
                                  (unsigned long long)t, (unsigned long long)i,
                                  (double)vals[i]);
            vals[i] = back;
            qtf__st16(lut + 2 * (base + i), h);
        }
        return QTF_OK;
    case QTF_DTYPE_I8: {
        /* linear symmetric: entry = q * step, step = max|entry| / 127 */
        float amax = 0.0f;
        for (uint64_t i = 0; i < n; i++) {
            float a = fabsf(vals[i]);
            if (!(a <= amax)) amax = a;
        }
        if (!isfinite(amax))
            return qtf__error(QTF_E_NUMERIC, "pal: table %llu is not finite",
                              (unsigned long long)t);
        float step = amax / 127.0f;
        float inv = step > 0.0f ? 1.0f / step : 0.0f;
        for (uint64_t i = 0; i < n; i++) {
            float q = rintf(vals[i] * inv);
            if (q > 127.0f) q = 127.0f;
            if (q < -127.0f) q = -127.0f;
            lut[base + i] = (unsigned char)(int8_t)q;
            vals[i] = q * step;
        }
        uint32_t b;
        memcpy(&b, &step, 4);
        qtf__st32((unsigned char *)parts[g->p_lut_scales] + 4 * t, b);
        return QTF_OK;
    }
    default:
        return qtf__error(QTF_E_ENCODING, "pal: lut type %s", qtf_dtype_name(g->lut_type));
    }
}

void qtf__pal_load_table(const qtf__pal_geom *g, uint64_t t, float *vals,
                         const void *const *parts) {
    const uint64_t n = (uint64_t)g->k * g->dim;
    const uint64_t base = t * n;
    const unsigned char *lut = parts[g->p_lut];
    switch (g->lut_type) {
    case QTF_DTYPE_F32:
        for (uint64_t i = 0; i < n; i++) vals[i] = ld_f32(lut + 4 * (base + i));
        break;
    case QTF_DTYPE_F16:
        for (uint64_t i = 0; i < n; i++) vals[i] = qtf_f16_to_f32(qtf__ld16(lut + 2 * (base + i)));
        break;
    default: {
        float step = ld_f32((const unsigned char *)parts[g->p_lut_scales] + 4 * t);
        for (uint64_t i = 0; i < n; i++) vals[i] = (float)(int8_t)lut[base + i] * step;
        break;
    }
    }
}

qtf_status qtf__pal_store_scales(const qtf__pal_geom *g, float *scales, void *const *parts) {
    const uint64_t n = g->n_scales;
    if (g->dq) {
        const uint64_t nb = (n + QTF__DQ_BLOCK - 1) / QTF__DQ_BLOCK;
        float *steps = qtf__malloc(nb ? (size_t)nb * sizeof *steps : 1);
        if (!steps) return qtf__error(QTF_E_NOMEM, "pal: no memory for %llu dq blocks",
                                      (unsigned long long)nb);
        float offset;
        qtf__dq_quantize(scales, n, parts[g->p_dq_codes], steps, &offset);
        unsigned char *bs = parts[g->p_dq_scales];
        for (uint64_t i = 0; i < nb; i++) st_f32(bs + 4 * i, steps[i]);
        st_f32(parts[g->p_dq_offset], offset);
        qtf__dq_dequantize(scales, n, parts[g->p_dq_codes], steps, offset);
        free(steps);
        for (uint64_t i = 0; i < n; i++)
            if (!isfinite(scales[i]))
                return qtf__error(QTF_E_NUMERIC, "pal: double-quantized scale %llu (row %llu) "
                                  "is not finite", (unsigned long long)i,
                                  (unsigned long long)(i / g->units_per_row));
        return QTF_OK;
    }
    unsigned char *p = parts[g->p_scales];
    for (uint64_t i = 0; i < n; i++) {
        uint16_t h = qtf_f32_to_f16(scales[i]);
        float back = qtf_f16_to_f32(h);
        if (!isfinite(back))
            return qtf__error(QTF_E_NUMERIC,
                              "pal: scale %llu (row %llu) = %g does not fit F16 (max 65504); "
                              "scale the tensor down, or use a table without scales and "
                              "lut=f32", (unsigned long long)i,
                              (unsigned long long)(i / g->units_per_row), (double)scales[i]);
        qtf__st16(p + 2 * i, h);
        scales[i] = back;
    }
    return QTF_OK;
}

qtf_status qtf__pal_load_scales(const qtf__pal_geom *g, float *scales,
                                const void *const *parts) {
    const uint64_t n = g->n_scales;
    if (g->dq) {
        const uint64_t nb = (n + QTF__DQ_BLOCK - 1) / QTF__DQ_BLOCK;
        float *steps = qtf__malloc(nb ? (size_t)nb * sizeof *steps : 1);
        if (!steps) return qtf__error(QTF_E_NOMEM, "pal: no memory for %llu dq blocks",
                                      (unsigned long long)nb);
        const unsigned char *bs = parts[g->p_dq_scales];
        for (uint64_t i = 0; i < nb; i++) steps[i] = ld_f32(bs + 4 * i);
        qtf__dq_dequantize(scales, n, parts[g->p_dq_codes], steps,
                           ld_f32(parts[g->p_dq_offset]));
        free(steps);
        return QTF_OK;
    }
    const unsigned char *p = parts[g->p_scales];
    for (uint64_t i = 0; i < n; i++) scales[i] = qtf_f16_to_f32(qtf__ld16(p + 2 * i));
    return QTF_OK;
}
