/* shape.c — the shape rules of the op table, one function per op, and the
 * IR verifier built on them.
 * Requires: a node's data input shapes and attrs. Produces: its output shape
 * and dtype, the parameters it owns, or a message saying what was expected
 * and how to fix it. Rules are pure, so the verifier can re-run them over
 * any IR (after sema now; after autodiff and fusion later). */
#include "compiler.h"

#include <string.h>

#define FAIL(...) do { snprintf(s->err, sizeof s->err, __VA_ARGS__); return false; } while (0)
#define WARN(...) snprintf(s->warn, sizeof s->warn, __VA_ARGS__)

const Attr *shape_attr(const ShapeCtx *s, const char *name)
{
    Node n = { .op = s->op, .attrs = (Attr *)s->attrs };
    return ir_attr(&n, name);
}

static int64_t attr_int(const ShapeCtx *s, const char *name) { return shape_attr(s, name)->i; }
static double attr_float(const ShapeCtx *s, const char *name) { return shape_attr(s, name)->f; }

/* Type text for messages: "f32[64, 7, 7]". */
static const char *ty(const ShapeCtx *s, int i)
{
    return ir_type_str(s->c, s->in_dtype[i], &s->in[i]);
}

static Shape shape_of(int rank, const int64_t *dims)
{
    Shape sh = { rank, { 0 } };
    for (int i = 0; i < rank; i++)
        sh.dim[i] = dims[i];
    return sh;
}

static Shape shape1(int64_t a) { return shape_of(1, (int64_t[]){ a }); }
static Shape shape2(int64_t a, int64_t b) { return shape_of(2, (int64_t[]){ a, b }); }

static void declare(ShapeCtx *s, const char *suffix, Shape sh, rt_init init, int64_t fan_in, int64_t fan_out, bool trainable)
{
    ShapeParamDecl *p = &s->params[s->nparams++];
    p->suffix = suffix;
    p->shape = sh;
    p->init = init;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    p->trainable = trainable;
}

static bool need_f32(ShapeCtx *s, int i)
{
    if (s->in_dtype[i] != DT_F32)
        FAIL("%s expects a f32 tensor, got %s; token ids go through embed first", s->call, ty(s, i));
    return true;
}

static bool same_as_input(ShapeCtx *s)
{
    if (!need_f32(s, 0))
        return false;
    s->out = s->in[0];
    s->out_dtype = DT_F32;
    return true;
}

static bool positive(ShapeCtx *s, const char *arg)
{
    if (attr_int(s, arg) < 1)
        FAIL("%s: '%s' must be at least 1, got %lld", s->call, arg, (long long)attr_int(s, arg));
    return true;
}

/* ------------------------------------------------------- layer rules */

static bool shape_dense(ShapeCtx *s)
{
    if (!need_f32(s, 0) || !positive(s, "units"))
        return false;
    const Shape *x = &s->in[0];
    int64_t units = attr_int(s, "units");
    if (x->rank == 0 || x->rank > 2)
        FAIL("%s expects f32[N] (or a sequence f32[T, N]), got %s; insert flatten before it",
             s->call, ty(s, 0));
    int64_t k = x->dim[x->rank - 1];
    s->out = *x;
    s->out.dim[x->rank - 1] = units;
    s->out_dtype = DT_F32;
    declare(s, "weight", shape2(units, k), RT_INIT_HE_NORMAL, k, units, true);
    if (attr_int(s, "bias"))
        declare(s, "bias", shape1(units), RT_INIT_ZEROS, k, units, true);
    return true;
}

static bool need_image(ShapeCtx *s, const char *hint)
{
    if (!need_f32(s, 0))
        return false;
    if (s->in[0].rank != 3)
        FAIL("%s expects an image f32[C, H, W], got %s%s", s->call, ty(s, 0), hint);
    return true;
}

/* out = floor((in + pad_total - extent) / stride) + 1. When the windows
 * tile the input (extent >= stride) yet stop short of real rows at the end,
 * that is usually a mistake, so it gets a warning; strided subsampling with
 * smaller windows (a 1x1 stride-2 shortcut) skips rows by design. */
static bool window_out(ShapeCtx *s, const char *what, int64_t in, int64_t pad_total, int64_t extent,
                       int64_t stride, int64_t *out)
{
    int64_t span = in + pad_total - extent;
    if (span < 0)
        FAIL("%s: the %s (%lld) is larger than the %sinput (%lld); use a smaller %s or padding",
             s->call, what, (long long)extent, pad_total ? "padded " : "", (long long)(in + pad_total), what);
    *out = span / stride + 1;
    int64_t ignored = span % stride - (pad_total - pad_total / 2);
    if (extent >= stride && ignored > 0 && !s->warn[0])
        WARN("%s: at stride %lld the windows stop %lld row%s short of the input's %lld, so the last %s ignored (pad the input or change the stride)",
             s->call, (long long)stride, (long long)ignored, ignored == 1 ? "" : "s", (long long)in,
             ignored == 1 ? "row and column are" : "rows and columns are");
    return true;
}

