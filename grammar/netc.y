/* netc.y — the grammar of .net files.
 * Requires: the lexer of netc.l. Produces: c->decls, a list of top-level
 * declarations. Actions are one-line calls to the ast_ builders of ast.c;
 * no logic lives here. AST nodes live in the compilation's arena, so there
 * is nothing for %destructor to free when error recovery drops symbols. */
%require "3.8"
%define api.pure full
%define api.location.type {Span}
%define parse.error custom
%locations
%expect 0
%param {void *scanner}
%parse-param {Compiler *c}

%code requires {
#include "compiler.h"
}

%code {
#include <string.h>
int yylex(union YYSTYPE *lval, Span *lloc, void *scanner);
static void yyerror(Span *loc, void *scanner, Compiler *c, const char *msg);
static bool unclosed_bracket(Compiler *c, Span *at);
#define YYLLOC_DEFAULT(cur, rhs, n)                                      \
    do {                                                                 \
        if (n) { (cur).begin = YYRHSLOC(rhs, 1).begin; (cur).end = YYRHSLOC(rhs, n).end; } \
        else { (cur).begin = (cur).end = YYRHSLOC(rhs, 0).end; }        \
    } while (0)
/* Deep nesting is refused by the AST builders long before this. */
#define YYMAXDEPTH 20000
}

%union {
    Ast *ast;
    AstList list;
    const char *text;
}

%token <text> IDENT "identifier" INT "integer" FLOAT "number" STRING "string" GLOB "parameter pattern"
%token MODEL "'model'" LAYER "'layer'" TRAIN "'train'" RETURN "'return'"
%token REPEAT "'repeat'" CONST "'const'" TRUE "'true'" FALSE "'false'" ARROW "'->'" LARROW "'<-'"

%type <ast> decl model layer train const param type stmt expr stage primary call ident titem mitem pattern
%type <list> decls params params_opt stmts exprs exprs_opt args args_opt titems aitems mitems patterns
%type <ast> arg ret_opt

/* Newlines are white space, so a statement ends where its expression
 * cannot go on. STMT ranks below every operator: `a = b - c` and `f (x)`
 * continue the expression rather than start a new statement. */
%precedence STMT
%precedence '('
%precedence ARROW
%left '+' '-'
%left '*' '/'
%precedence NEG

%%

file: decls                         { c->decls = $1; }
    ;
decls: %empty                       { $$ = ast_list_new(); }
    | decls decl                    { $$ = $2 ? ast_list_push(c, $1, $2) : $1; }
    ;
decl: model | layer | train | const
    | error '}'                     { $$ = NULL; }
    ;

model: MODEL ident '(' params_opt ')' ret_opt '{' stmts '}'
                                    { $$ = ast_model(c, AST_MODEL, @$, $2, $4, $6, $8); }
    ;
layer: LAYER ident '(' params_opt ')' ret_opt '{' stmts '}'
                                    { $$ = ast_model(c, AST_LAYER, @$, $2, $4, $6, $8); }
    ;
ret_opt: %empty                     { $$ = NULL; }
    | ARROW type                    { $$ = $2; }
    ;
const: CONST ident '=' expr         { $$ = ast_const(c, @$, $2, $4); }
    ;
params_opt: %empty                  { $$ = ast_list_new(); }
    | params                        { $$ = $1; }
    | params ','                    { $$ = $1; }
    ;
params: param                       { $$ = ast_list_push(c, ast_list_new(), $1); }
    | params ',' param              { $$ = ast_list_push(c, $1, $3); }
    ;
param: ident ':' type               { $$ = ast_param(c, @$, $1, $3, NULL); }
    | ident ':' type '=' expr       { $$ = ast_param(c, @$, $1, $3, $5); }
    ;
type: ident                         { $$ = ast_type(c, @$, $1, false, ast_list_new()); }
    | ident '[' exprs_opt ']'       { $$ = ast_type(c, @$, $1, true, $3); }
    ;

stmts: %empty                       { $$ = ast_list_new(); }
    | stmts stmt                    { $$ = $2 ? ast_list_push(c, $1, $2) : $1; }
    ;
