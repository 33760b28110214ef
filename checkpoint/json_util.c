/* checkpoint/json_util.c — the index file of sharded checkpoints
 * (model.safetensors.index.json, pytorch_model.bin.index.json). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "source_internal.h"

qtf_status qtf__check_shard_name(const char *index_path, const char *tensor, const char *name) {
    char esc[QTF__ESC_CAP], tesc[QTF__ESC_CAP];
    size_t len = strlen(name);
    const char *why = NULL;
    if (len == 0)
        why = "is empty";
    else if (strchr(name, '/') || strchr(name, '\\'))
        why = "contains a path separator";
    else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        why = "is a directory reference";
    else if (strstr(name, ".."))
        why = "contains \"..\"";
    if (!why) return QTF_OK;
    return qtf__error(QTF_E_VALUE,
                      "%s: weight_map['%s']: shard name '%s' %s (expected a plain file name "
                      "in the index's directory)",
                      index_path, qtf__escape(tesc, sizeof tesc, tensor, strlen(tensor)),
                      qtf__escape(esc, sizeof esc, name, len), why);
}

void qtf__shard_index_free(qtf__shard_index *ix) {
    if (!ix) return;
    for (uint64_t i = 0; i < ix->n; i++) free(ix->tensor[i]);
    for (uint32_t i = 0; i < ix->n_shards; i++) free(ix->shards[i]);
    free(ix->tensor);
    free(ix->shard);
    free(ix->shards);
    memset(ix, 0, sizeof *ix);
}

typedef struct pair {
    const char *tensor;
    const char *shard;
} pair;

static int cmp_pair_tensor(const void *a, const void *b) {
    return strcmp(((const pair *)a)->tensor, ((const pair *)b)->tensor);
}
static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static uint32_t find_shard(char *const *shards, uint32_t n, const char *name) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(shards[mid], name);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return UINT32_MAX;
}

qtf_status qtf__shard_index_parse(qtf__shard_index *out, const char *path, const char *text,
                                  size_t len) {
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return qtf__error(QTF_E_PARSE, "%s: invalid JSON at line %d column %d (byte %d): %s",
                          path, jerr.line, jerr.column, jerr.position, jerr.text);
    qtf_status st = QTF_OK;
    pair *pairs = NULL;
    const char **names = NULL;
    json_t *map = NULL;
    if (!json_is_object(root)) {
        st = qtf__error(QTF_E_PARSE, "%s: expected a JSON object at the top level", path);
        goto done;
    }
    json_t *meta = json_object_get(root, "metadata");
    if (meta && !json_is_object(meta) && !json_is_null(meta)) {
        st = qtf__error(QTF_E_TYPE, "%s: \"metadata\" must be an object", path);
        goto done;
    }
    map = json_object_get(root, "weight_map");
    if (!map || !json_is_object(map)) {
        st = qtf__error(QTF_E_PARSE, "%s: expected a \"weight_map\" object (tensor name -> "
                        "shard file)", path);
        goto done;
    }
    size_t n = json_object_size(map);
    if (n == 0) {
        st = qtf__error(QTF_E_VALUE, "%s: \"weight_map\" lists no tensors", path);
        goto done;
    }
    if (n > QTF_MAX_TENSORS) {
        st = qtf__error(QTF_E_LIMIT, "%s: weight_map has %zu tensors (limit %u)", path, n,
                        (unsigned)QTF_MAX_TENSORS);
        goto done;
    }
    pairs = calloc(n, sizeof *pairs);
    names = calloc(n, sizeof *names);
    if (!pairs || !names) {
        st = qtf__error(QTF_E_NOMEM, "%s: out of memory for %zu index entries", path, n);
        goto done;
    }
    size_t k = 0;
    const char *key;
    json_t *val;
    json_object_foreach(map, key, val) {
        char esc[QTF__ESC_CAP];
        if (!json_is_string(val)) {
            st = qtf__error(QTF_E_TYPE, "%s: weight_map['%s'] must be a string (a shard file "
                            "name)", path, qtf__escape(esc, sizeof esc, key, strlen(key)));
            goto done;
        }
        if (key[0] == '\0') {
            st = qtf__error(QTF_E_UTF8, "%s: weight_map has an empty tensor name", path);
            goto done;
        }
        const char *shard = json_string_value(val);
        if (strlen(shard) != json_string_length(val)) {
            st = qtf__error(QTF_E_UTF8, "%s: weight_map['%s']: shard name contains NUL", path,
                            qtf__escape(esc, sizeof esc, key, strlen(key)));
            goto done;
        }
        st = qtf__check_shard_name(path, key, shard);
        if (st) goto done;
        pairs[k].tensor = key;
        pairs[k].shard = shard;
        names[k] = shard;
        k++;
    }
    qsort(pairs, n, sizeof *pairs, cmp_pair_tensor);
    qsort(names, n, sizeof *names, cmp_str_ptr);
    uint32_t n_shards = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0) names[n_shards++] = names[i];
    out->shards = calloc(n_shards, sizeof *out->shards);
    out->tensor = calloc(n, sizeof *out->tensor);
    out->shard = calloc(n, sizeof *out->shard);
    if (!out->shards || !out->tensor || !out->shard) {
        st = qtf__error(QTF_E_NOMEM, "%s: out of memory for %zu index entries", path, n);
        goto done;
    }
    for (uint32_t i = 0; i < n_shards; i++) {
        out->shards[i] = strdup(names[i]);
        if (!out->shards[i]) {
            st = qtf__error(QTF_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        out->n_shards = i + 1;
    }
    for (size_t i = 0; i < n; i++) {
        out->tensor[i] = strdup(pairs[i].tensor);
        if (!out->tensor[i]) {
            st = qtf__error(QTF_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        out->n = i + 1;
        out->shard[i] = find_shard(out->shards, n_shards, pairs[i].shard);
    }
done:
    free(pairs);
    free(names);
    json_decref(root);
    if (st) qtf__shard_index_free(out);
    return st;
}

qtf_status qtf__shard_index_load(qtf__shard_index *out, const char *path) {
    char *text;
    size_t len;
    memset(out, 0, sizeof *out);
    qtf_status st = qtf__read_small_file(&text, &len, path, QTF__INDEX_MAX_SIZE);
    if (st) return st;
    st = qtf__shard_index_parse(out, path, text, len);
    free(text);
    return st;
}