/* A working buffer a layer's kernel sizes per sample (im2col columns,
 * attention scores) obeys the same bound as its output: the product of
 * the n factors must not pass SHAPE_MAX_VALUES. */
static bool work_fits(ShapeCtx *s, const char *what, int n, const int64_t *factors)
{
    int64_t v = 1;
    for (int i = 0; i < n; i++)
        if (__builtin_mul_overflow(v, factors[i], &v) || v > SHAPE_MAX_VALUES)
            FAIL("%s: its %s would be more than %lld values per sample (2^31 - 1, what one kernel call "
                 "indexes); make the layer smaller", s->call, what, (long long)SHAPE_MAX_VALUES);
    return true;
}

static bool shape_conv2d(ShapeCtx *s)
{
    if (!need_image(s, "; a dense input needs reshape(C, H, W) first") || !positive(s, "filters") ||
        !positive(s, "kernel") || !positive(s, "stride") || !positive(s, "dilation") || !positive(s, "groups"))
        return false;
    const Shape *x = &s->in[0];
    int64_t c = x->dim[0], h = x->dim[1], w = x->dim[2];
    int64_t f = attr_int(s, "filters"), k = attr_int(s, "kernel"), st = attr_int(s, "stride");
    int64_t d = attr_int(s, "dilation"), g = attr_int(s, "groups"), pad = attr_int(s, "padding");
    if (c % g || f % g)
        FAIL("%s: groups=%lld must divide both the input channels (%lld) and the filters (%lld)",
             s->call, (long long)g, (long long)c, (long long)f);
    int64_t extent = d * (k - 1) + 1, ho, wo;
    if (pad == PAD_SAME) {
        /* TensorFlow's rule: out = ceil(in / stride), padding split evenly
         * with the odd pixel at the end. */
        ho = (h + st - 1) / st;
        wo = (w + st - 1) / st;
    } else {
        if (pad == PAD_VALID)
            pad = 0;
        if (pad < 0)
            FAIL("%s: padding must be >= 0, \"same\" or \"valid\"", s->call);
        if (!window_out(s, "kernel", h, 2 * pad, extent, st, &ho) ||
            !window_out(s, "kernel", w, 2 * pad, extent, st, &wo))
            return false;
    }
    if (!work_fits(s, "unfolded input (channels x kernel^2 x output pixels)", 5,
                   (int64_t[]){ c / g, k, k, ho, wo }))
        return false;
    s->out = shape_of(3, (int64_t[]){ f, ho, wo });
    s->out_dtype = DT_F32;
    int64_t fan_in = c / g * k * k;
    declare(s, "weight", shape_of(4, (int64_t[]){ f, c / g, k, k }), RT_INIT_HE_NORMAL, fan_in, f * k * k / g, true);
    if (attr_int(s, "bias"))
        declare(s, "bias", shape1(f), RT_INIT_ZEROS, fan_in, f, true);
    return true;
}

static bool shape_pool(ShapeCtx *s)
{
    if (!need_image(s, "; pooling works on images") || !positive(s, "size"))
        return false;
    const Shape *x = &s->in[0];
    int64_t k = attr_int(s, "size"), st = attr_int(s, "stride"), pad = attr_int(s, "padding");
    if (st == 0)
        st = k;
    if (st < 0)
        FAIL("%s: stride must be at least 1", s->call);
    if (pad < 0 || pad > k / 2)
        FAIL("%s: padding must be between 0 and half the window (%lld), got %lld",
             s->call, (long long)(k / 2), (long long)pad);
    int64_t ho, wo;
    if (!window_out(s, "window", x->dim[1], 2 * pad, k, st, &ho) ||
        !window_out(s, "window", x->dim[2], 2 * pad, k, st, &wo))
        return false;
    s->out = shape_of(3, (int64_t[]){ x->dim[0], ho, wo });
    s->out_dtype = DT_F32;
    return true;
}

static bool shape_maxpool(ShapeCtx *s) { return shape_pool(s); }
static bool shape_avgpool(ShapeCtx *s) { return shape_pool(s); }

static bool shape_global_avgpool(ShapeCtx *s)
{
    if (!need_image(s, ""))
        return false;
    s->out = shape1(s->in[0].dim[0]);
    s->out_dtype = DT_F32;
    return true;
}

