/* cli/output.h — output files of the tools (cli/output.c), by the one
 * mechanism of common/outfile.h: the content goes to a temp file in the
 * destination directory and takes the name only when complete; an existing
 * file is replaced only with `force` (the tools' --force); an input of the
 * run (same device and inode, whatever path names it) never, even with
 * force; an existing character device or FIFO is written through and never
 * unlinked. Not installed. */
#ifndef QTF_CLI_OUTPUT_H
#define QTF_CLI_OUTPUT_H

#include <stddef.h>

#include "qtf.h"

typedef struct cli_output cli_output;

/* Opens early, so that a refused destination is reported before any work.
 * Errors carry qtf_error_detail(). */
qtf_status cli_output_open(cli_output **out, const char *path, int force,
                           const char *const *inputs, size_t n_inputs);
qtf_status cli_output_write(cli_output *o, const void *data, size_t len);
/* Publishes the file; frees o whatever the outcome. */
qtf_status cli_output_commit(cli_output *o);
/* Removes the temp file and frees; NULL is a no-op. */
void cli_output_abort(cli_output *o);

/* open + write + commit of a whole small file. */
qtf_status cli_write_file(const char *path, const void *data, size_t len, int force,
                          const char *const *inputs, size_t n_inputs);

#endif
