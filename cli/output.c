/* cli/output.c — see output.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "common/outfile.h"
#include "output.h"

struct cli_output {
    qtf__outfile file;
};

qtf_status cli_output_open(cli_output **out, const char *path, int force,
                           const char *const *inputs, size_t n_inputs) {
    *out = NULL;
    cli_output *o = malloc(sizeof *o);
    if (!o) return qtf__error(QTF_E_NOMEM, "%s: out of memory", path);
    qtf_status st = qtf__outfile_open(&o->file, path, force ? QTF__OUT_REPLACE : 0, inputs,
                                      n_inputs);
    if (st) {
        free(o);
        return st;
    }
    *out = o;
    return QTF_OK;
}

qtf_status cli_output_write(cli_output *o, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(o->file.fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return qtf__error(QTF_E_IO, "%s: write failed: %s", o->file.path, strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    return QTF_OK;
}

qtf_status cli_output_commit(cli_output *o) {
    qtf_status st = qtf__outfile_commit(&o->file);
    free(o);
    return st;
}

qtf_status cli_write_file(const char *path, const void *data, size_t len, int force,
                          const char *const *inputs, size_t n_inputs) {
    cli_output *o;
    qtf_status st = cli_output_open(&o, path, force, inputs, n_inputs);
    if (st) return st;
    st = cli_output_write(o, data, len);
    if (st) {
        cli_output_abort(o);
        return st;
    }
    return cli_output_commit(o);
}

void cli_output_abort(cli_output *o) {
    if (!o) return;
    qtf__outfile_abort(&o->file);
    free(o);
}
