/* textgen.c — text generation: rt_generator (a model's step function with
 * its state, one token at a time) and the `sample` command of rt_main for
 * language models (sample.c draws pictures from generators).
 *
 * Each token costs one call of the step function, which carries the
 * recurrent layers' state and attention's key/value cache (generate.c), so
 * generating n tokens costs n positions of work, not n windows.
 *
 * When the context fills. A model with attention or learned positions
 * (step_context > 0) cannot see more than step_context positions. When the
 * next token would be position step_context, the generator slides: it
 * starts afresh from position 0 with the last step_context / 2 tokens
 * (fed again, which rebuilds the cache for them) and continues. Sliding by
 * half the window rather than by one token keeps the average cost per
 * token at about one extra position instead of a whole window's. A purely
 * recurrent model has no bound: its state carries on for as long as it
 * generates.
 */
#include "netrt.h"
#include "train_internal.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rt_generator {
    const rt_program *p;
    rt_step_fn step;  /* p's, compiled by now */
    const float *params;
    float *block;     /* one allocation: logits, history, then the arena */
    float *arena, *logits;
    int32_t *history; /* the last tokens fed, oldest first (bounded models) */
    int64_t pos, held;
};

bool rt_program_has_step(const rt_program *p)
{
    return p->step || p->compile_step;
}

rt_step_fn rt_program_step(const rt_program *p)
{
    return p->step ? p->step : p->compile_step ? p->compile_step(p) : NULL;
}

rt_generator *rt_generator_new(const rt_program *p, const float *params, char *err, size_t errlen)
{
    if (!rt_program_has_step(p)) {
        snprintf(err, errlen, "model '%s' cannot generate one token at a time: %s", p->name,
                 p->step_missing ? p->step_missing : "it has no step function");
        return NULL;
    }
    if (p->x_dtype != RT_I32 || p->step_x_size != 1) {
        snprintf(err, errlen, "model '%s' does not read one token id per position", p->name);
        return NULL;
    }
    rt_step_fn step = rt_program_step(p); /* the JIT compiles it now */
    if (!step) {
        snprintf(err, errlen, "model '%s': its step function failed to compile", p->name);
        return NULL;
    }
    rt_generator *g = calloc(1, sizeof *g);
    if (g) {
        g->p = p;
        g->step = step;
        g->params = params;
        /* each part from a cache line; the arena last, so a step that ran
         * off its end would be an overrun ASan reports, not a quiet
         * write into the logits */
        int64_t logits = round_up(max_i64(p->step_out_size, 1), 16);
        _Static_assert(sizeof(int32_t) == sizeof(float), "history ids take float slots");
        int64_t history = round_up(max_i64(p->step_context, 1), 16);
        g->block = rt_alloc_floats(logits + history + p->step_arena_floats);
        if (g->block) {
            g->logits = g->block;
            g->history = (int32_t *)(g->block + logits);
            g->arena = g->block + logits + history;
        }
    }
    if (!g || !g->block) {
        snprintf(err, errlen, "%s: out of memory for generation", p->name);
        rt_generator_free(g);
        return NULL;
    }
    return g;
}

void rt_generator_free(rt_generator *g)
{
    if (!g)
        return;
    free(g->block);
    free(g);
}

void rt_generator_reset(rt_generator *g)
{
    g->pos = 0;
    g->held = 0;
}

int64_t rt_generator_position(const rt_generator *g)
{
    return g->pos;
}

static void run_step(rt_generator *g, int32_t token)
{
    g->step(g->params, &token, g->logits, 1, g->arena, g->pos);
    g->pos++;
}

const float *rt_generator_feed(rt_generator *g, int32_t token)
{
    if (token < 0 || (g->p->x_vocab > 0 && token >= g->p->x_vocab))
        return NULL; /* the embedding kernel would abort on it */
    int64_t context = g->p->step_context;
    if (context > 0 && g->pos == context) {
        /* slide: start again with the newest half of the window */
        int64_t keep = context / 2;
        memmove(g->history, g->history + (g->held - keep), sizeof *g->history * (size_t)keep);
        g->held = keep;
        g->pos = 0;
        for (int64_t i = 0; i < keep; i++)
            run_step(g, g->history[i]);
    }
    if (context > 0)
        g->history[g->held++] = token;
    run_step(g, token);
    return g->logits;
}

/* --------------------------------------------------------------- sample */

/* The tokens a byte model can read back: its vocabulary, and never past a
 * byte. */
static int64_t readable_tokens(const rt_program *p)
{
    int64_t v = p->step_out_size;
    if (p->x_vocab > 0 && p->x_vocab < v)
        v = p->x_vocab;
    return v < 256 ? v : 256;
}

