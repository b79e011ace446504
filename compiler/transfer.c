/* transfer.c — `init from(FILE) { ... }` in a train block: which of the
 * model's parameters start from which tensor of another checkpoint, which
 * of them are frozen, which start fresh.
 *
 * Requires: sema's graph of the model (its parameters and their shapes).
 * Produces: Param.init_from and Param.frozen; a frozen parameter is made
 * not trainable, so autodiff emits no gradient for it, the layout puts it
 * after the trained span (no optimizer state), and the runtime's optimizer
 * never touches it. Reads the checkpoint's header (never its data) to check
 * every mapped name and shape at compile time; the runtime checks again
 * when it loads (runtime/transfer.c).
 *
 *   init from("lenet.safetensors") {
 *       conv1.* <- conv1.*       # a glob: each * captures, in order
 *       trunk <- features        # no *: the name itself or anything under it
 *       freeze conv1, conv2      # same patterns, over the model's names
 *       fresh head               # start from the layer's own initialisation
 *   }
 *
 * Every parameter must be either loaded or declared fresh: nothing starts
 * from random values without being asked to.
 */
#include "compiler.h"
#include "netrt.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STARS 8

/* Matches name against pattern, where each '*' matches any run of
 * characters (dots included); the runs go to caps[] (pointer, length). */
static bool glob_match(const char *pat, const char *name, const char **caps, size_t *lens, int k)
{
    for (;; pat++, name++) {
        if (*pat == '*') {
            /* shortest first, so that `a.*.b` binds its star to one segment when it can */
            for (size_t n = 0;; n++) {
                caps[k] = name;
                lens[k] = n;
                if (glob_match(pat + 1, name + n, caps, lens, k + 1))
                    return true;
                if (!name[n])
                    return false;
            }
        }
        if (*pat != *name)
            return false;
        if (!*pat)
            return true;
    }
}

static int count_stars(const char *p)
{
    int n = 0;
    for (; *p; p++)
        n += *p == '*';
    return n;
}

static const char *pattern_text(const Ast *a)
{
    return a->kind == AST_STRING ? a->str : a->name;
}

/* A pattern with no '*' names a parameter or a layer: `conv1` matches
 * conv1 and conv1.<anything>. Returns the pattern as a glob and whether
 * it was widened that way. */
static const char *as_glob(Compiler *c, const char *pat, bool *widened)
{
    *widened = !strchr(pat, '*');
    return *widened ? arena_printf(c->arena, "%s*", pat) : pat;
}

/* name matches a widened pattern P* only as P itself or P.<rest>. */
static bool widened_ok(const char *pat, const char *name)
{
    size_t n = strlen(pat) - 1;
    return name[n] == '\0' || name[n] == '.';
}

static bool pattern_matches(Compiler *c, const char *pat, const char *name)
{
    bool widened;
    const char *g = as_glob(c, pat, &widened);
    const char *caps[MAX_STARS + 1];
    size_t lens[MAX_STARS + 1];
    return count_stars(g) <= MAX_STARS && glob_match(g, name, caps, lens, 0) && (!widened || widened_ok(g, name));
}

/* The source name for dst under `dst_pat <- src_pat`, or NULL if dst_pat
 * does not match. */
