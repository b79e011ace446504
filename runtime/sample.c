/* sample.c — pictures of what a generator makes: the `sample` command of
 * rt_main (cli.c) and the grids `train --samples DIR` writes after each
 * epoch. A program whose forward input is a noise source (a GAN's
 * generator) draws rows * cols noise vectors, runs forward once and writes
 * the outputs as one PNG grid (libpng), atomically.
 *
 * An output is a picture when its shape is [C, H, W] with C 1 or 3, [H, W],
 * or [N] with N a square (784 -> 28 x 28, gray). Its values are mapped back
 * to pixels by undoing the train block's data scale and shift, so a model
 * trained on idx(..., scale = 1/127.5, shift = -1) shows tanh's -1 as black
 * and 1 as white.
 */
#include "netrt.h"
#include "train_internal.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLE_DOMAIN 0x452821e638d01377ull

enum { GAP = 2 }; /* pixels of black between the grid's pictures */

/* The output's picture geometry; false if it is not a picture. */
static bool picture_shape(const rt_program *p, int64_t *c, int64_t *h, int64_t *w)
{
    *c = 1;
    if (p->out_rank == 3 && (p->out_dims[0] == 1 || p->out_dims[0] == 3)) {
        *c = p->out_dims[0];
        *h = p->out_dims[1];
        *w = p->out_dims[2];
        return true;
    }
    if (p->out_rank == 2) {
        *h = p->out_dims[0];
        *w = p->out_dims[1];
        return true;
    }
    int64_t side = (int64_t)llround(sqrt((double)p->out_size));
    if (p->out_rank == 1 && side * side == p->out_size && side > 1) {
        *h = *w = side;
        return true;
    }
    return false;
}

int rt_sample_check(const char *prog, const rt_program *p)
{
    int64_t c, h, w;
    if (!p->noise_input) {
        rt_report(prog, "model '%s' does not take a noise source as its input, so there is nothing "
               "to sample; sample draws from a generator (the model a train block calls on 'noise')",
               p->name);
        return RC_USAGE;
    }
    if (!picture_shape(p, &c, &h, &w)) {
        char out[128];
        rt_format_type(RT_F32, p->out_dims, p->out_rank, out, sizeof out);
        rt_report(prog, "model '%s' returns %s, not a picture; sample writes outputs shaped "
               "[C, H, W] (C = 1 or 3), [H, W] or [N] with N a square", p->name, out);
        return RC_USAGE;
    }
    return RC_OK;
}

typedef struct png_buffer {
    unsigned char *data;
    size_t len, cap;
    bool failed;
} png_buffer;

