/* tests/install/consumer.c — a third-party program: built by
 * scripts/check-install.sh against the INSTALLED qtf.h and libqtf.so only
 * (pkg-config), never the source tree. Writes a .qtf with an int8 tensor,
 * reads it back, dequantizes, and checks the values. Exit 0 on success. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <qtf.h>

static int fail(const char *what, qtf_status st) {
    fprintf(stderr, "consumer: %s: %s: %s\n", what, qtf_status_name(st), qtf_error_detail());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    float w[4 * 32];
    for (int i = 0; i < 4 * 32; i++) w[i] = (float)sin(0.1 * i);
    uint64_t dims[2] = { 4, 32 };
    qtf_encoding enc;
    qtf_status st = qtf_encoding_parse(&enc, "int8");
    if (st) return fail("parse", st);
    qtf_encoded *e = NULL;
    qtf_quantize_options qo = QTF_QUANTIZE_OPTIONS_INIT;
    if ((st = qtf_quantize(&e, &enc, w, 2, dims, &qo))) return fail("quantize", st);
    qtf_part_view views[QTF_MAX_PARTS];
    uint32_t n = qtf_encoded_views(views, e);
    qtf_writer *wr = NULL;
    if ((st = qtf_writer_create(&wr, argv[1], NULL))) return fail("create", st);
    qtf_tensor_desc d = QTF_TENSOR_DESC_INIT;
    d.name = "w";
    d.n_dims = 2;
    d.dims = dims;
    d.source_type = QTF_DTYPE_F32;
    d.encoding = &enc;
    if ((st = qtf_writer_set_string(wr, "general.name", "consumer", 8)))
        return fail("metadata", st);
    if ((st = qtf_writer_add_tensor(wr, &d, views, n))) return fail("add", st);
    if ((st = qtf_writer_finish(wr))) return fail("finish", st);
    qtf_encoded_free(e);
    qtf_file *f = NULL;
    if ((st = qtf_file_open(&f, argv[1], NULL))) return fail("open", st);
    if ((st = qtf_file_verify(f, 1, NULL))) return fail("verify", st);
    float back[4 * 32];
    if ((st = qtf_tensor_dequantize(back, QTF_DTYPE_F32, 4 * 32, f, 0, 1)))
        return fail("dequantize", st);
    qtf_file_close(f);
    for (int i = 0; i < 4 * 32; i++)
        if (fabsf(back[i] - w[i]) > 0.01f) {
            fprintf(stderr, "consumer: element %d: %g, expected %g\n", i, back[i], w[i]);
            return 1;
        }
    printf("consumer: OK (libqtf %s)\n", QTF_VERSION_STRING);
    return 0;
}