static bool shape_batchnorm(ShapeCtx *s)
{
    if (!need_f32(s, 0))
        return false;
    const Shape *x = &s->in[0];
    if (x->rank != 1 && x->rank != 3)
        FAIL("%s expects f32[C] or an image f32[C, H, W], got %s; for sequences use layernorm",
             s->call, ty(s, 0));
    double m = attr_float(s, "momentum"), eps = attr_float(s, "eps");
    if (m < 0 || m > 1)
        FAIL("%s: momentum must be between 0 and 1, got %g", s->call, m);
    if (eps <= 0)
        FAIL("%s: eps must be positive, got %g", s->call, eps);
    int64_t c = x->dim[0];
    s->out = *x;
    s->out_dtype = DT_F32;
    declare(s, "weight", shape1(c), RT_INIT_ONES, c, c, true);
    declare(s, "bias", shape1(c), RT_INIT_ZEROS, c, c, true);
    declare(s, "running_mean", shape1(c), RT_INIT_ZEROS, c, c, false);
    declare(s, "running_var", shape1(c), RT_INIT_ONES, c, c, false);
    return true;
}

static bool shape_layernorm(ShapeCtx *s)
{
    if (!need_f32(s, 0))
        return false;
    if (s->in[0].rank == 0)
        FAIL("%s expects a tensor with at least one dimension, got %s", s->call, ty(s, 0));
    if (attr_float(s, "eps") <= 0)
        FAIL("%s: eps must be positive, got %g", s->call, attr_float(s, "eps"));
    int64_t d = s->in[0].dim[s->in[0].rank - 1];
    s->out = s->in[0];
    s->out_dtype = DT_F32;
    declare(s, "weight", shape1(d), RT_INIT_ONES, d, d, true);
    declare(s, "bias", shape1(d), RT_INIT_ZEROS, d, d, true);
    return true;
}

static bool shape_embed(ShapeCtx *s)
{
    if (s->in_dtype[0] != DT_I32)
        FAIL("%s expects token ids i32[T], got %s", s->call, ty(s, 0));
    if (!positive(s, "vocab") || !positive(s, "dim"))
        return false;
    const Shape *x = &s->in[0];
    if (x->rank >= MAX_RANK)
        FAIL("%s: input %s has too many dimensions", s->call, ty(s, 0));
    int64_t v = attr_int(s, "vocab"), d = attr_int(s, "dim");
    s->out = *x;
    s->out.dim[s->out.rank++] = d;
    s->out_dtype = DT_F32;
    declare(s, "weight", shape2(v, d), RT_INIT_NORMAL_002, v, d, true);
    return true;
}

static bool shape_position(ShapeCtx *s)
{
    if (!need_f32(s, 0))
        return false;
    if (s->in[0].rank != 2)
        FAIL("%s expects a sequence f32[T, D], got %s", s->call, ty(s, 0));
    s->out = s->in[0];
    s->out_dtype = DT_F32;
    declare(s, "weight", s->in[0], RT_INIT_NORMAL_002, s->in[0].dim[1], s->in[0].dim[1], true);
    return true;
}

/* An attention layer's parameters on width d, in declaration order (the
 * order attention_grad_param's `which` counts in): qkv_weight [3d, d]
 * (query rows, then key rows, then value rows), qkv_bias [3d],
 * out_weight [d, d], out_bias [d]. */
enum { ATTENTION_PARAMS = 4 };
static void attention_param_shapes(int64_t d, Shape p[ATTENTION_PARAMS])
{
    p[0] = shape2(3 * d, d);
    p[1] = shape1(3 * d);
    p[2] = shape2(d, d);
    p[3] = shape1(d);
}

static bool shape_attention(ShapeCtx *s)
{
    if (!need_f32(s, 0) || !positive(s, "heads"))
        return false;
    const Shape *x = &s->in[0];
    if (x->rank != 2)
        FAIL("%s expects a sequence f32[T, D], got %s", s->call, ty(s, 0));
    int64_t d = x->dim[1], h = attr_int(s, "heads");
    if (d % h)
        FAIL("%s: the width %lld is not divisible by %lld heads; use a head count that divides %lld",
             s->call, (long long)d, (long long)h, (long long)d);
    if (!work_fits(s, "scores (heads x T x T)", 3, (int64_t[]){ h, x->dim[0], x->dim[0] }))
        return false;
    s->out = *x;
    s->out_dtype = DT_F32;
    Shape p[ATTENTION_PARAMS];
    attention_param_shapes(d, p);
    declare(s, "qkv_weight", p[0], RT_INIT_NORMAL_002, d, 3 * d, true);
    declare(s, "qkv_bias", p[1], RT_INIT_ZEROS, d, 3 * d, true);
    declare(s, "out_weight", p[2], RT_INIT_NORMAL_002, d, d, true);
    declare(s, "out_bias", p[3], RT_INIT_ZEROS, d, d, true);
    return true;
}

