/* format/dtype.c — sizes and printable names of the enums in qtf.h. */
#include "common/common.h"

size_t qtf_dtype_size(qtf_dtype t) {
    static const unsigned char sizes[QTF_DTYPE_COUNT_] = {
        [QTF_DTYPE_NONE] = 0,    [QTF_DTYPE_F32] = 4,     [QTF_DTYPE_F16] = 2,
        [QTF_DTYPE_BF16] = 2,    [QTF_DTYPE_F64] = 8,     [QTF_DTYPE_I8] = 1,
        [QTF_DTYPE_U8] = 1,      [QTF_DTYPE_I16] = 2,     [QTF_DTYPE_U16] = 2,
        [QTF_DTYPE_I32] = 4,     [QTF_DTYPE_U32] = 4,     [QTF_DTYPE_I64] = 8,
        [QTF_DTYPE_U64] = 8,     [QTF_DTYPE_BOOL] = 1,    [QTF_DTYPE_F8_E4M3] = 1,
        [QTF_DTYPE_F8_E5M2] = 1, [QTF_DTYPE_E8M0] = 1,    [QTF_DTYPE_PACKED] = 1,
    };
    return (unsigned)t < QTF_DTYPE_COUNT_ ? sizes[t] : 0;
}

const char *qtf_dtype_name(qtf_dtype t) {
    static const char *const names[QTF_DTYPE_COUNT_] = {
        [QTF_DTYPE_NONE] = "NONE",       [QTF_DTYPE_F32] = "F32",
        [QTF_DTYPE_F16] = "F16",         [QTF_DTYPE_BF16] = "BF16",
        [QTF_DTYPE_F64] = "F64",         [QTF_DTYPE_I8] = "I8",
        [QTF_DTYPE_U8] = "U8",           [QTF_DTYPE_I16] = "I16",
        [QTF_DTYPE_U16] = "U16",         [QTF_DTYPE_I32] = "I32",
        [QTF_DTYPE_U32] = "U32",         [QTF_DTYPE_I64] = "I64",
        [QTF_DTYPE_U64] = "U64",         [QTF_DTYPE_BOOL] = "BOOL",
        [QTF_DTYPE_F8_E4M3] = "F8_E4M3", [QTF_DTYPE_F8_E5M2] = "F8_E5M2",
        [QTF_DTYPE_E8M0] = "E8M0",       [QTF_DTYPE_PACKED] = "PACKED",
    };
    return (unsigned)t < QTF_DTYPE_COUNT_ ? names[t] : "?";
}

const char *qtf_type_name(qtf_type t) {
    static const char *const names[QTF_TYPE_COUNT_] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array",
        "u64", "i64", "f64", "blob",
    };
    uint32_t code = qtf_type_code(t);
    return code < QTF_TYPE_COUNT_ ? names[code] : "?";
}

uint32_t qtf_type_code(qtf_type t) {
    uint32_t code = (uint32_t)t - (uint32_t)QTF_TYPE_BASE_;
    return code < QTF_TYPE_COUNT_ ? code : UINT32_MAX;
}

qtf_type qtf_type_from_code(uint32_t code) {
    return code < QTF_TYPE_COUNT_ ? (qtf_type)((uint32_t)QTF_TYPE_BASE_ + code) : (qtf_type)0;
}

const char *qtf_part_role_name(qtf_part_role r) {
    static const char *const names[QTF_ROLE_COUNT_] = {
        [QTF_ROLE_DATA] = "data",           [QTF_ROLE_CODES] = "codes",
        [QTF_ROLE_SCALES] = "scales",       [QTF_ROLE_ZEROS] = "zeros",
        [QTF_ROLE_LUT] = "lut",             [QTF_ROLE_ROWSCALES] = "rowscales",
        [QTF_ROLE_DQ_CODES] = "dq_codes",   [QTF_ROLE_DQ_SCALES] = "dq_scales",
        [QTF_ROLE_DQ_OFFSET] = "dq_offset", [QTF_ROLE_BLOCKS] = "blocks",
        [QTF_ROLE_LUT_SCALES] = "lut_scales",
    };
    return (unsigned)r < QTF_ROLE_COUNT_ ? names[r] : "?";
}
