/* ast.c — AST builders called from the grammar's actions, and the AST dump.
 * Requires the arena. Produces nodes with spans; bounds expression nesting
 * so later recursive passes cannot overflow the stack on hostile input. */
#include "compiler.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 200 };

Ast *ast_new(Compiler *c, AstKind kind, Span span)
{
    Ast *n = arena_alloc(c->arena, sizeof *n);
    n->kind = kind;
    n->span = span;
    n->depth = 1;
    return n;
}

/* A node that carries a name: the name's text and where it stands. */
static Ast *ast_named(Compiler *c, AstKind kind, Span at, const Ast *name)
{
    Ast *n = ast_new(c, kind, at);
    n->name = name->name;
    n->name_span = name->span;
    return n;
}

AstList ast_list_new(void)
{
    AstList l = { NULL, 0 };
    return l;
}

/* A named node and its children: the one builder behind the declarations
 * (each sets what its kind has; the rest stay empty). */
static Ast *ast_decl(Compiler *c, AstKind kind, Span at, const Ast *name, Ast *lhs, AstList list, AstList body)
{
    Ast *n = ast_named(c, kind, at, name);
    n->lhs = lhs;
    n->list = list;
    n->body = body;
    return n;
}

/* Doubling growth inside the arena: lists only grow while parsing. */
AstList ast_list_push(Compiler *c, AstList l, Ast *item)
{
    if ((l.count & (l.count - 1)) == 0) /* 0, 1, 2, 4, ...: full */
        l.items = arena_grow(c->arena, l.items, (size_t)l.count,
                             l.count ? (size_t)l.count * 2 : 1, sizeof *l.items);
    l.items[l.count++] = item;
    return l;
}

/* A node deeper than MAX_DEPTH is replaced by a harmless literal after one
 * error, so the AST handed on stays shallow. */
static Ast *bounded(Compiler *c, Ast *n)
{
    if (n->depth <= MAX_DEPTH)
        return n;
    if (!c->too_deep) {
        c->too_deep = true;
        diag_error(&c->diag, n->span, "expression is nested more than %d levels deep; split it with let-bindings", MAX_DEPTH);
    }
    Ast *lit = ast_new(c, AST_INT, n->span);
    return lit;
}

static int deeper(const Ast *a, const Ast *b)
{
    int da = a ? a->depth : 0, db = b ? b->depth : 0;
    return (da > db ? da : db) + 1;
}

/* Newlines are white space, so `a = b` then a line `-c` is one statement,
 * `a = b - c`; and `f` then a line `(x)` is a call. Both are legal and
 * almost never meant: say so where a newline stands between the two. */
static void warn_if_joined(Compiler *c, uint32_t from, char what, const char *how)
{
    const char *t = c->src.text;
    bool newline = false;
    for (uint32_t i = from; i < c->src.len; i++) {
        if (t[i] == '#')
            while (i < c->src.len && t[i] != '\n')
                i++;
        if (i >= c->src.len)
            return;
        if (t[i] == '\n')
            newline = true;
        else if (t[i] == what) {
            if (newline) {
                Span s = { i, i + 1 };
                diag_warning(&c->diag, s, "this '%c' on a new line %s the line above; end that line with ';' if a new statement starts here",
                             what, how);
            }
            return;
        } else if (t[i] != ' ' && t[i] != '\t' && t[i] != '\r') {
            return;
        }
    }
}

Ast *ast_int(Compiler *c, Span at, const char *text)
{
    Ast *n = ast_new(c, AST_INT, at);
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (errno == ERANGE || *end) {
        diag_error(&c->diag, at, "integer literal is too large (the limit is %lld)", (long long)INT64_MAX);
        v = 0;
    }
    n->ival = v;
    return n;
}

Ast *ast_float(Compiler *c, Span at, const char *text)
{
    Ast *n = ast_new(c, AST_FLOAT, at);
    errno = 0;
    double v = strtod(text, NULL);
    if (errno == ERANGE && (isinf(v) || v == HUGE_VAL)) {
        diag_error(&c->diag, at, "number literal is out of range");
        v = 0;
    }
    n->fval = v;
    return n;
}