stmt: ident '=' expr %prec STMT     { $$ = ast_let(c, @$, $1, $3); }
    | RETURN expr %prec STMT        { $$ = ast_return(c, @$, $2); }
    | expr %prec STMT               { $$ = ast_expr_stmt(c, $1); }
    | ';'                           { $$ = NULL; }
    ;

train: TRAIN ident '{' titems '}'   { $$ = ast_train(c, @$, $2, $4); }
    ;
titems: %empty                      { $$ = ast_list_new(); }
    | titems titem                  { $$ = $2 ? ast_list_push(c, $1, $2) : $1; }
    ;
titem: ident expr                   { $$ = ast_item(c, @$, $1, $2); }
    | ident '=' expr               { $$ = ast_item(c, @$, $1, $3); }
    | ident ident '{' titems '}'    { $$ = ast_step(c, @$, $1, $2, $4); }
    | ident '{' aitems '}'          { $$ = ast_augment(c, @$, $1, $3); }
    | ident call '{' mitems '}'     { $$ = ast_init(c, @$, $1, $2, $4); }
    | ';'                           { $$ = NULL; }
    ;
mitems: %empty                      { $$ = ast_list_new(); }
    | mitems mitem                  { $$ = ast_list_push(c, $1, $2); }
    | mitems ';'                    { $$ = $1; }
    ;
mitem: pattern LARROW pattern       { $$ = ast_map(c, @$, $1, $3); }
    | ident patterns                { $$ = ast_item(c, @$, $1, ast_list_expr(c, @2, $2)); }
    ;
patterns: pattern                   { $$ = ast_list_push(c, ast_list_new(), $1); }
    | patterns ',' pattern          { $$ = ast_list_push(c, $1, $3); }
    ;
pattern: ident
    | GLOB                          { $$ = ast_name(c, @$, $1); }
    | STRING                        { $$ = ast_string(c, @$, $1); }
    ;
aitems: %empty                      { $$ = ast_list_new(); }
    | aitems expr %prec STMT        { $$ = ast_list_push(c, $1, $2); }
    | aitems ';'                    { $$ = $1; }
    ;

expr: expr ARROW stage              { $$ = ast_chain(c, @$, $1, $3); }
    | expr '+' expr                 { $$ = ast_binary(c, @$, '+', $1, $3); }
    | expr '-' expr                 { $$ = ast_binary(c, @$, '-', $1, $3); }
    | expr '*' expr                 { $$ = ast_binary(c, @$, '*', $1, $3); }
    | expr '/' expr                 { $$ = ast_binary(c, @$, '/', $1, $3); }
    | '-' expr %prec NEG            { $$ = ast_neg(c, @$, $2); }
    | primary
    ;
stage: ident %prec STMT
    | call
    | ident ':' ident %prec STMT    { $$ = ast_label(c, @$, $1, ast_call(c, @3, $3, ast_list_new())); }
    | ident ':' call                { $$ = ast_label(c, @$, $1, $3); }
    | REPEAT primary stage          { $$ = ast_repeat(c, @$, $2, $3); }
    ;
primary: INT                        { $$ = ast_int(c, @$, $1); }
    | FLOAT                         { $$ = ast_float(c, @$, $1); }
    | STRING                        { $$ = ast_string(c, @$, $1); }
    | TRUE                          { $$ = ast_bool(c, @$, true); }
    | FALSE                         { $$ = ast_bool(c, @$, false); }
    | ident %prec STMT
    | call
    | ident ':' call                { $$ = ast_label(c, @$, $1, $3); }
    | '(' expr ')'                  { $$ = $2; }
    | '[' exprs_opt ']'             { $$ = ast_list_expr(c, @$, $2); }
    ;
call: ident '(' args_opt ')'        { $$ = ast_call(c, @$, $1, $3); }
    ;
args_opt: %empty                    { $$ = ast_list_new(); }
    | args                          { $$ = $1; }
    | args ','                      { $$ = $1; }
    ;
args: arg                           { $$ = ast_list_push(c, ast_list_new(), $1); }
    | args ',' arg                  { $$ = ast_list_push(c, $1, $3); }
    ;