int rt_cmd_generate(const options *o, const rt_program *p)
{
    char err[ERRLEN];
    if ((o->given[FLAG_GRID] || o->given[FLAG_OUTPUT]) && rt_program_has_step(p)) {
        rt_report(o->prog, "%s is for generators of pictures (a model the train block calls on 'noise'); "
                  "'%s' samples text: --prompt TEXT [--tokens N]", o->given[FLAG_GRID] ? "--grid" : "-o", p->name);
        return RC_USAGE;
    }
    if (!rt_program_has_step(p) || p->x_dtype != RT_I32 || p->step_x_size != 1) {
        if (!rt_program_has_step(p))
            rt_report(o->prog, "model '%s' has nothing to sample: it is not a generator of pictures (its input "
                      "is not a noise source), and it cannot generate text one token at a time: %s", p->name,
                      p->step_missing ? p->step_missing : "it has no step function");
        else
            rt_report(o->prog, "sample needs a model that reads one token id per position (i32[T]); "
                      "'%s' reads %s", p->name, p->x_dtype == RT_I32 ? "several per position" : "floats");
        return RC_USAGE;
    }
    const char *prompt = o->given[FLAG_PROMPT] ? o->path[FLAG_PROMPT] : NULL;
    if (!prompt || !prompt[0]) {
        rt_report(o->prog, "sample needs a prompt of at least one byte to start from: --prompt %s",
                  "'In the beginning'");
        return RC_USAGE;
    }
    int64_t vocab = readable_tokens(p), len = (int64_t)strlen(prompt);
    for (int64_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)prompt[i];
        if (b >= vocab) {
            rt_report(o->prog, "--prompt: byte %d (0x%02X) at offset %lld is outside the vocabulary of "
                      "model '%s', which reads bytes 0 to %lld; use only those", b, b, (long long)i, p->name,
                      (long long)vocab - 1);
            return RC_USAGE;
        }
    }
    if (p->step_context > 0 && len > p->step_context) {
        rt_report(o->prog, "--prompt is %lld bytes, longer than the context of model '%s' (%lld tokens); "
                  "give at most its last %lld bytes", (long long)len, p->name, (long long)p->step_context,
                  (long long)p->step_context);
        return RC_USAGE;
    }
    int64_t tokens = o->given[FLAG_TOKENS] ? o->count[FLAG_TOKENS] : 400;
    float temperature = o->given[FLAG_TEMPERATURE] ? o->temperature : 1.0f;
    int64_t top_k = o->given[FLAG_TOP_K] ? o->count[FLAG_TOP_K] : 0;
    uint64_t seed = o->given[FLAG_SEED] ? o->seed : 0;

    float *params = rt_alloc_floats(p->param_floats), *work = rt_alloc_floats(vocab);
    rt_generator *g = NULL;
    int rc = params && work ? RC_OK : RC_INPUT;
    if (rc != RC_OK)
        rt_report(o->prog, "out of memory for the parameters");
    if (rc == RC_OK)
        rc = rt_load_weights(o->prog, o->path[FLAG_LOAD], p, params);
    if (rc == RC_OK && !(g = rt_generator_new(p, params, err, sizeof err))) {
        rt_report(o->prog, "%s", err);
        rc = RC_INPUT;
    }
    if (rc == RC_OK) {
        const float *logits = NULL;
        for (int64_t i = 0; i < len; i++)
            logits = rt_generator_feed(g, (unsigned char)prompt[i]);
        fwrite(prompt, 1, (size_t)len, stdout);
        double t0 = rt_seconds();
        int last = (unsigned char)prompt[len - 1];
        for (int64_t i = 0; i < tokens; i++) {
            int32_t t = rt_sample_logits(vocab, logits, temperature, top_k, seed, (uint64_t)i, work);
            putchar(t);
            last = t;
            if (i + 1 < tokens)
                logits = rt_generator_feed(g, t);
        }
        double secs = rt_seconds() - t0;
        if (last != '\n')
            putchar('\n');
        if (fflush(stdout) != 0 || ferror(stdout)) {
            rt_report(o->prog, "writing to stdout: %s", strerror(errno));
            rc = RC_INPUT;
        } else if (isatty(2)) {
            char rate[32];
            rt_format_thousands(secs > 0 ? (double)tokens / secs : 0, rate, sizeof rate);
            fprintf(stderr, "%lld tokens in %.2f s (%s tokens/s)\n", (long long)tokens, secs, rate);
        }
    }
    rt_generator_free(g);
    free(params);
    free(work);
    return rc;
}