/* Escapes: \" \\ \n \t; any other is an error pointing at it. */
Ast *ast_string(Compiler *c, Span at, const char *text)
{
    Ast *n = ast_new(c, AST_STRING, at);
    size_t len = strlen(text);
    char *out = arena_alloc(c->arena, len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '\\') {
            *o++ = text[i];
            continue;
        }
        char e = text[++i];
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        default: {
            Span es = { at.begin + 1 + (uint32_t)i - 1, at.begin + 1 + (uint32_t)i + 1 };
            diag_error(&c->diag, es, "unknown escape sequence '\\%c'; use \\\\ for a backslash", e);
            *o++ = e;
        }
        }
    }
    *o = '\0';
    n->str = out;
    return n;
}

Ast *ast_bool(Compiler *c, Span at, bool v)
{
    Ast *n = ast_new(c, AST_BOOL, at);
    n->ival = v;
    return n;
}

Ast *ast_name(Compiler *c, Span at, const char *name)
{
    Ast *n = ast_new(c, AST_NAME, at);
    n->name = name;
    n->name_span = at;
    return n;
}

Ast *ast_call(Compiler *c, Span at, Ast *callee, AstList args)
{
    warn_if_joined(c, callee->span.end, '(', "calls the name that ends");
    Ast *n = ast_named(c, AST_CALL, at, callee);
    n->list = args;
    int d = 0;
    for (int i = 0; i < args.count; i++)
        if (args.items[i]->depth > d)
            d = args.items[i]->depth;
    n->depth = d + 1;
    return bounded(c, n);
}

Ast *ast_label(Compiler *c, Span at, Ast *label, Ast *call)
{
    (void)c;
    if (call->kind != AST_CALL)
        return call; /* a nesting error replaced it */
    call->label = label->name;
    call->label_span = label->span;
    call->span = at;
    return call;
}

Ast *ast_binary(Compiler *c, Span at, char op, Ast *lhs, Ast *rhs)
{
    if (op == '-')
        warn_if_joined(c, lhs->span.end, '-', "subtracts from the expression on");
    Ast *n = ast_new(c, AST_BINARY, at);
    n->op = op;
    n->lhs = lhs;
    n->rhs = rhs;
    n->depth = deeper(lhs, rhs);
    return bounded(c, n);
}

Ast *ast_neg(Compiler *c, Span at, Ast *e)
{
    Ast *n = ast_new(c, AST_NEG, at);
    n->lhs = e;
    n->depth = deeper(e, NULL);
    return bounded(c, n);
}

/* Chains stay flat (a list of stages), so a chain of any length is one
 * level of nesting. */
Ast *ast_chain(Compiler *c, Span at, Ast *chain, Ast *stage)
{
    if (chain->kind != AST_CHAIN) {
        Ast *n = ast_new(c, AST_CHAIN, at);
        n->list = ast_list_push(c, n->list, chain);
        n->depth = chain->depth + 1;
        chain = n;
    }
    chain->list = ast_list_push(c, chain->list, stage);
    chain->span = at;
    if (stage->depth + 1 > chain->depth)
        chain->depth = stage->depth + 1;
    return bounded(c, chain);
}

Ast *ast_repeat(Compiler *c, Span at, Ast *count, Ast *stage)
{
    Ast *n = ast_new(c, AST_REPEAT, at);
    n->lhs = count;
    n->rhs = stage;
    n->depth = deeper(count, stage);
    return bounded(c, n);
}

Ast *ast_list_expr(Compiler *c, Span at, AstList items)
{
    Ast *n = ast_new(c, AST_LIST, at);
    n->list = items;
    for (int i = 0; i < items.count; i++)
        if (items.items[i]->depth + 1 > n->depth)
            n->depth = items.items[i]->depth + 1;
    return bounded(c, n);
}