/* rnn, lstm and gru differ in their number of gates. */
static bool shape_recurrent(ShapeCtx *s, int gates)
{
    if (!need_f32(s, 0) || !positive(s, "units"))
        return false;
    const Shape *x = &s->in[0];
    if (x->rank != 2)
        FAIL("%s expects a sequence f32[T, D], got %s%s", s->call, ty(s, 0),
             x->rank == 1 ? "; make it a sequence with reshape(T, D) first" : "");
    int64_t d = x->dim[1], h = attr_int(s, "units");
    s->out = attr_int(s, "sequences") ? shape2(x->dim[0], h) : shape1(h);
    s->out_dtype = DT_F32;
    declare(s, "weight_ih", shape2(gates * h, d), RT_INIT_GLOROT_UNIFORM, d, gates * h, true);
    declare(s, "weight_hh", shape2(gates * h, h), RT_INIT_GLOROT_UNIFORM, h, gates * h, true);
    declare(s, "bias", shape1(gates * h), RT_INIT_ZEROS, h, gates * h, true);
    return true;
}

static bool shape_rnn(ShapeCtx *s) { return shape_recurrent(s, 1); }
static bool shape_lstm(ShapeCtx *s) { return shape_recurrent(s, 4); }
static bool shape_gru(ShapeCtx *s) { return shape_recurrent(s, 3); }

/* ------------------------------------------------------- shape ops */

static bool shape_flatten(ShapeCtx *s)
{
    s->out = shape1(ir_shape_elems(&s->in[0]));
    s->out_dtype = s->in_dtype[0];
    return true;
}

static bool shape_reshape(ShapeCtx *s)
{
    const Attr *a = shape_attr(s, "shape");
    if (a->nints > MAX_RANK)
        FAIL("%s: at most %d dimensions, got %d", s->call, MAX_RANK, a->nints);
    int64_t known = 1, total = ir_shape_elems(&s->in[0]);
    int infer = -1;
    for (int i = 0; i < a->nints; i++) {
        if (a->ints[i] == -1 && infer < 0)
            infer = i;
        else if (a->ints[i] < 1)
            FAIL("%s: dimensions must be positive (one may be -1, inferred), got %lld",
                 s->call, (long long)a->ints[i]);
        else if (a->ints[i] > total)
            FAIL("%s: dimension %lld is larger than the input's %lld elements", s->call,
                 (long long)a->ints[i], (long long)total);
        else
            known *= a->ints[i];
    }
    s->out = shape_of(a->nints, a->ints);
    if (infer >= 0) {
        if (total % known)
            FAIL("%s: cannot infer the -1 dimension: %lld elements of %s are not divisible by %lld",
                 s->call, (long long)total, ty(s, 0), (long long)known);
        s->out.dim[infer] = total / known;
    } else if (known != total) {
        FAIL("%s: the new shape has %lld elements but %s has %lld", s->call, (long long)known,
             ty(s, 0), (long long)total);
    }
    s->out_dtype = s->in_dtype[0];
    return true;
}

/* A negative axis counts from the end, as in NumPy. */
static int64_t from_end(int64_t axis, int rank)
{
    return axis < 0 ? axis + rank : axis;
}

int shape_concat_axis(const Node *n)
{
    return (int)from_end(ir_attr(n, "axis")->i, n->shape.rank);
}

static bool shape_concat(ShapeCtx *s)
{
    const Shape *x0 = &s->in[0];
    int64_t axis = from_end(attr_int(s, "axis"), x0->rank);
    if (x0->rank == 0)
        FAIL("%s: cannot concatenate numbers (rank 0)", s->call);
    if (axis < 0 || axis >= x0->rank)
        FAIL("%s: axis %lld is out of range for %s", s->call, (long long)attr_int(s, "axis"), ty(s, 0));
    s->out = *x0;
    for (int i = 1; i < s->nin; i++) {
        const Shape *xi = &s->in[i];
        if (s->in_dtype[i] != s->in_dtype[0])
            FAIL("%s: input %d is %s but input 1 is %s; all inputs need one dtype", s->call, i + 1, ty(s, i), ty(s, 0));
        bool ok = xi->rank == x0->rank;
        for (int k = 0; ok && k < x0->rank; k++)
            if (k != axis && xi->dim[k] != x0->dim[k])
                ok = false;
        if (!ok)
            FAIL("%s: input %d is %s and input 1 is %s; they must agree in every dimension but axis %lld",
                 s->call, i + 1, ty(s, i), ty(s, 0), (long long)axis);
        s->out.dim[axis] += xi->dim[axis];
    }
    s->out_dtype = s->in_dtype[0];
    return true;
}

static bool shape_dropout(ShapeCtx *s)
{
    double r = attr_float(s, "rate");
    if (r < 0 || r >= 1)
        FAIL("%s: rate must be in [0, 1), got %g", s->call, r);
    return same_as_input(s);
}

/* ------------------------------------------------------- elementwise */

/* Broadcasting as NumPy's: shapes align at their last dimension; each pair
 * of dimensions must be equal or one of them 1. */
