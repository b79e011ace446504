/* transfer.c — `init from(FILE) { ... }`: a training run that starts from
 * another checkpoint's tensors.
 *
 * The compiler resolved the map (which parameter starts from which tensor
 * of the file, which are frozen, which are fresh) and checked it against
 * the file's header; the file may have changed since, so everything is
 * checked again here, before any byte moves (rt_checkpoint_load refuses a
 * missing tensor or a shape that differs, naming it). The run prints what
 * it loaded, froze and initialised afresh, and what in the file it left
 * unused: nothing is re-initialised or ignored without a word.
 */
#include "netrt.h"
#include "train_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void format_param(const rt_param_desc *d, char *buf, size_t len)
{
    rt_format_type(RT_F32, d->dims, d->rank, buf, len);
}

int rt_init_from(const char *prog, const rt_program *p, const char *path, float *params, FILE *report)
{
    int n = 0;
    for (int i = 0; i < p->nparams; i++)
        n += p->params[i].init_from != NULL;
    rt_named_tensor *t = calloc((size_t)(n ? n : 1), sizeof *t);
    if (!t) {
        rt_report(prog, "out of memory");
        return RC_INPUT;
    }
    int k = 0;
    for (int i = 0; i < p->nparams; i++) {
        const rt_param_desc *d = &p->params[i];
        if (!d->init_from)
            continue;
        t[k] = (rt_named_tensor){ .name = d->init_from, .dtype = RT_F32, .rank = d->rank,
                                  .data = params + d->offset };
        memcpy(t[k].dims, d->dims, sizeof d->dims);
        k++;
    }
    char err[ERRLEN];
    rt_tensor_info *list = NULL;
    int nlist = 0;
    int rc = RC_OK;
    if (rt_checkpoint_load(path, t, n, true, NULL, 0, NULL, err, sizeof err) != 0 ||
        rt_checkpoint_list(path, &list, &nlist, err, sizeof err) != 0) {
        rt_report(prog, "init from %s", err);
        rc = RC_INPUT;
    }
    free(t);
    if (rc != RC_OK || !report)
        goto done;

    int frozen = 0, unused = 0;
    for (int i = 0; i < p->nparams; i++)
        frozen += p->params[i].frozen;
    for (int j = 0; j < nlist; j++) {
        bool used = false;
        for (int i = 0; i < p->nparams && !used; i++)
            used = p->params[i].init_from && !strcmp(p->params[i].init_from, list[j].name);
        unused += !used;
    }
    fprintf(report, "init from %s: %d tensor%s loaded (%d frozen), %d fresh, %d in the file unused\n", path, n,
            n == 1 ? "" : "s", frozen, p->nparams - n, unused);
    char type[128];
    for (int i = 0; i < p->nparams; i++) {
        const rt_param_desc *d = &p->params[i];
        format_param(d, type, sizeof type);
        if (d->init_from)
            fprintf(report, "  loaded  %s <- %s  %s%s\n", d->name, d->init_from, type, d->frozen ? "  frozen" : "");
        else
            fprintf(report, "  fresh   %s  %s  %s\n", d->name, type, rt_init_name(d->init));
    }
    int state = 0;
    for (int j = 0; j < nlist; j++) {
        bool used = false;
        for (int i = 0; i < p->nparams && !used; i++)
            used = p->params[i].init_from && !strcmp(p->params[i].init_from, list[j].name);
        if (used)
            continue;
        if (!strncmp(list[j].name, "optimizer.", 10)) {
            state++;
            continue;
        }
        int m = snprintf(type, sizeof type, "%s", list[j].dtype);
        for (int c = 0; c < m && (size_t)c < sizeof type; c++)
            type[c] = (char)(type[c] >= 'A' && type[c] <= 'Z' ? type[c] + 32 : type[c]);
        for (int d = 0; d < list[j].rank && m > 0 && (size_t)m < sizeof type; d++)
            m += snprintf(type + m, sizeof type - (size_t)m, "%s%lld%s", d ? ", " : "[", (long long)list[j].dims[d],
                          d == list[j].rank - 1 ? "]" : "");
        fprintf(report, "  unused  %s  %s\n", list[j].name, type);
    }
    if (state)
        fprintf(report, "  unused  %d optimizer-state tensors (optimizer.*)\n", state);
    fflush(report);
done:
    rt_checkpoint_list_free(list, nlist);
    return rc;
}