Ast *ast_kwarg(Compiler *c, Span at, Ast *key, Ast *value)
{
    Ast *n = ast_named(c, AST_KWARG, at, key);
    n->lhs = value;
    n->depth = value->depth;
    return n;
}

Ast *ast_type(Compiler *c, Span at, Ast *name, bool has_dims, AstList dims)
{
    Ast *n = ast_decl(c, AST_TYPE, at, name, NULL, dims, ast_list_new());
    n->has_dims = has_dims;
    return n;
}

Ast *ast_let(Compiler *c, Span at, Ast *name, Ast *value)
{
    return ast_decl(c, AST_LET, at, name, value, ast_list_new(), ast_list_new());
}

Ast *ast_return(Compiler *c, Span at, Ast *value)
{
    Ast *n = ast_new(c, AST_RETURN, at);
    n->lhs = value;
    return n;
}

Ast *ast_expr_stmt(Compiler *c, Ast *e)
{
    Ast *n = ast_new(c, AST_EXPR, e->span);
    n->lhs = e;
    return n;
}

Ast *ast_param(Compiler *c, Span at, Ast *name, Ast *type, Ast *dflt)
{
    Ast *n = ast_decl(c, AST_PARAM, at, name, dflt, ast_list_new(), ast_list_new());
    n->type = type;
    return n;
}

Ast *ast_model(Compiler *c, AstKind kind, Span at, Ast *name, AstList params, Ast *ret, AstList body)
{
    Ast *n = ast_decl(c, kind, at, name, NULL, params, body);
    n->type = ret;
    return n;
}

Ast *ast_const(Compiler *c, Span at, Ast *name, Ast *value)
{
    return ast_decl(c, AST_CONST, at, name, value, ast_list_new(), ast_list_new());
}

Ast *ast_train(Compiler *c, Span at, Ast *name, AstList items)
{
    return ast_decl(c, AST_TRAIN, at, name, NULL, items, ast_list_new());
}

Ast *ast_item(Compiler *c, Span at, Ast *key, Ast *value)
{
    return ast_decl(c, AST_ITEM, at, key, value, ast_list_new(), ast_list_new());
}

Ast *ast_step(Compiler *c, Span at, Ast *key, Ast *target, AstList items)
{
    Ast *n = ast_named(c, AST_STEP, at, key);
    n->label = target->name;
    n->label_span = target->span;
    n->body = items;
    return n;
}

Ast *ast_augment(Compiler *c, Span at, Ast *key, AstList items)
{
    return ast_decl(c, AST_AUGMENT, at, key, NULL, ast_list_new(), items);
}

Ast *ast_init(Compiler *c, Span at, Ast *key, Ast *source, AstList items)
{
    return ast_decl(c, AST_INIT, at, key, source, ast_list_new(), items);
}

Ast *ast_map(Compiler *c, Span at, Ast *dst, Ast *src)
{
    Ast *n = ast_new(c, AST_MAP, at);
    n->lhs = dst;
    n->rhs = src;
    return n;
}

/* ------------------------------------------------------------- dumping */

static void dump_expr(FILE *out, const Ast *n);

static void dump_list(FILE *out, const AstList *l, const char *sep)
{
    for (int i = 0; i < l->count; i++) {
        if (i)
            fputs(sep, out);
        dump_expr(out, l->items[i]);
    }
}