static bool broadcast(ShapeCtx *s, const char *verb)
{
    if (!need_f32(s, 0) || !need_f32(s, 1))
        return false;
    const Shape *a = &s->in[0], *b = &s->in[1];
    int rank = a->rank > b->rank ? a->rank : b->rank;
    s->out.rank = rank;
    for (int i = 0; i < rank; i++) {
        int ia = a->rank - rank + i, ib = b->rank - rank + i;
        int64_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
        if (da != db && da != 1 && db != 1)
            FAIL("cannot %s %s and %s: dimension %d is %lld on the left and %lld on the right; shapes must match or be 1 to broadcast",
                 verb, ty(s, 0), ty(s, 1), i + 1, (long long)da, (long long)db);
        s->out.dim[i] = da > db ? da : db;
    }
    s->out_dtype = DT_F32;
    return true;
}

static bool shape_add(ShapeCtx *s) { return broadcast(s, "add"); }
static bool shape_sub(ShapeCtx *s) { return broadcast(s, "subtract"); }
static bool shape_mul(ShapeCtx *s) { return broadcast(s, "multiply"); }
static bool shape_scale(ShapeCtx *s) { return same_as_input(s); }

/* Every activation (an ACT row of ops.def): the input's shape; a slope
 * (leaky_relu's alpha) must not be negative. */
static bool shape_activation(ShapeCtx *s)
{
    if (ir_arg_index(s->op, "alpha") >= 0 && attr_float(s, "alpha") < 0)
        FAIL("%s: alpha must be >= 0, got %g", s->call, attr_float(s, "alpha"));
    return same_as_input(s);
}

static bool shape_softmax(ShapeCtx *s)
{
    if (s->in[0].rank == 0)
        FAIL("%s expects at least one dimension, got %s", s->call, ty(s, 0));
    return same_as_input(s);
}

/* ------------------------------------------------------------- losses */

static bool shape_cross_entropy(ShapeCtx *s)
{
    const Shape *z = &s->in[0], *y = &s->in[1];
    if (!need_f32(s, 0))
        return false;
    if (z->rank == 0)
        FAIL("%s expects class scores f32[C] or f32[T, C], got %s", s->call, ty(s, 0));
    if (s->in_dtype[1] != DT_I32)
        FAIL("%s expects class labels i32, got %s; use mse or bce for real-valued targets", s->call, ty(s, 1));
    bool ok = y->rank == z->rank - 1;
    for (int i = 0; ok && i < y->rank; i++)
        ok = y->dim[i] == z->dim[i];
    if (!ok) {
        Shape want = *z;
        want.rank--;
        FAIL("%s: scores %s need labels %s, got %s", s->call, ty(s, 0),
             ir_type_str(s->c, DT_I32, &want), ty(s, 1));
    }
    s->out.rank = 0;
    s->out_dtype = DT_F32;
    return true;
}

/* mse and bce compare two tensors of one shape, or a tensor with a number. */
static bool shape_pairwise_loss(ShapeCtx *s)
{
    if (!need_f32(s, 0))
        return false;
    if (s->nin > 1) {
        if (s->in_dtype[1] != DT_F32)
            FAIL("%s expects a f32 target, got %s", s->call, ty(s, 1));
        if (!ir_shape_eq(&s->in[0], &s->in[1]))
            FAIL("%s: the prediction is %s but the target is %s; they must have one shape",
                 s->call, ty(s, 0), ty(s, 1));
    }
    s->out.rank = 0;
    s->out_dtype = DT_F32;
    return true;
}

static bool shape_mse(ShapeCtx *s) { return shape_pairwise_loss(s); }

/* bce's target is a probability: a number outside [0, 1] trains towards a
 * loss without a floor (bce(D(x), 2) falls for ever). */
static bool shape_bce(ShapeCtx *s)
{
    if (s->nin == 1) {
        double t = shape_attr(s, "target")->f;
        if (!(t >= 0 && t <= 1))
            FAIL("%s: the target %g is not a probability; bce takes targets in [0, 1] (1 for real, 0 for fake)",
                 s->call, t);
    }
    return shape_pairwise_loss(s);
}

/* ------------------------------------------------------ backward ops */

static bool shape_dense_grad_x(ShapeCtx *s)
{
    const Shape *dy = &s->in[0], *w = &s->in[1];
    if (w->rank != 2 || dy->rank < 1 || dy->dim[dy->rank - 1] != w->dim[0])
        FAIL("dense_grad_x: dy %s does not match weight %s", ty(s, 0), ty(s, 1));
    s->out = *dy;
    s->out.dim[dy->rank - 1] = w->dim[1];
    s->out_dtype = DT_F32;
    return true;
}

/* A parameter's gradient: f32 of the parameter's shape, one for the whole
 * batch (no batch dimension). */
static bool param_grad_shape(ShapeCtx *s, Shape shape)
{
    s->out = shape;
    s->out_dtype = DT_F32;
    s->out_unbatched = true;
    return true;
}

