/* lib/edit.h — the in-place metadata edit (lib/edit.c), used by the writer's
 * qtf_writer_finish for a writer made by qtf_writer_create_edit with
 * QTF_WRITER_IN_PLACE. Not installed. */
#ifndef QTF_LIB_EDIT_H
#define QTF_LIB_EDIT_H

#include "container.h"

/* What an in-place edit needs to know about the file it edits: the file as
 * the caller opened it (its sections and header checksum, to prove at finish
 * that the file is still that one) and the progress callback. */
typedef struct qtf__edit_target {
    char *path;                 /* the file edited (owned) */
    qtf_file_info src;          /* the source as opened */
    void (*on_step)(void *ctx, int step);
    void *step_ctx;
} qtf__edit_target;

/* Replaces the metadata of t->path by `meta` (meta_count entries) followed
 * by `dir` (the file's own directory, unchanged), in the seven steps of
 * spec/FORMAT.md section 13.1. Returns:
 *   QTF_OK                 the file holds the new metadata, canonical layout;
 *   QTF_E_UNSUPPORTED      in place not possible (not writable, no lease:
 *                          another process has it open, or the file is not
 *                          the one opened); NOTHING was written, the detail
 *                          reads "PATH: in place not possible: REASON";
 *   QTF_E_NOMEM, QTF_E_IO  the detail says whether the file is unchanged or
 *                          holds the new metadata with the EDITING flag. */
qtf_status qtf__edit_in_place(const qtf__edit_target *t, const unsigned char *meta,
                              uint64_t meta_len, uint64_t meta_count, const unsigned char *dir,
                              uint64_t dir_len);

#endif /* QTF_LIB_EDIT_H */