static const char *map_name(Compiler *c, const char *dst_pat, const char *src_pat, const char *name)
{
    bool wd, ws;
    const char *gd = as_glob(c, dst_pat, &wd), *gs = as_glob(c, src_pat, &ws);
    const char *caps[MAX_STARS + 1];
    size_t lens[MAX_STARS + 1];
    if (!glob_match(gd, name, caps, lens, 0) || (wd && !widened_ok(gd, name)))
        return NULL;
    size_t len = strlen(gs) + 1;
    for (int k = 0; k < count_stars(gd); k++)
        len += lens[k];
    char *out = arena_alloc(c->arena, len), *o = out;
    int k = 0;
    for (const char *s = gs; *s; s++) {
        if (*s == '*') {
            memcpy(o, caps[k], lens[k]);
            o += lens[k++];
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

static const char *shape_text(Compiler *c, const rt_tensor_info *t)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%s", t->dtype);
    for (int i = 0; i < n; i++)
        buf[i] = (char)(buf[i] >= 'A' && buf[i] <= 'Z' ? buf[i] + 32 : buf[i]);
    for (int d = 0; d < t->rank && n > 0 && (size_t)n < sizeof buf; d++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s%lld%s", d ? ", " : "[", (long long)t->dims[d],
                      d == t->rank - 1 ? "]" : "");
    return arena_strdup(c->arena, buf);
}

static bool same_shape(const rt_tensor_info *t, const Shape *s)
{
    if (strcmp(t->dtype, "F32") || t->rank != s->rank)
        return false;
    for (int d = 0; d < s->rank; d++)
        if (t->dims[d] != s->dim[d])
            return false;
    return true;
}

/* "a, b, c and 4 more" of the names where pick[i], at most four shown. */
static const char *name_list(Compiler *c, const char *const *names, const bool *pick, int n)
{
    const char *out = "";
    int shown = 0, total = 0;
    for (int i = 0; i < n; i++)
        total += pick[i];
    for (int i = 0; i < n; i++) {
        if (!pick[i])
            continue;
        if (shown == 4) {
            out = arena_printf(c->arena, "%s and %d more", out, total - 4);
            break;
        }
        out = arena_printf(c->arena, "%s%s%s", out, shown ? (shown == total - 1 ? " and " : ", ") : "", names[i]);
        shown++;
    }
    return out;
}

/* Reads the header of the checkpoint into spec; false after an error. A
 * file not found is a warning: it may be written by a run still to come,
 * and the runtime checks the map again when it loads. */
static bool read_header(Compiler *c, InitSpec *is)
{
    char path[PATH_MAX];
    if (rt_data_resolve(is->path, backend_source_dir(c), path, sizeof path) != 0) {
        diag_warning(&c->diag, is->from_span,
                     "checkpoint '%s' not found (next to the .net file, in $NETC_DATA_PATH or /usr/share/datasets); "
                     "its names and shapes are checked when training starts",
                     is->path);
        return true;
    }
    rt_tensor_info *list;
    int n;
    char err[1024];
    if (rt_checkpoint_list(path, &list, &n, err, sizeof err) != 0) {
        diag_error(&c->diag, is->from_span, "cannot read the checkpoint: %s", err);
        return false;
    }
    is->resolved = arena_strdup(c->arena, path);
    is->ntensors = n;
    is->tensors = arena_alloc(c->arena, sizeof *is->tensors * (size_t)(n + 1));
    is->tnames = arena_alloc(c->arena, sizeof *is->tnames * (size_t)(n + 1));
    is->tused = arena_alloc(c->arena, sizeof *is->tused * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        is->tensors[i] = list[i];
        is->tensors[i].name = arena_strdup(c->arena, list[i].name);
        is->tnames[i] = is->tensors[i].name;
    }
    rt_checkpoint_list_free(list, n);
    return true;
}

static int find_tensor(const InitSpec *is, const char *name)
{
    for (int i = 0; i < is->ntensors; i++)
        if (!strcmp(is->tnames[i], name))
            return i;
    return -1;
}

/* One `dst <- src` rule over every parameter of the model. */
static void map_rule(Compiler *c, InitSpec *is, const Graph *m, const Ast *rule, const Ast **mapped_by)
{
    Program *p = c->prog;
    const char *dst = pattern_text(rule->lhs), *src = pattern_text(rule->rhs);
    int sd = count_stars(dst), ss = count_stars(src);
    if (sd != ss || sd > MAX_STARS) {
        diag_error(&c->diag, rule->span,
                   sd > MAX_STARS ? "a pattern may hold at most 8 '*'"
                                  : "'%s' has %d '*' but '%s' has %d; each '*' of the model's side goes to one on the file's side",
                   dst, sd, src, ss);
        return;
    }
    int matched = 0;
    for (int k = 0; k < m->nparams; k++) {
        uint32_t pi = m->params[k];
        Param *prm = &p->params[pi];
        const char *from = map_name(c, dst, src, prm->name);
        if (!from)
            continue;
        matched++;
        if (mapped_by[pi]) {
            diag_error(&c->diag, rule->span, "'%s' is already mapped", prm->name);
            diag_note(&c->diag, mapped_by[pi]->span, "by this rule");
            continue;
        }
        mapped_by[pi] = rule;
        prm->init_from = from;
        if (!is->resolved)
            continue;
        int t = find_tensor(is, from);
        if (t < 0) {
            const char *hint = diag_suggest(from, is->tnames, is->ntensors);
            diag_error(&c->diag, rule->span, "%s has no tensor '%s' (for %s)%s%s%s", is->path, from, prm->name,
                       hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
            continue;
        }
        is->tused[t] = true;
        if (!same_shape(&is->tensors[t], &prm->shape))
            diag_error(&c->diag, rule->span, "%s is %s in model %s but %s in %s is %s", prm->name,
                       ir_type_str(c, DT_F32, &prm->shape), m->name, from, is->path,
                       shape_text(c, &is->tensors[t]));
    }
    if (!matched) {
        const char **names = arena_alloc(c->arena, sizeof *names * (size_t)(m->nparams + 1));
        for (int k = 0; k < m->nparams; k++)
            names[k] = p->params[m->params[k]].name;
        const char *hint = diag_suggest(dst, names, m->nparams);
        diag_error(&c->diag, rule->lhs->span, "'%s' matches no parameter of model %s%s%s%s", dst, m->name,
                   hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
    }
}

/* `freeze P, ...` or `fresh P, ...`: sets mark[pi] for every match. */
static void mark_rule(Compiler *c, const Graph *m, const Ast *item, bool *mark, const Ast **marked_by)
{
    Program *p = c->prog;
    for (int i = 0; i < item->lhs->list.count; i++) {
        const Ast *pat = item->lhs->list.items[i];
        const char *text = pattern_text(pat);
        int matched = 0;
        for (int k = 0; k < m->nparams; k++) {
            uint32_t pi = m->params[k];
            if (!pattern_matches(c, text, p->params[pi].name))
                continue;
            matched++;
            mark[pi] = true;
            marked_by[pi] = pat;
        }
        if (!matched)
            diag_error(&c->diag, pat->span, "'%s' matches no parameter of model %s", text, m->name);
    }
}

/* A batchnorm's running statistics (its non-trained parameters). */
static bool is_running_statistic(const Param *prm)
{
    return !prm->trainable;
}

void transfer_spec(Compiler *c, TrainSpec *ts, const Ast *item, int model)
{
    Program *p = c->prog;
    Diag *d = &c->diag;
    const Ast *src = item->lhs;
    if (src->kind != AST_CALL || strcmp(src->name, "from") || src->list.count != 1 ||
        src->list.items[0]->kind != AST_STRING) {
        diag_error(d, src->span, "init takes a checkpoint: init from(\"lenet.safetensors\") { conv1.* <- conv1.*; fresh fc2 }");
        return;
    }
    InitSpec *is = arena_alloc(c->arena, sizeof *is);
    is->path = src->list.items[0]->str;
    is->span = item->span;
    is->from_span = src->span;
    is->model = model;
    if (!read_header(c, is))
        return;
    const Graph *m = &p->graphs[model];
    size_t np = (size_t)p->nparams + 1;
    const Ast **mapped_by = arena_alloc(c->arena, sizeof *mapped_by * np);
    const Ast **frozen_by = arena_alloc(c->arena, sizeof *frozen_by * np);
    const Ast **fresh_by = arena_alloc(c->arena, sizeof *fresh_by * np);
    bool *frozen = arena_alloc(c->arena, sizeof *frozen * np);
    bool *fresh = arena_alloc(c->arena, sizeof *fresh * np);
    for (int i = 0; i < item->body.count; i++) {
        const Ast *it = item->body.items[i];
        if (it->kind == AST_MAP)
            map_rule(c, is, m, it, mapped_by);
        else if (!strcmp(it->name, "freeze"))
            mark_rule(c, m, it, frozen, frozen_by);
        else if (!strcmp(it->name, "fresh"))
            mark_rule(c, m, it, fresh, fresh_by);
        else
            diag_error(d, it->name_span,
                       "unknown item '%s' in an init block; it holds maps (conv1.* <- conv1.*), freeze NAMES and fresh NAMES",
                       it->name);
    }
    const char **names = arena_alloc(c->arena, sizeof *names * (size_t)(m->nparams + 1));
    bool *neither = arena_alloc(c->arena, sizeof *neither * (size_t)(m->nparams + 1));
    int nneither = 0;
    for (int k = 0; k < m->nparams; k++) {
        uint32_t pi = m->params[k];
        Param *prm = &p->params[pi];
        names[k] = prm->name;
        if (mapped_by[pi] && fresh[pi]) {
            diag_error(d, fresh_by[pi]->span, "'%s' is loaded by a map and declared fresh; keep one", prm->name);
            diag_note(d, mapped_by[pi]->span, "loaded here");
        }
        if (frozen[pi] && !mapped_by[pi])
            diag_error(d, frozen_by[pi]->span,
                       "'%s' is frozen but not loaded: it would stay at its %s initial values; map it from the checkpoint",
                       prm->name, is_running_statistic(prm) ? "default" : "random");
        /* A frozen batchnorm normalises with its running statistics, as
         * in eval mode: its weight and bias are frozen with them. */
        const char *dot = strrchr(prm->name, '.');
        size_t layer = dot ? (size_t)(dot - prm->name) : 0;
        for (int j = 0; frozen[pi] && is_running_statistic(prm) && layer && j < m->nparams; j++) {
            const Param *o = &p->params[m->params[j]];
            if (!frozen[m->params[j]] && !strncmp(o->name, prm->name, layer) && o->name[layer] == '.') {
                diag_error(d, frozen_by[pi]->span,
                           "'%s' is frozen but '%s' is not: a frozen batchnorm normalises with its running statistics "
                           "and keeps its weight and bias as loaded; freeze %.*s whole",
                           prm->name, o->name, (int)layer, prm->name);
                break;
            }
        }
        neither[k] = !mapped_by[pi] && !fresh[pi];
        nneither += neither[k];
    }
    if (nneither) {
        const char *first = NULL;
        for (int k = 0; k < m->nparams && !first; k++)
            if (neither[k])
                first = names[k];
        const char *dot = strrchr(first, '.');
        diag_error(d, item->name_span, "%s %s neither loaded nor declared fresh; map %s or add 'fresh %.*s'",
                   name_list(c, names, neither, m->nparams), nneither == 1 ? "is" : "are", nneither == 1 ? "it" : "them",
                   (int)(dot ? (size_t)(dot - first) : strlen(first)), first);
    }
    if (d->errors)
        return;
    for (int k = 0; k < m->nparams; k++) {
        uint32_t pi = m->params[k];
        if (frozen[pi]) {
            p->params[pi].frozen = true;
            p->params[pi].trainable = false;
        }
    }
    bool any_trainable = false;
    for (int k = 0; k < m->nparams; k++)
        any_trainable |= p->params[m->params[k]].trainable;
    if (m->nparams > 0 && !any_trainable) {
        diag_error(d, item->name_span, "every parameter of model '%s' is frozen, so training would change nothing; "
                   "leave a layer out of 'freeze' to fine-tune it", m->name);
        return;
    }
    ts->init = is;
}

/* 1234567 -> "1,234,567" */
static const char *grouped(Compiler *c, int64_t v)
{
    char tmp[32], buf[48];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v), k = 0;
    for (int i = 0; i < n; i++) {
        buf[k++] = tmp[i];
        if ((n - i - 1) % 3 == 0 && i != n - 1)
            buf[k++] = ',';
    }
    buf[k] = '\0';
    return arena_strdup(c->arena, buf);
}

/* Training FLOPs per sample of the step's graph. */
static int64_t step_flops(Compiler *c, const TrainSpec *ts)
{
    TrainGraph tg;
    if (!autodiff_build(c, ts, 0, &tg))
        return -1;
    int64_t total = 0;
    for (uint32_t i = 0; i < tg.g->nnodes; i++) {
        const Node *n = &tg.g->nodes[i];
        if (n->op != OP_param && n->op != OP_input)
            total += summary_node_flops(c->prog, tg.g, n);
    }
    return total;
}

void transfer_report(FILE *out, Compiler *c, const char *model)
{
    Program *p = c->prog;
    const TrainSpec *ts = NULL;
    for (int i = 0; i < p->ntrains; i++)
        if (p->trains[i].init && !strcmp(p->graphs[p->trains[i].init->model].name, model))
            ts = &p->trains[i];
    if (!ts)
        return;
    const InitSpec *is = ts->init;
    const Graph *m = &p->graphs[is->model];
    int loaded = 0, frozen = 0, fresh = 0, unused = 0;
    for (int k = 0; k < m->nparams; k++) {
        const Param *prm = &p->params[m->params[k]];
        loaded += prm->init_from != NULL;
        frozen += prm->frozen;
        fresh += prm->init_from == NULL;
    }
    for (int i = 0; i < is->ntensors; i++)
        unused += !is->tused[i];
    fprintf(out, "  init from %s: %d loaded (%d frozen), %d fresh", is->path, loaded, frozen, fresh);
    if (is->resolved)
        fprintf(out, ", %d in the file unused\n", unused);
    else
        fputs(" (file not found: not checked)\n", out);
    for (int k = 0; k < m->nparams; k++) {
        const Param *prm = &p->params[m->params[k]];
        const char *type = ir_type_str(c, DT_F32, &prm->shape);
        if (prm->init_from)
            fprintf(out, "    loaded  %s <- %s  %s%s\n", prm->name, prm->init_from, type, prm->frozen ? "  frozen" : "");
        else
            fprintf(out, "    fresh   %s  %s\n", prm->name, type);
    }
    /* A netc checkpoint also holds the optimizer's state: counted, not listed. */
    int state = 0;
    for (int i = 0; i < is->ntensors; i++) {
        if (is->tused[i])
            continue;
        if (!strncmp(is->tnames[i], "optimizer.", 10))
            state++;
        else
            fprintf(out, "    unused  %s  %s\n", is->tnames[i], shape_text(c, &is->tensors[i]));
    }
    if (state)
        fprintf(out, "    unused  %d optimizer-state tensors (optimizer.*)\n", state);
    if (!ts->nsteps || !frozen)
        return;
    /* What freezing saves: the same step with every parameter trained. */
    int64_t with = step_flops(c, ts);
    for (int k = 0; k < m->nparams; k++) {
        Param *prm = &p->params[m->params[k]];
        if (prm->frozen)
            prm->trainable = true;
    }
    int64_t without = step_flops(c, ts);
    for (int k = 0; k < m->nparams; k++) {
        Param *prm = &p->params[m->params[k]];
        if (prm->frozen)
            prm->trainable = false;
    }
    if (with >= 0 && without > 0)
        fprintf(out, "  training step: %s FLOPs per sample with %d tensors frozen, %s with none (%.0f%%)\n",
                grouped(c, with), frozen, grouped(c, without), 100.0 * (double)with / (double)without);
}