static void dump_expr(FILE *out, const Ast *n)
{
    switch (n->kind) {
    case AST_INT: fprintf(out, "%lld", (long long)n->ival); break;
    case AST_FLOAT: fprintf(out, "%g", n->fval); break;
    case AST_STRING: fprintf(out, "\"%s\"", n->str); break;
    case AST_BOOL: fputs(n->ival ? "true" : "false", out); break;
    case AST_NAME: fputs(n->name, out); break;
    case AST_CALL:
        if (n->label)
            fprintf(out, "%s: ", n->label);
        fprintf(out, "%s(", n->name);
        dump_list(out, &n->list, ", ");
        fputc(')', out);
        break;
    case AST_BINARY:
        fputc('(', out);
        dump_expr(out, n->lhs);
        fprintf(out, " %c ", n->op);
        dump_expr(out, n->rhs);
        fputc(')', out);
        break;
    case AST_NEG: fputs("-", out); dump_expr(out, n->lhs); break;
    case AST_CHAIN: fputc('(', out); dump_list(out, &n->list, " -> "); fputc(')', out); break;
    case AST_REPEAT: fputs("repeat ", out); dump_expr(out, n->lhs); fputc(' ', out); dump_expr(out, n->rhs); break;
    case AST_LIST: fputc('[', out); dump_list(out, &n->list, ", "); fputc(']', out); break;
    case AST_KWARG: fprintf(out, "%s = ", n->name); dump_expr(out, n->lhs); break;
    case AST_TYPE:
        fputs(n->name, out);
        if (n->has_dims) {
            fputc('[', out);
            dump_list(out, &n->list, ", ");
            fputc(']', out);
        }
        break;
    case AST_PARAM:
        fprintf(out, "%s: ", n->name);
        dump_expr(out, n->type);
        if (n->lhs) {
            fputs(" = ", out);
            dump_expr(out, n->lhs);
        }
        break;
    case AST_LET: case AST_RETURN: case AST_EXPR: case AST_MODEL: case AST_LAYER:
    case AST_CONST: case AST_TRAIN: case AST_ITEM: case AST_STEP: case AST_AUGMENT: case AST_INIT:
        fputs("<not an expression>", out);
        break;
    case AST_MAP:
        dump_expr(out, n->lhs);
        fputs(" <- ", out);
        dump_expr(out, n->rhs);
        break;
    }
}

static void dump_block(FILE *out, const AstList *body, int indent)
{
    for (int i = 0; i < body->count; i++) {
        const Ast *s = body->items[i];
        fprintf(out, "%*s", indent, "");
        switch (s->kind) {
        case AST_LET: fprintf(out, "%s = ", s->name); dump_expr(out, s->lhs); break;
        case AST_RETURN: fputs("return ", out); dump_expr(out, s->lhs); break;
        case AST_ITEM: fprintf(out, "%s ", s->name); dump_expr(out, s->lhs); break;
        case AST_STEP:
            fprintf(out, "%s %s {\n", s->name, s->label);
            dump_block(out, &s->body, indent + 4);
            fprintf(out, "%*s}", indent, "");
            break;
        case AST_INIT:
            fprintf(out, "%s ", s->name);
            dump_expr(out, s->lhs);
            fputs(" {\n", out);
            dump_block(out, &s->body, indent + 4);
            fprintf(out, "%*s}", indent, "");
            break;
        case AST_AUGMENT:
            fprintf(out, "%s {\n", s->name);
            dump_block(out, &s->body, indent + 4);
            fprintf(out, "%*s}", indent, "");
            break;
        case AST_EXPR: dump_expr(out, s->lhs); break;
        default: dump_expr(out, s); break;
        }
        fputc('\n', out);
    }
}

void ast_dump(FILE *out, const AstList *decls)
{
    for (int i = 0; i < decls->count; i++) {
        const Ast *d = decls->items[i];
        switch (d->kind) {
        case AST_MODEL:
        case AST_LAYER:
            fprintf(out, "%s %s(", d->kind == AST_MODEL ? "model" : "layer", d->name);
            dump_list(out, &d->list, ", ");
            fputc(')', out);
            if (d->type) {
                fputs(" -> ", out);
                dump_expr(out, d->type);
            }
            fputs(" {\n", out);
            dump_block(out, &d->body, 4);
            fputs("}\n", out);
            break;
        case AST_CONST:
            fprintf(out, "const %s = ", d->name);
            dump_expr(out, d->lhs);
            fputc('\n', out);
            break;
        case AST_TRAIN:
            fprintf(out, "train %s {\n", d->name);
            dump_block(out, &d->list, 4);
            fputs("}\n", out);
            break;
        default:
            dump_expr(out, d);
            fputc('\n', out);
            break;
        }
    }
}
