/* record.c — a training run's reproducibility record: LOG.json beside the
 * CSV log LOG (`--log train.csv` writes train.csv.json), one JSON object
 * with what is needed to run it again: netc's version, the .net file and
 * its SHA-256, the whole command line, the seed, batch, epochs or steps,
 * the data files as found, the threads and the kernels' instruction-set
 * path; and, as the run goes, how far it got and its best evaluation.
 * Written atomically at the start and rewritten at the end. */
#include "train_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef NETC_VERSION
#define NETC_VERSION "unknown"
#endif

static json_t *string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

int rt_run_record_write(const char *log_path, const rt_run_record *rec, char *err, size_t errlen)
{
    const rt_program *p = rec->p;
    json_t *o = json_object(), *cmd = json_array(), *data = json_object();
    int bad = !o || !cmd || !data;
    for (int i = 0; !bad && i < rec->argc; i++)
        bad |= json_array_append_new(cmd, json_string(rec->argv[i]));
    char seed[24], started[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)rec->seed);
    time_t now = rec->started;
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", &tm);
    else
        snprintf(started, sizeof started, "?");
    if (!bad) {
        bad |= json_object_set_new(o, "netc", json_string(NETC_VERSION));
        bad |= json_object_set_new(o, "model", json_string(p->name));
        bad |= json_object_set_new(o, "source", string_or_null(p->source));
        bad |= json_object_set_new(o, "source_sha256", string_or_null(p->source_sha256));
        bad |= json_object_set_new(o, "command", cmd);
        cmd = NULL;
        bad |= json_object_set_new(o, "started", json_string(started));
        /* a string: JSON numbers lose seeds above 2^53 in many readers */
        bad |= json_object_set_new(o, "seed", json_string(seed));
        bad |= json_object_set_new(o, "batch", json_integer(rec->batch));
        if (rec->epochs > 0)
            bad |= json_object_set_new(o, "epochs", json_integer(rec->epochs));
        else
            bad |= json_object_set_new(o, "steps", json_integer(rec->steps));
        bad |= json_object_set_new(data, "train", string_or_null(rec->data));
        bad |= json_object_set_new(data, "test", string_or_null(rec->test));
        bad |= json_object_set_new(data, "val", string_or_null(rec->val));
        if (rec->val_fraction > 0) {
            /* the float the train block gave, without its binary tail */
            char f[32];
            snprintf(f, sizeof f, "%.6g", rec->val_fraction);
            bad |= json_object_set_new(data, "val_fraction", json_real(strtod(f, NULL)));
        }
        bad |= json_object_set_new(data, "train_samples", json_integer(rec->train_samples));
        bad |= json_object_set_new(data, "val_samples", json_integer(rec->val_samples));
        bad |= json_object_set_new(o, "data", data);
        data = NULL;
        bad |= json_object_set_new(o, "threads", json_integer(rt_threads_count()));
        bad |= json_object_set_new(o, "isa", json_string(rt_isa_name(rt_isa_current())));
        bad |= json_object_set_new(o, "status", json_string(rec->status));
        bad |= json_object_set_new(o, "step", json_integer(rec->step));
        const rt_early_stop *e = rec->best;
        if (e && e->best_eval > 0) {
            json_t *b = json_object();
            bad |= !b;
            if (b) {
                bad |= json_object_set_new(b, "evaluation", json_integer(e->best_eval));
                bad |= json_object_set_new(b, "of", json_integer(e->evals));
                bad |= json_object_set_new(b, "step", json_integer(e->best_step));
                bad |= json_object_set_new(b, "epoch", json_integer(e->best_epoch));
                bad |= json_object_set_new(b, rec->monitor, json_real(e->best));
                bad |= json_object_set_new(b, "checkpoint", string_or_null(rec->save_best));
                bad |= json_object_set_new(o, "best", b);
            }
        }
    }
    json_decref(cmd);
    json_decref(data);
    char *text = bad ? NULL : json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    if (!text) {
        snprintf(err, errlen, "%s.json: out of memory", log_path);
        return -1;
    }
    size_t len = strlen(text);
    char path[PATHLEN];
    snprintf(path, sizeof path, "%s.json", log_path);
    text[len] = '\n'; /* json_dumps's NUL becomes the last line's end */
    int rc = rt_write_file_atomic(path, text, len + 1, err, errlen);
    free(text);
    return rc;
}
