/* Scalar metadata values from their little-endian bytes: the .qtf metadata
 * and GGUF key/value records share the value type codes (qtf_type), so
 * both readers decode a stored number here. */
#include <string.h>

#include "common.h"

void qtf__value_load_scalar(qtf_value *v, qtf_type t, const unsigned char *p) {
    v->type = t;
    switch (t) {
    case QTF_TYPE_U8: case QTF_TYPE_BOOL: v->num.u64 = p[0]; break;
    case QTF_TYPE_I8: v->num.i64 = (int8_t)p[0]; break;
    case QTF_TYPE_U16: v->num.u64 = qtf__ld16(p); break;
    case QTF_TYPE_I16: v->num.i64 = (int16_t)qtf__ld16(p); break;
    case QTF_TYPE_U32: v->num.u64 = qtf__ld32(p); break;
    case QTF_TYPE_I32: v->num.i64 = (int32_t)qtf__ld32(p); break;
    case QTF_TYPE_U64: v->num.u64 = qtf__ld64(p); break;
    case QTF_TYPE_I64: v->num.i64 = (int64_t)qtf__ld64(p); break;
    case QTF_TYPE_F32: {
        uint32_t b = qtf__ld32(p);
        float f;
        memcpy(&f, &b, 4);
        v->num.f64 = f;
        break;
    }
    case QTF_TYPE_F64: {
        uint64_t b = qtf__ld64(p);
        memcpy(&v->num.f64, &b, 8);
        break;
    }
    default: break;
    }
}
