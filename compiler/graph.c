/* graph.c — `netc graph`: every model as a Graphviz digraph, one box per
 * layer call (name, op, output type, parameters), parameters folded into
 * the layer that owns them. Requires a checked program. */
#include "compiler.h"

#include <string.h>

/* Dot strings: quotes and backslashes escaped; names are identifiers, but
 * file names in the future may not be. */
static void dot_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
}

void graph_dot(FILE *out, Compiler *c)
{
    const Program *p = c->prog;
    fputs("digraph netc {\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\", fontname=\"Helvetica\", fontsize=10];\n  edge [color=\"#555555\", fontsize=9, fontname=\"Helvetica\"];\n", out);
    for (int gi = 0; gi < p->nmodels; gi++) {
        const Graph *g = &p->graphs[gi];
        fprintf(out, "  subgraph cluster_%d {\n    label=\"", gi);
        dot_text(out, g->name);
        fputs("\"; fontname=\"Helvetica-Bold\"; color=\"#8899aa\";\n", out);
        for (uint32_t i = 0; i < g->nnodes; i++) {
            const Node *n = &g->nodes[i];
            if (n->op == OP_param)
                continue;
            fprintf(out, "    g%d_n%u [label=\"", gi, i);
            dot_text(out, n->name ? n->name : ir_ops[n->op].name);
            if (n->op != OP_input) {
                fputs("\\n", out);
                dot_text(out, ir_ops[n->op].name);
            }
            fputs("\\n", out);
            dot_text(out, ir_type_str(c, n->dtype, &n->shape));
            int64_t params = summary_node_params(p, g, n);
            if (params)
                fprintf(out, "\\n%lld params", (long long)params);
            fputc('"', out);
            if (n->op == OP_input)
                fputs(", shape=ellipse, fillcolor=\"#e8f5e9\"", out);
            else if (g->has_output && i == g->output)
                fputs(", fillcolor=\"#fff3e0\", penwidth=2", out);
            fputs("];\n", out);
            for (int k = 0; k < n->ndata; k++)
                fprintf(out, "    g%d_n%u -> g%d_n%u;\n", gi, n->inputs[k], gi, i);
        }
        fputs("  }\n", out);
    }
    fputs("}\n", out);
}