static void png_append(png_structp png, png_bytep data, size_t len)
{
    png_buffer *b = png_get_io_ptr(png);
    if (b->failed)
        return;
    if (b->len + len > b->cap) {
        size_t cap = (b->len + len) * 2;
        unsigned char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void png_flush_nothing(png_structp png)
{
    (void)png;
}

/* Encodes an 8-bit image (gray or RGB) into memory; returns 0 or -1. */
static int encode_png(const unsigned char *pixels, int64_t width, int64_t height, int channels,
                      png_buffer *out)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_bytep *rows = malloc((size_t)height * sizeof *rows);
    if (!rows || setjmp(png_jmpbuf(png))) {
        free(rows);
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    for (int64_t y = 0; y < height; y++)
        rows[y] = (png_bytep)(pixels + (size_t)(y * width * channels));
    png_set_write_fn(png, out, png_append, png_flush_nothing);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    free(rows);
    png_destroy_write_struct(&png, &info);
    return out->failed ? -1 : 0;
}

int rt_sample_grid(const char *prog, const rt_program *p, const float *params, int rows, int cols,
                   uint64_t seed, const char *path)
{
    int64_t c = 1, h = 0, w = 0;
    if (rt_sample_check(prog, p) != RC_OK || !picture_shape(p, &c, &h, &w))
        return RC_USAGE;
    int64_t n = (int64_t)rows * cols;
    int64_t width = cols * w + (cols - 1) * GAP, height = rows * h + (rows - 1) * GAP;
    buffers b;
    int rc = rt_alloc_buffers(prog, p, n, 0, false, &b);
    if (rc != RC_OK)
        return rc;
    /* forward reads params read-only; the block's copy is the one used */
    memcpy(b.params, params, (size_t)p->param_floats * sizeof *b.params);
    unsigned char *pixels = calloc((size_t)(width * height * c), 1);
    png_buffer png = { 0 };
    if (!pixels) {
        free(b.block);
        rt_report(prog, "out of memory");
        return RC_INPUT;
    }
    rt_noise(n * p->x_size, p->noise_uniform, rt_rand_u64(seed ^ SAMPLE_DOMAIN, 0), b.x);
    p->forward(b.params, b.x, b.out, n, b.arena);
    float scale = p->config.data.scale != 0 ? p->config.data.scale : 1.0f, shift = p->config.data.shift;
    for (int64_t k = 0; k < n; k++) {
        const float *img = b.out + k * p->out_size;
        int64_t x0 = (k % cols) * (w + GAP), y0 = (k / cols) * (h + GAP);
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++)
                for (int64_t ch = 0; ch < c; ch++) {
                    double v = ((double)img[(ch * h + y) * w + x] - shift) / scale;
                    v = v < 0 ? 0 : v > 255 ? 255 : v;
                    pixels[((y0 + y) * width + x0 + x) * c + ch] = (unsigned char)lround(v);
                }
    }
    char err[ERRLEN];
    rc = RC_OK;
    if (encode_png(pixels, width, height, (int)c, &png) != 0) {
        rt_report(prog, "%s: cannot encode the PNG (out of memory)", path);
        rc = RC_INPUT;
    } else if (rt_write_file_atomic(path, png.data, png.len, err, sizeof err) != 0) {
        rt_report(prog, "%s", err);
        rc = RC_INPUT;
    }
    free(png.data);
    free(pixels);
    free(b.block);
    return rc;
}

/* --grid 8x8 */
static int parse_grid(const char *prog, const char *text, int *rows, int *cols)
{
    char *end;
    long r = strtol(text, &end, 10);
    long c = *end == 'x' ? strtol(end + 1, &end, 10) : 0;
    if (*end || r < 1 || c < 1 || r > 64 || c > 64) {
        rt_report(prog, "--grid: '%s' is not ROWSxCOLS with each 1 to 64, as in --grid 8x8", text);
        return RC_USAGE;
    }
    *rows = (int)r;
    *cols = (int)c;
    return RC_OK;
}

int rt_cmd_sample(const options *o, const rt_program *p)
{
    int rows = 8, cols = 8;
    static const flag_id text_flags[] = { FLAG_PROMPT, FLAG_TOKENS, FLAG_TEMPERATURE, FLAG_TOP_K };
    for (size_t k = 0; k < sizeof text_flags / sizeof text_flags[0]; k++)
        if (o->given[text_flags[k]]) {
            rt_report(o->prog, "%s is for language models; '%s' generates pictures from noise: [--grid 8x8] "
                      "[-o samples.png] [--seed N]", rt_flag_name(text_flags[k]), p->name);
            return RC_USAGE;
        }
    int rc = rt_sample_check(o->prog, p);
    if (rc == RC_OK && o->given[FLAG_GRID])
        rc = parse_grid(o->prog, o->path[FLAG_GRID], &rows, &cols);
    if (rc != RC_OK)
        return rc;
    float *params = malloc((size_t)(p->param_floats > 0 ? p->param_floats : 1) * sizeof *params);
    if (!params) {
        rt_report(o->prog, "out of memory");
        return RC_INPUT;
    }
    rc = rt_load_weights(o->prog, o->path[FLAG_LOAD], p, params);
    uint64_t seed = o->given[FLAG_SEED] ? o->seed : p->config.seed;
    const char *path = o->given[FLAG_OUTPUT] ? o->path[FLAG_OUTPUT] : "samples.png";
    if (rc == RC_OK)
        rc = rt_sample_grid(o->prog, p, params, rows, cols, seed, path);
    if (rc == RC_OK)
        printf("wrote %s (%dx%d samples)\n", path, rows, cols);
    free(params);
    return rc;
}
