/* tests/support/tools.h — what the tool tests (test_inspect, test_verify,
 * test_tools_mutation, test_issue11) share: sample .qtf files built with the
 * public writer, and running built tools as subprocesses (Criterion). */
#ifndef QTF_TEST_SUPPORT_TOOLS_H
#define QTF_TEST_SUPPORT_TOOLS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "qtf.h"
#include "support/files.h"
#include "support/run.h"

/* One tensor of a sample file: values are a deterministic function of the
 * tensor number, so tests can rebuild the source exactly. */
typedef struct tf_tensor {
    const char *name;
    const char *encoding;
    uint32_t n_dims;
    uint64_t dims[2];
} tf_tensor;

/* The standard sample: one tensor per encoding family. */
#define TF_SAMPLE_COUNT ((size_t)6)
extern const tf_tensor tf_sample[TF_SAMPLE_COUNT];
/* The same families on small shapes (test_tools_mutation's 1.2 KB file). */
extern const tf_tensor tf_small_sample[TF_SAMPLE_COUNT];

#define TF_RECIPE "# default: int4\n*embed*=int8\n"

/* A string with C0 controls, an escape sequence, DEL and a bidi override. */
extern const char tf_control_string[];

uint64_t tf_elements(const tf_tensor *t);
/* The values of sample tensor `seed` (malloc'd). */
float *tf_values(unsigned seed, uint64_t n);

/* Adds tensor `name` with values tf_values(seed) encoded as `encoding`. */
void tf_add(qtf_writer *w, const char *name, const char *encoding, uint32_t n_dims,
            const uint64_t *dims, unsigned seed, qtf_dtype source_type);

/* Adds the n tensors of t, tensor k with values tf_values(k). */
void tf_add_sample(qtf_writer *w, const tf_tensor *t, size_t n, qtf_dtype source_type);

/* The sample file: tf_sample tensors (seed = index) and metadata covering
 * every kind of value, including text with control characters. */
void tf_make_sample(const char *path);

/* 1 if the text has a control byte other than newline. */
int tf_has_raw_control(const char *s, size_t len);

/* A temp dir holding the sample file (tf_make_sample), and the tool under test. */
typedef struct tf_fixture {
    char *dir, *file, *tool;
} tf_fixture;

tf_fixture tf_fixture_setup(const char *tool);
void tf_fixture_teardown(tf_fixture *fx);

/* Runs the tool on the fixture's file with --json and `extra` arguments; the
 * tool must exit normally and print one JSON document (returned). */
json_t *tf_run_json(const tf_fixture *fx, tf_run_result *r, char *const *extra, int n_extra);

/* The element of root's "tensors" array whose "name" is `name`; must exist. */
json_t *tf_tensor_json(json_t *root, const char *name);
/* 1 if the JSON array holds the string s. */
int tf_json_has(const json_t *arr, const char *s);

#endif