static bool shape_dense_grad_w(ShapeCtx *s)
{
    const Shape *dy = &s->in[0], *x = &s->in[1];
    if (dy->rank < 1 || dy->rank != x->rank)
        FAIL("dense_grad_w: dy %s does not match x %s", ty(s, 0), ty(s, 1));
    return param_grad_shape(s, shape2(dy->dim[dy->rank - 1], x->dim[x->rank - 1]));
}

static bool shape_bias_grad(ShapeCtx *s)
{
    if (s->in[0].rank < 1)
        FAIL("bias_grad: dy %s has no features", ty(s, 0));
    return param_grad_shape(s, shape1(s->in[0].dim[s->in[0].rank - 1]));
}

/* Gradients of elementwise ops have the shape of the incoming gradient,
 * which must agree with the saved forward values they read. */
static bool same_as_dy(ShapeCtx *s, int check_input)
{
    if (check_input >= 0 && !ir_shape_eq(&s->in[0], &s->in[check_input]))
        FAIL("%s: dy %s does not match %s", s->call, ty(s, 0), ty(s, check_input));
    s->out = s->in[0];
    s->out_dtype = DT_F32;
    return true;
}

static bool shape_act_grad(ShapeCtx *s) { return same_as_dy(s, 1); }
static bool shape_dropout_grad(ShapeCtx *s) { return same_as_dy(s, -1); }
static bool shape_softmax_grad(ShapeCtx *s) { return same_as_dy(s, 1); }
static bool shape_cross_entropy_grad(ShapeCtx *s) { return same_as_dy(s, -1); }
static bool shape_mse_grad(ShapeCtx *s) { return same_as_dy(s, s->nin > 1 ? 1 : -1); }
static bool shape_bce_grad(ShapeCtx *s) { return same_as_dy(s, s->nin > 1 ? 1 : -1); }

ConvGeom shape_conv_geometry(const Node *n, const Shape *x)
{
    ConvGeom g = { .c = x->dim[0], .h = x->dim[1], .w = x->dim[2], .f = ir_attr(n, "filters")->i,
                   .k = ir_attr(n, "kernel")->i, .stride = ir_attr(n, "stride")->i,
                   .dilation = ir_attr(n, "dilation")->i, .groups = ir_attr(n, "groups")->i };
    int64_t pad = ir_attr(n, "padding")->i, extent = g.dilation * (g.k - 1) + 1;
    if (pad == PAD_SAME) {
        g.ho = (g.h + g.stride - 1) / g.stride;
        g.wo = (g.w + g.stride - 1) / g.stride;
        int64_t th = (g.ho - 1) * g.stride + extent - g.h, tw = (g.wo - 1) * g.stride + extent - g.w;
        th = th > 0 ? th : 0;
        tw = tw > 0 ? tw : 0;
        g.pad_top = th / 2;
        g.pad_bottom = th - g.pad_top;
        g.pad_left = tw / 2;
        g.pad_right = tw - g.pad_left;
        return g;
    }
    if (pad == PAD_VALID)
        pad = 0;
    g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = pad;
    g.ho = (g.h + 2 * pad - extent) / g.stride + 1;
    g.wo = (g.w + 2 * pad - extent) / g.stride + 1;
    return g;
}

static bool shape_conv2d_grad_x(ShapeCtx *s)
{
    s->out = s->in[2];
    s->out_dtype = DT_F32;
    return true;
}

static bool shape_conv2d_grad_w(ShapeCtx *s)
{
    int64_t f = attr_int(s, "filters"), k = attr_int(s, "kernel"), g = attr_int(s, "groups");
    if (s->in[1].rank != 3 || s->in[0].rank != 3 || s->in[0].dim[0] != f)
        FAIL("conv2d_grad_w: dy %s and x %s do not match %lld filters", ty(s, 0), ty(s, 1), (long long)f);
    return param_grad_shape(s, shape_of(4, (int64_t[]){ f, s->in[1].dim[0] / g, k, k }));
}

static bool shape_conv2d_grad_b(ShapeCtx *s)
{
    return param_grad_shape(s, shape1(s->in[0].dim[0]));
}

static bool shape_maxpool_grad(ShapeCtx *s) { s->out = s->in[1]; s->out_dtype = DT_F32; return true; }
static bool shape_avgpool_grad(ShapeCtx *s) { s->out = s->in[1]; s->out_dtype = DT_F32; return true; }
static bool shape_global_avgpool_grad(ShapeCtx *s) { s->out = s->in[1]; s->out_dtype = DT_F32; return true; }
static bool shape_batchnorm_grad(ShapeCtx *s) { s->out = s->in[1]; s->out_dtype = DT_F32; return true; }

static bool shape_batchnorm_frozen_grad(ShapeCtx *s) { s->out = s->in[0]; s->out_dtype = DT_F32; return true; }