arg: expr
    | ident '=' expr                { $$ = ast_kwarg(c, @$, $1, $3); }
    ;
exprs_opt: %empty                   { $$ = ast_list_new(); }
    | exprs                         { $$ = $1; }
    | exprs ','                     { $$ = $1; }
    ;
exprs: expr                         { $$ = ast_list_push(c, ast_list_new(), $1); }
    | exprs ',' expr                { $$ = ast_list_push(c, $1, $3); }
    ;
ident: IDENT                        { $$ = ast_name(c, @$, $1); }
    ;

%%

static void yyerror(Span *loc, void *scanner, Compiler *c, const char *msg)
{
    (void)scanner;
    if (strcmp(msg, "memory exhausted") == 0)
        diag_error(&c->diag, *loc, "program is nested too deeply");
    else
        diag_error(&c->diag, *loc, "%s", msg);
}

/* gcc's form: "expected ')' or ',' before 'x'". The unexpected token is
 * quoted from the source, so the user sees what they wrote. */
static int yyreport_syntax_error(const yypcontext_t *ctx, void *scanner, Compiler *c)
{
    (void)scanner;
    enum { MAX_EXPECTED = 6 };
    yysymbol_kind_t expected[MAX_EXPECTED];
    int n = yypcontext_expected_tokens(ctx, expected, MAX_EXPECTED);
    const Span *at = yypcontext_location(ctx);
    char want[256] = "unexpected";
    if (n > 0 && n < MAX_EXPECTED) {
        size_t len = (size_t)snprintf(want, sizeof want, "expected");
        for (int i = 0; i < n && len < sizeof want; i++)
            len += (size_t)snprintf(want + len, sizeof want - len, "%s%s",
                                    i == 0 ? " " : i == n - 1 ? " or " : ", ",
                                    yysymbol_name(expected[i]));
    }
    uint32_t width = at->end - at->begin;
    yysymbol_kind_t tok = yypcontext_token(ctx);
    /* `repeat` anywhere but after `->` is the usual slip; say how to write it. */
    const char *hint = tok == YYSYMBOL_REPEAT ? "; repeat is a chain stage: x -> repeat N layer(...)" : "";
    Span open;
    if (tok == YYSYMBOL_YYEOF) {
        if (n > 0 && n < MAX_EXPECTED)
            diag_error(&c->diag, *at, "%s at end of input", want);
        else
            diag_error(&c->diag, *at, "unexpected end of input");
        if (unclosed_bracket(c, &open))
            diag_note(&c->diag, open, "this '%c' is never closed", c->src.text[open.begin]);
    } else if (width > 0 && width <= 40) {
        diag_error(&c->diag, *at, "%s %s '%.*s'%s", want, n > 0 && n < MAX_EXPECTED ? "before" : "token",
                   (int)width, c->src.text + at->begin, hint);
    } else {
        diag_error(&c->diag, *at, "%s %s%s", want, yysymbol_name(tok), hint);
    }
    return 0;
}

/* The innermost bracket still open at the end of the file, skipping
 * comments and strings, for the note under "unexpected end of input". */
static bool unclosed_bracket(Compiler *c, Span *at)
{
    enum { MAX_OPEN = 4096 };
    static uint32_t stack[MAX_OPEN];
    int depth = 0;
    const char *t = c->src.text;
    for (size_t i = 0; i < c->src.len; i++) {
        char ch = t[i];
        if (ch == '#') {
            while (i + 1 < c->src.len && t[i + 1] != '\n')
                i++;
        } else if (ch == '"') {
            while (i + 1 < c->src.len && t[i + 1] != '"' && t[i + 1] != '\n')
                i += t[i + 1] == '\\' ? 2 : 1;
            i++;
        } else if (ch == '(' || ch == '[' || ch == '{') {
            if (depth == MAX_OPEN)
                return false;
            stack[depth++] = (uint32_t)i;
        } else if ((ch == ')' || ch == ']' || ch == '}') && depth > 0) {
            depth--;
        }
    }
    if (depth == 0)
        return false;
    at->begin = stack[depth - 1];
    at->end = at->begin + 1;
    return true;
}
