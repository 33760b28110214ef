/* convert/gguf_in.h — a GGUF file as qtf-convert's input: to .qtf with the
 * ggml blocks copied under Hugging Face names (metadata kept as gguf.*), or
 * to .safetensors dequantized; Q/K rows back in HF order in both. */
#ifndef QTF_CONVERT_GGUF_IN_H
#define QTF_CONVERT_GGUF_IN_H

#include "gguf_out.h"
#include "qtf.h"

/* Runs the conversion of o->input (a GGUF file) to o->output: .safetensors
 * when to_safetensors (o->st_dtype F32, F16 or BF16), else .qtf. Returns
 * qtf-convert's exit code; nothing is left at the output on failure. */
int qtfg_convert_from_gguf(const qtfg_options *o, int to_safetensors);

/* The QTF encoding that stores ggml `type` as its own blocks (f32, f16,
 * bf16, q8_0, q4_k, ...): 0, or -1 when this build has none. */
int qtfg_encoding_of_ggml(qtf_encoding *out, uint32_t type);

/* A scalar metadata value as its little-endian bytes at its own width. */
void qtfg_value_le(unsigned char out[8], const qtf_value *v);

#endif