static bool shape_batchnorm_grad_param(ShapeCtx *s)
{
    return param_grad_shape(s, shape1(s->in[0].dim[0]));
}

static bool shape_concat_grad(ShapeCtx *s)
{
    const Shape *dy = &s->in[0];
    int64_t axis = attr_int(s, "axis"), start = attr_int(s, "start"), size = attr_int(s, "size");
    if (axis < 0 || axis >= dy->rank || start < 0 || size < 1 || start + size > dy->dim[axis])
        FAIL("concat_grad: [%lld, %lld) along axis %lld is not a slice of dy %s", (long long)start,
             (long long)(start + size), (long long)axis, ty(s, 0));
    s->out = *dy;
    s->out.dim[axis] = size;
    s->out_dtype = s->in_dtype[0];
    return true;
}

/* dy has the forward's shape, f32[T, H] or f32[H] from x f32[T, D]. */
static bool shape_recurrent_grad(ShapeCtx *s)
{
    const Shape *dy = &s->in[0], *x = &s->in[1], *y = &s->in[2];
    if (x->rank != 2 || !ir_shape_eq(dy, y) || (y->rank != 1 && y->rank != 2) ||
        (y->rank == 2 && y->dim[0] != x->dim[0]))
        FAIL("recurrent_grad: dy %s and the layer's output %s do not fit x %s", ty(s, 0), ty(s, 2), ty(s, 1));
    s->out = *x;
    s->out_dtype = DT_F32;
    return true;
}

static bool shape_attention_grad(ShapeCtx *s)
{
    const Shape *dy = &s->in[0];
    if (dy->rank != 2 || !ir_shape_eq(dy, &s->in[1]) || !ir_shape_eq(dy, &s->in[2]))
        FAIL("attention_grad: dy %s, x %s and the forward value %s must be one sequence shape f32[T, D]", ty(s, 0),
             ty(s, 1), ty(s, 2));
    s->out = *dy;
    s->out_dtype = DT_F32;
    return true;
}

static bool shape_recurrent_grad_param(ShapeCtx *s)
{
    return param_grad_shape(s, s->in[1]);
}

static bool shape_attention_grad_param(ShapeCtx *s)
{
    int64_t which = attr_int(s, "which");
    if (s->in[0].rank != 2 || which < 0 || which >= ATTENTION_PARAMS)
        FAIL("attention_grad_param: which must be 0 to %d and g a sequence f32[T, D], got %lld and %s",
             ATTENTION_PARAMS - 1, (long long)which, ty(s, 0));
    Shape p[ATTENTION_PARAMS];
    attention_param_shapes(s->in[0].dim[1], p);
    return param_grad_shape(s, p[which]);
}

static bool shape_embed_grad(ShapeCtx *s)
{
    const Shape *dy = &s->in[0], *ids = &s->in[1];
    bool ok = s->in_dtype[1] == DT_I32 && dy->rank == ids->rank + 1;
    for (int i = 0; ok && i < ids->rank; i++)
        ok = dy->dim[i] == ids->dim[i];
    if (!ok || attr_int(s, "vocab") < 1)
        FAIL("embed_grad: dy %s does not match ids %s", ty(s, 0), ty(s, 1));
    return param_grad_shape(s, shape2(attr_int(s, "vocab"), dy->dim[dy->rank - 1]));
}

static bool shape_position_grad(ShapeCtx *s)
{
    return param_grad_shape(s, s->in[0]);
}

static bool shape_layernorm_grad(ShapeCtx *s)
{
    if (!ir_shape_eq(&s->in[0], &s->in[1]) || !ir_shape_eq(&s->in[1], &s->in[2]) || s->in[1].rank < 1)
        FAIL("layernorm_grad: dy %s, x %s and the forward value %s differ", ty(s, 0), ty(s, 1), ty(s, 2));
    s->out = s->in[1];
    s->out_dtype = DT_F32;
    return true;
}

static bool shape_layernorm_grad_param(ShapeCtx *s)
{
    return param_grad_shape(s, shape1(s->in[0].dim[s->in[0].rank - 1]));
}

static bool shape_expand(ShapeCtx *s)
{
    const Attr *shape = shape_attr(s, "shape");
    s->out.rank = shape->nints;
    for (int i = 0; i < shape->nints; i++)
        s->out.dim[i] = shape->ints[i];
    s->out_dtype = s->in_dtype[0];
    return true;
}

static bool shape_reduce_to(ShapeCtx *s)
{
    const Attr *shape = shape_attr(s, "shape");
    s->out.rank = shape->nints;
    for (int i = 0; i < shape->nints; i++)
        s->out.dim[i] = shape->ints[i];
    s->out_dtype = DT_F32;
    return true;
}

/* ------------------------------------------------------------ dispatch */

/* Values that are not computations have no rule: sema gives them their
 * shapes directly. */
static bool no_rule(ShapeCtx *s)
{
    die("shape_infer on %s", ir_ops[s->op].name);
}
#define shape_input no_rule
#define shape_param no_rule
#define shape_model_call no_rule

/* A row of ops.def without its rule here fails to compile. */
static bool (*const rules[OP_COUNT])(ShapeCtx *) = {
#define RULE(name) shape_##name
#define RULE_ACT shape_activation
#include "op_rules.h"
};

/* The values of a shape, or -1 past SHAPE_MAX_VALUES (no overflow on
 * the way: dims may each be up to 2^31 - 1). */
static int64_t bounded_elems(const Shape *sh)
{
    int64_t n = 1;
    for (int i = 0; i < sh->rank; i++)
        if (__builtin_mul_overflow(n, sh->dim[i], &n) || n > SHAPE_MAX_VALUES)
            return -1;
    return n;
}

/* The one size rule for per-sample sizes: a layer's output (per sample)
 * and each of its parameters hold at most SHAPE_MAX_VALUES values, so
 * every size the generated code and the kernels form from them (GEMM
 * dimensions, per-sample offsets, loop bounds) fits an int. Sizes that
 * grow with the batch are the runtime's to check (rt_main refuses a batch
 * that would overflow one). Checked here, after every rule, so no op can
 * forget it and sema reports it at the layer's source line. */
static bool sizes_fit(ShapeCtx *s)
{
    if (bounded_elems(&s->out) < 0)
        FAIL("%s gives %s, more than %lld values per sample (2^31 - 1, what one kernel call indexes); "
             "make the layer smaller", s->call, ir_type_str(s->c, s->out_dtype, &s->out), (long long)SHAPE_MAX_VALUES);
    for (int k = 0; k < s->nparams; k++)
        if (bounded_elems(&s->params[k].shape) < 0)
            FAIL("%s: its %s would be %s, more than %lld values (2^31 - 1, what one kernel call indexes); "
                 "make the layer smaller", s->call, s->params[k].suffix,
                 ir_type_str(s->c, DT_F32, &s->params[k].shape), (long long)SHAPE_MAX_VALUES);
    return true;
}

bool shape_infer(ShapeCtx *s)
{
    s->nparams = 0;
    s->err[0] = s->warn[0] = '\0';
    memset(&s->out, 0, sizeof s->out);
    return rules[s->op](s) && sizes_fit(s);
}

/* Every node's shape again from its rule and inputs; parameters must have
 * the shapes their layer declares. A mismatch is a compiler bug. */
bool shape_verify(Compiler *c, const Program *p)
{
    for (int gi = 0; gi < p->ngraphs; gi++)
        shape_verify_graph(c, p, &p->graphs[gi]);
    return true;
}

bool shape_verify_graph(Compiler *c, const Program *p, const Graph *g)
{
    (void)p;
    {
        for (uint32_t i = 0; i < g->nnodes; i++) {
            const Node *n = &g->nodes[i];
            if (n->op == OP_input || n->op == OP_param || n->op == OP_model_call)
                continue;
            Shape in[MAX_DATA_INPUTS];
            DType dt[MAX_DATA_INPUTS];
            if (n->ndata > MAX_DATA_INPUTS)
                die("node with %d inputs", n->ndata);
            for (int k = 0; k < n->ndata; k++) {
                if (n->inputs[k] >= i)
                    die("%s: node %u uses %u, not yet defined", g->name, i, n->inputs[k]);
                in[k] = g->nodes[n->inputs[k]].shape;
                dt[k] = g->nodes[n->inputs[k]].dtype;
            }
            ShapeCtx s = { .c = c, .op = n->op, .call = ir_ops[n->op].name, .in = in,
                           .in_dtype = dt, .nin = n->ndata, .attrs = n->attrs };
            if (!shape_infer(&s))
                die("%s: node %u (%s) fails its shape rule: %s", g->name, i, ir_ops[n->op].name, s.err);
            if (!ir_shape_eq(&s.out, &n->shape) || s.out_dtype != n->dtype || s.out_unbatched != n->unbatched)
                die("%s: node %u (%s) holds %s, its rule gives %s", g->name, i, ir_ops[n->op].name,
                    ir_type_str(c, n->dtype, &n->shape), ir_type_str(c, s.out_dtype, &s.out));
            if (s.nparams != n->ninputs - n->ndata)
                die("%s: node %u (%s) has %d parameters, its rule declares %d", g->name, i,
                    ir_ops[n->op].name, n->ninputs - n->ndata, s.nparams);
            for (int k = 0; k < s.nparams; k++) {
                const Node *pn = &g->nodes[n->inputs[n->ndata + k]];
                if (pn->op != OP_param || !ir_shape_eq(&pn->shape, &s.params[k].shape))
                    die("%s: node %u (%s): parameter %s has the wrong shape", g->name, i,
                        ir_ops[n->op].name, s.params[k].suffix);
            }
        }
    }
    return true;
}
