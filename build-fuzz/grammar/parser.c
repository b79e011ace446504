/* A Bison parser, made by GNU Bison 3.8.2.  */

/* Bison implementation for Yacc-like parsers in C

   Copyright (C) 1984, 1989-1990, 2000-2015, 2018-2021 Free Software Foundation,
   Inc.

   This program is free software: you can redistribute it and/or modify
   it under the terms of the GNU General Public License as published by
   the Free Software Foundation, either version 3 of the License, or
   (at your option) any later version.

   This program is distributed in the hope that it will be useful,
   but WITHOUT ANY WARRANTY; without even the implied warranty of
   MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
   GNU General Public License for more details.

   You should have received a copy of the GNU General Public License
   along with this program.  If not, see <https://www.gnu.org/licenses/>.  */

/* As a special exception, you may create a larger work that contains
   part or all of the Bison parser skeleton and distribute that work
   under terms of your choice, so long as that work isn't itself a
   parser generator using the skeleton or a modified version thereof
   as a parser skeleton.  Alternatively, if you modify or redistribute
   the parser skeleton itself, you may (at your option) remove this
   special exception, which will cause the skeleton and the resulting
   Bison output files to be licensed under the GNU General Public
   License without this special exception.

   This special exception was added by the Free Software Foundation in
   version 2.2 of Bison.  */

/* C LALR(1) parser skeleton written by Richard Stallman, by
   simplifying the original so-called "semantic" parser.  */

/* DO NOT RELY ON FEATURES THAT ARE NOT DOCUMENTED in the manual,
   especially those whose name start with YY_ or yy_.  They are
   private implementation details that can be changed or removed.  */

/* All symbols defined below should begin with yy or YY, to avoid
   infringing on user name space.  This should be done even for local
   variables, as they might otherwise be expanded by user macros.
   There are some unavoidable exceptions within include files to
   define necessary library symbols; they are noted "INFRINGES ON
   USER NAME SPACE" below.  */

/* Identify Bison output, and Bison version.  */
#define YYBISON 30802

/* Bison version string.  */
#define YYBISON_VERSION "3.8.2"

/* Skeleton name.  */
#define YYSKELETON_NAME "yacc.c"

/* Pure parsers.  */
#define YYPURE 2

/* Push parsers.  */
#define YYPUSH 0

/* Pull parsers.  */
#define YYPULL 1





# ifndef YY_CAST
#  ifdef __cplusplus
#   define YY_CAST(Type, Val) static_cast<Type> (Val)
#   define YY_REINTERPRET_CAST(Type, Val) reinterpret_cast<Type> (Val)
#  else
#   define YY_CAST(Type, Val) ((Type) (Val))
#   define YY_REINTERPRET_CAST(Type, Val) ((Type) (Val))
#  endif
# endif
# ifndef YY_NULLPTR
#  if defined __cplusplus
#   if 201103L <= __cplusplus
#    define YY_NULLPTR nullptr
#   else
#    define YY_NULLPTR 0
#   endif
#  else
#   define YY_NULLPTR ((void*)0)
#  endif
# endif

#include "parser.h"
/* Symbol kind.  */
enum yysymbol_kind_t
{
  YYSYMBOL_YYEMPTY = -2,
  YYSYMBOL_YYEOF = 0,                      /* "end of file"  */
  YYSYMBOL_YYerror = 1,                    /* error  */
  YYSYMBOL_YYUNDEF = 2,                    /* "invalid token"  */
  YYSYMBOL_IDENT = 3,                      /* "identifier"  */
  YYSYMBOL_INT = 4,                        /* "integer"  */
  YYSYMBOL_FLOAT = 5,                      /* "number"  */
  YYSYMBOL_STRING = 6,                     /* "string"  */
  YYSYMBOL_MODEL = 7,                      /* "'model'"  */
  YYSYMBOL_LAYER = 8,                      /* "'layer'"  */
  YYSYMBOL_TRAIN = 9,                      /* "'train'"  */
  YYSYMBOL_RETURN = 10,                    /* "'return'"  */
  YYSYMBOL_REPEAT = 11,                    /* "'repeat'"  */
  YYSYMBOL_CONST = 12,                     /* "'const'"  */
  YYSYMBOL_TRUE = 13,                      /* "'true'"  */
  YYSYMBOL_FALSE = 14,                     /* "'false'"  */
  YYSYMBOL_ARROW = 15,                     /* "'->'"  */
  YYSYMBOL_STMT = 16,                      /* STMT  */
  YYSYMBOL_17_ = 17,                       /* '('  */
  YYSYMBOL_18_ = 18,                       /* '+'  */
  YYSYMBOL_19_ = 19,                       /* '-'  */
  YYSYMBOL_20_ = 20,                       /* '*'  */
  YYSYMBOL_21_ = 21,                       /* '/'  */
  YYSYMBOL_NEG = 22,                       /* NEG  */
  YYSYMBOL_23_ = 23,                       /* '}'  */
  YYSYMBOL_24_ = 24,                       /* ')'  */
  YYSYMBOL_25_ = 25,                       /* '{'  */
  YYSYMBOL_26_ = 26,                       /* '='  */
  YYSYMBOL_27_ = 27,                       /* ','  */
  YYSYMBOL_28_ = 28,                       /* ':'  */
  YYSYMBOL_29_ = 29,                       /* '['  */
  YYSYMBOL_30_ = 30,                       /* ']'  */
  YYSYMBOL_31_ = 31,                       /* ';'  */
  YYSYMBOL_YYACCEPT = 32,                  /* $accept  */
  YYSYMBOL_file = 33,                      /* file  */
  YYSYMBOL_decls = 34,                     /* decls  */
  YYSYMBOL_decl = 35,                      /* decl  */
  YYSYMBOL_model = 36,                     /* model  */
  YYSYMBOL_layer = 37,                     /* layer  */
  YYSYMBOL_ret_opt = 38,                   /* ret_opt  */
  YYSYMBOL_const = 39,                     /* const  */
  YYSYMBOL_params_opt = 40,                /* params_opt  */
  YYSYMBOL_params = 41,                    /* params  */
  YYSYMBOL_param = 42,                     /* param  */
  YYSYMBOL_type = 43,                      /* type  */
  YYSYMBOL_stmts = 44,                     /* stmts  */
  YYSYMBOL_stmt = 45,                      /* stmt  */
  YYSYMBOL_train = 46,                     /* train  */
  YYSYMBOL_titems = 47,                    /* titems  */
  YYSYMBOL_titem = 48,                     /* titem  */
  YYSYMBOL_aitems = 49,                    /* aitems  */
  YYSYMBOL_expr = 50,                      /* expr  */
  YYSYMBOL_stage = 51,                     /* stage  */
  YYSYMBOL_primary = 52,                   /* primary  */
  YYSYMBOL_call = 53,                      /* call  */
  YYSYMBOL_args_opt = 54,                  /* args_opt  */
  YYSYMBOL_args = 55,                      /* args  */
  YYSYMBOL_arg = 56,                       /* arg  */
  YYSYMBOL_exprs_opt = 57,                 /* exprs_opt  */
  YYSYMBOL_exprs = 58,                     /* exprs  */
  YYSYMBOL_ident = 59                      /* ident  */
};
typedef enum yysymbol_kind_t yysymbol_kind_t;



/* Unqualified %code blocks.  */
#line 19 "grammar/netc.y"

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

#line 177 "build-fuzz/grammar/parser.c"

#ifdef short
# undef short
#endif

/* On compilers that do not define __PTRDIFF_MAX__ etc., make sure
   <limits.h> and (if available) <stdint.h> are included
   so that the code can choose integer types of a good width.  */

#ifndef __PTRDIFF_MAX__
# include <limits.h> /* INFRINGES ON USER NAME SPACE */
# if defined __STDC_VERSION__ && 199901 <= __STDC_VERSION__
#  include <stdint.h> /* INFRINGES ON USER NAME SPACE */
#  define YY_STDINT_H
# endif
#endif

/* Narrow types that promote to a signed type and that can represent a
   signed or unsigned integer of at least N bits.  In tables they can
   save space and decrease cache pressure.  Promoting to a signed type
   helps avoid bugs in integer arithmetic.  */

#ifdef __INT_LEAST8_MAX__
typedef __INT_LEAST8_TYPE__ yytype_int8;
#elif defined YY_STDINT_H
typedef int_least8_t yytype_int8;
#else
typedef signed char yytype_int8;
#endif

#ifdef __INT_LEAST16_MAX__
typedef __INT_LEAST16_TYPE__ yytype_int16;
#elif defined YY_STDINT_H
typedef int_least16_t yytype_int16;
#else
typedef short yytype_int16;
#endif

/* Work around bug in HP-UX 11.23, which defines these macros
   incorrectly for preprocessor constants.  This workaround can likely
   be removed in 2023, as HPE has promised support for HP-UX 11.23
   (aka HP-UX 11i v2) only through the end of 2022; see Table 2 of
   <https://h20195.www2.hpe.com/V2/getpdf.aspx/4AA4-7673ENW.pdf>.  */
#ifdef __hpux
# undef UINT_LEAST8_MAX
# undef UINT_LEAST16_MAX
# define UINT_LEAST8_MAX 255
# define UINT_LEAST16_MAX 65535
#endif

#if defined __UINT_LEAST8_MAX__ && __UINT_LEAST8_MAX__ <= __INT_MAX__
typedef __UINT_LEAST8_TYPE__ yytype_uint8;
#elif (!defined __UINT_LEAST8_MAX__ && defined YY_STDINT_H \
       && UINT_LEAST8_MAX <= INT_MAX)
typedef uint_least8_t yytype_uint8;
#elif !defined __UINT_LEAST8_MAX__ && UCHAR_MAX <= INT_MAX
typedef unsigned char yytype_uint8;
#else
typedef short yytype_uint8;
#endif

#if defined __UINT_LEAST16_MAX__ && __UINT_LEAST16_MAX__ <= __INT_MAX__
typedef __UINT_LEAST16_TYPE__ yytype_uint16;
#elif (!defined __UINT_LEAST16_MAX__ && defined YY_STDINT_H \
       && UINT_LEAST16_MAX <= INT_MAX)
typedef uint_least16_t yytype_uint16;
#elif !defined __UINT_LEAST16_MAX__ && USHRT_MAX <= INT_MAX
typedef unsigned short yytype_uint16;
#else
typedef int yytype_uint16;
#endif

#ifndef YYPTRDIFF_T
# if defined __PTRDIFF_TYPE__ && defined __PTRDIFF_MAX__
#  define YYPTRDIFF_T __PTRDIFF_TYPE__
#  define YYPTRDIFF_MAXIMUM __PTRDIFF_MAX__
# elif defined PTRDIFF_MAX
#  ifndef ptrdiff_t
#   include <stddef.h> /* INFRINGES ON USER NAME SPACE */
#  endif
#  define YYPTRDIFF_T ptrdiff_t
#  define YYPTRDIFF_MAXIMUM PTRDIFF_MAX
# else
#  define YYPTRDIFF_T long
#  define YYPTRDIFF_MAXIMUM LONG_MAX
# endif
#endif

#ifndef YYSIZE_T
# ifdef __SIZE_TYPE__
#  define YYSIZE_T __SIZE_TYPE__
# elif defined size_t
#  define YYSIZE_T size_t
# elif defined __STDC_VERSION__ && 199901 <= __STDC_VERSION__
#  include <stddef.h> /* INFRINGES ON USER NAME SPACE */
#  define YYSIZE_T size_t
# else
#  define YYSIZE_T unsigned
# endif
#endif

#define YYSIZE_MAXIMUM                                  \
  YY_CAST (YYPTRDIFF_T,                                 \
           (YYPTRDIFF_MAXIMUM < YY_CAST (YYSIZE_T, -1)  \
            ? YYPTRDIFF_MAXIMUM                         \
            : YY_CAST (YYSIZE_T, -1)))

#define YYSIZEOF(X) YY_CAST (YYPTRDIFF_T, sizeof (X))


/* Stored state numbers (used for stacks). */
typedef yytype_int8 yy_state_t;

/* State numbers in computations.  */
typedef int yy_state_fast_t;

#ifndef YY_
# if defined YYENABLE_NLS && YYENABLE_NLS
#  if ENABLE_NLS
#   include <libintl.h> /* INFRINGES ON USER NAME SPACE */
#   define YY_(Msgid) dgettext ("bison-runtime", Msgid)
#  endif
# endif
# ifndef YY_
#  define YY_(Msgid) Msgid
# endif
#endif


#ifndef YY_ATTRIBUTE_PURE
# if defined __GNUC__ && 2 < __GNUC__ + (96 <= __GNUC_MINOR__)
#  define YY_ATTRIBUTE_PURE __attribute__ ((__pure__))
# else
#  define YY_ATTRIBUTE_PURE
# endif
#endif

#ifndef YY_ATTRIBUTE_UNUSED
# if defined __GNUC__ && 2 < __GNUC__ + (7 <= __GNUC_MINOR__)
#  define YY_ATTRIBUTE_UNUSED __attribute__ ((__unused__))
# else
#  define YY_ATTRIBUTE_UNUSED
# endif
#endif

/* Suppress unused-variable warnings by "using" E.  */
#if ! defined lint || defined __GNUC__
# define YY_USE(E) ((void) (E))
#else
# define YY_USE(E) /* empty */
#endif

/* Suppress an incorrect diagnostic about yylval being uninitialized.  */
#if defined __GNUC__ && ! defined __ICC && 406 <= __GNUC__ * 100 + __GNUC_MINOR__
# if __GNUC__ * 100 + __GNUC_MINOR__ < 407
#  define YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN                           \
    _Pragma ("GCC diagnostic push")                                     \
    _Pragma ("GCC diagnostic ignored \"-Wuninitialized\"")
# else
#  define YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN                           \
    _Pragma ("GCC diagnostic push")                                     \
    _Pragma ("GCC diagnostic ignored \"-Wuninitialized\"")              \
    _Pragma ("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
# endif
# define YY_IGNORE_MAYBE_UNINITIALIZED_END      \
    _Pragma ("GCC diagnostic pop")
#else
# define YY_INITIAL_VALUE(Value) Value
#endif
#ifndef YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
# define YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
# define YY_IGNORE_MAYBE_UNINITIALIZED_END
#endif
#ifndef YY_INITIAL_VALUE
# define YY_INITIAL_VALUE(Value) /* Nothing. */
#endif

#if defined __cplusplus && defined __GNUC__ && ! defined __ICC && 6 <= __GNUC__
# define YY_IGNORE_USELESS_CAST_BEGIN                          \
    _Pragma ("GCC diagnostic push")                            \
    _Pragma ("GCC diagnostic ignored \"-Wuseless-cast\"")
# define YY_IGNORE_USELESS_CAST_END            \
    _Pragma ("GCC diagnostic pop")
#endif
#ifndef YY_IGNORE_USELESS_CAST_BEGIN
# define YY_IGNORE_USELESS_CAST_BEGIN
# define YY_IGNORE_USELESS_CAST_END
#endif


#define YY_ASSERT(E) ((void) (0 && (E)))

#if 1

/* The parser invokes alloca or malloc; define the necessary symbols.  */

# ifdef YYSTACK_USE_ALLOCA
#  if YYSTACK_USE_ALLOCA
#   ifdef __GNUC__
#    define YYSTACK_ALLOC __builtin_alloca
#   elif defined __BUILTIN_VA_ARG_INCR
#    include <alloca.h> /* INFRINGES ON USER NAME SPACE */
#   elif defined _AIX
#    define YYSTACK_ALLOC __alloca
#   elif defined _MSC_VER
#    include <malloc.h> /* INFRINGES ON USER NAME SPACE */
#    define alloca _alloca
#   else
#    define YYSTACK_ALLOC alloca
#    if ! defined _ALLOCA_H && ! defined EXIT_SUCCESS
#     include <stdlib.h> /* INFRINGES ON USER NAME SPACE */
      /* Use EXIT_SUCCESS as a witness for stdlib.h.  */
#     ifndef EXIT_SUCCESS
#      define EXIT_SUCCESS 0
#     endif
#    endif
#   endif
#  endif
# endif

# ifdef YYSTACK_ALLOC
   /* Pacify GCC's 'empty if-body' warning.  */
#  define YYSTACK_FREE(Ptr) do { /* empty */; } while (0)
#  ifndef YYSTACK_ALLOC_MAXIMUM
    /* The OS might guarantee only one guard page at the bottom of the stack,
       and a page size can be as small as 4096 bytes.  So we cannot safely
       invoke alloca (N) if N exceeds 4096.  Use a slightly smaller number
       to allow for a few compiler-allocated temporary stack slots.  */
#   define YYSTACK_ALLOC_MAXIMUM 4032 /* reasonable circa 2006 */
#  endif
# else
#  define YYSTACK_ALLOC YYMALLOC
#  define YYSTACK_FREE YYFREE
#  ifndef YYSTACK_ALLOC_MAXIMUM
#   define YYSTACK_ALLOC_MAXIMUM YYSIZE_MAXIMUM
#  endif
#  if (defined __cplusplus && ! defined EXIT_SUCCESS \
       && ! ((defined YYMALLOC || defined malloc) \
             && (defined YYFREE || defined free)))
#   include <stdlib.h> /* INFRINGES ON USER NAME SPACE */
#   ifndef EXIT_SUCCESS
#    define EXIT_SUCCESS 0
#   endif
#  endif
#  ifndef YYMALLOC
#   define YYMALLOC malloc
#   if ! defined malloc && ! defined EXIT_SUCCESS
void *malloc (YYSIZE_T); /* INFRINGES ON USER NAME SPACE */
#   endif
#  endif
#  ifndef YYFREE
#   define YYFREE free
#   if ! defined free && ! defined EXIT_SUCCESS
void free (void *); /* INFRINGES ON USER NAME SPACE */
#   endif
#  endif
# endif
#endif /* 1 */

#if (! defined yyoverflow \
     && (! defined __cplusplus \
         || (defined YYLTYPE_IS_TRIVIAL && YYLTYPE_IS_TRIVIAL \
             && defined YYSTYPE_IS_TRIVIAL && YYSTYPE_IS_TRIVIAL)))

/* A type that is properly aligned for any stack member.  */
union yyalloc
{
  yy_state_t yyss_alloc;
  YYSTYPE yyvs_alloc;
  YYLTYPE yyls_alloc;
};

/* The size of the maximum gap between one aligned stack and the next.  */
# define YYSTACK_GAP_MAXIMUM (YYSIZEOF (union yyalloc) - 1)

/* The size of an array large to enough to hold all stacks, each with
   N elements.  */
# define YYSTACK_BYTES(N) \
     ((N) * (YYSIZEOF (yy_state_t) + YYSIZEOF (YYSTYPE) \
             + YYSIZEOF (YYLTYPE)) \
      + 2 * YYSTACK_GAP_MAXIMUM)

# define YYCOPY_NEEDED 1

/* Relocate STACK from its old location to the new one.  The
   local variables YYSIZE and YYSTACKSIZE give the old and new number of
   elements in the stack, and YYPTR gives the new location of the
   stack.  Advance YYPTR to a properly aligned location for the next
   stack.  */
# define YYSTACK_RELOCATE(Stack_alloc, Stack)                           \
    do                                                                  \
      {                                                                 \
        YYPTRDIFF_T yynewbytes;                                         \
        YYCOPY (&yyptr->Stack_alloc, Stack, yysize);                    \
        Stack = &yyptr->Stack_alloc;                                    \
        yynewbytes = yystacksize * YYSIZEOF (*Stack) + YYSTACK_GAP_MAXIMUM; \
        yyptr += yynewbytes / YYSIZEOF (*yyptr);                        \
      }                                                                 \
    while (0)

#endif

#if defined YYCOPY_NEEDED && YYCOPY_NEEDED
/* Copy COUNT objects from SRC to DST.  The source and destination do
   not overlap.  */
# ifndef YYCOPY
#  if defined __GNUC__ && 1 < __GNUC__
#   define YYCOPY(Dst, Src, Count) \
      __builtin_memcpy (Dst, Src, YY_CAST (YYSIZE_T, (Count)) * sizeof (*(Src)))
#  else
#   define YYCOPY(Dst, Src, Count)              \
      do                                        \
        {                                       \
          YYPTRDIFF_T yyi;                      \
          for (yyi = 0; yyi < (Count); yyi++)   \
            (Dst)[yyi] = (Src)[yyi];            \
        }                                       \
      while (0)
#  endif
# endif
#endif /* !YYCOPY_NEEDED */

/* YYFINAL -- State number of the termination state.  */
#define YYFINAL  3
/* YYLAST -- Last index in YYTABLE.  */
#define YYLAST   222

/* YYNTOKENS -- Number of terminals.  */
#define YYNTOKENS  32
/* YYNNTS -- Number of nonterminals.  */
#define YYNNTS  28
/* YYNRULES -- Number of rules.  */
#define YYNRULES  75
/* YYNSTATES -- Number of states.  */
#define YYNSTATES  127

/* YYMAXUTOK -- Last valid token kind.  */
#define YYMAXUTOK   272


/* YYTRANSLATE(TOKEN-NUM) -- Symbol number corresponding to TOKEN-NUM
   as returned by yylex, with out-of-bounds checking.  */
#define YYTRANSLATE(YYX)                                \
  (0 <= (YYX) && (YYX) <= YYMAXUTOK                     \
   ? YY_CAST (yysymbol_kind_t, yytranslate[YYX])        \
   : YYSYMBOL_YYUNDEF)

/* YYTRANSLATE[TOKEN-NUM] -- Symbol number corresponding to TOKEN-NUM
   as returned by yylex.  */
static const yytype_int8 yytranslate[] =
{
       0,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
      17,    24,    20,    18,    27,    19,     2,    21,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,    28,    31,
       2,    26,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,    29,     2,    30,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,    25,     2,    23,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     2,     2,     2,     2,
       2,     2,     2,     2,     2,     2,     1,     2,     3,     4,
       5,     6,     7,     8,     9,    10,    11,    12,    13,    14,
      15,    16,    22
};

#if YYDEBUG
/* YYRLINE[YYN] -- Source line where rule number YYN was defined.  */
static const yytype_uint8 yyrline[] =
{
       0,    59,    59,    61,    62,    64,    64,    64,    64,    65,
      68,    71,    74,    75,    77,    79,    80,    81,    83,    84,
      86,    87,    89,    90,    93,    94,    96,    97,    98,    99,
     102,   104,   105,   107,   108,   109,   110,   112,   113,   114,
     117,   118,   119,   120,   121,   122,   123,   125,   126,   127,
     128,   129,   131,   132,   133,   134,   135,   136,   137,   138,
     139,   140,   142,   144,   145,   146,   148,   149,   151,   152,
     154,   155,   156,   158,   159,   161
};
#endif

/** Accessing symbol of state STATE.  */
#define YY_ACCESSING_SYMBOL(State) YY_CAST (yysymbol_kind_t, yystos[State])

#if 1
/* The user-facing name of the symbol whose (internal) number is
   YYSYMBOL.  No bounds checking.  */
static const char *yysymbol_name (yysymbol_kind_t yysymbol) YY_ATTRIBUTE_UNUSED;

static const char *
yysymbol_name (yysymbol_kind_t yysymbol)
{
  static const char *const yy_sname[] =
  {
  "end of file", "error", "invalid token", "identifier", "integer",
  "number", "string", "'model'", "'layer'", "'train'", "'return'",
  "'repeat'", "'const'", "'true'", "'false'", "'->'", "STMT", "'('", "'+'",
  "'-'", "'*'", "'/'", "NEG", "'}'", "')'", "'{'", "'='", "','", "':'",
  "'['", "']'", "';'", "$accept", "file", "decls", "decl", "model",
  "layer", "ret_opt", "const", "params_opt", "params", "param", "type",
  "stmts", "stmt", "train", "titems", "titem", "aitems", "expr", "stage",
  "primary", "call", "args_opt", "args", "arg", "exprs_opt", "exprs",
  "ident", YY_NULLPTR
  };
  return yy_sname[yysymbol];
}
#endif

#define YYPACT_NINF (-52)

#define yypact_value_is_default(Yyn) \
  ((Yyn) == YYPACT_NINF)

#define YYTABLE_NINF (-3)

#define yytable_value_is_error(Yyn) \
  0

/* YYPACT[STATE-NUM] -- Index in YYTABLE of the portion describing
   STATE-NUM.  */
static const yytype_int16 yypact[] =
{
     -52,    13,    11,   -52,    -9,    19,    19,    19,    19,   -52,
     -52,   -52,   -52,   -52,   -52,   -52,    10,    14,    18,     9,
      19,    19,   -52,   172,    12,    39,   -52,    17,    28,     2,
     -52,   -52,   -52,   -52,   -52,   172,   172,   172,   201,   -52,
     -52,    20,    15,    19,    19,    15,   -52,   -52,   -52,    69,
     190,   -52,   201,    37,    41,     6,   172,   172,   172,   172,
     172,    19,    19,    44,   -52,    45,    47,    52,   -52,   201,
       4,   -52,   -52,   172,   189,   -52,   -52,    42,   -13,   -13,
     -52,   -52,   201,    55,    53,   -52,    25,   -52,    64,   -52,
     -52,   172,   172,   -52,   151,   -52,   201,     6,    19,   -52,
     172,   172,   108,   201,    54,   130,   -52,   -52,   201,     3,
     -52,   -52,    64,   -52,   201,   172,   -52,   -52,   -52,   201,
      32,   -52,   -52,   -52,   201,   172,   201
};

/* YYDEFACT[STATE-NUM] -- Default reduction number in state STATE-NUM.
   Performed when YYTABLE does not specify something else to do.  Zero
   means the default is an error.  */
static const yytype_int8 yydefact[] =
{
       3,     0,     0,     1,     0,     0,     0,     0,     0,     4,
       5,     6,     8,     7,     9,    75,     0,     0,     0,     0,
      15,    15,    31,     0,     0,    16,    18,     0,     0,     0,
      52,    53,    54,    55,    56,     0,     0,    70,    14,    46,
      58,    57,    12,    17,     0,    12,    30,    36,    32,     0,
       0,    45,    73,     0,    71,     0,     0,     0,     0,     0,
      63,     0,     0,     0,    19,    20,    22,     0,    37,    33,
      57,    60,    61,    72,     0,    40,    48,    47,    41,    42,
      43,    44,    68,     0,    64,    66,    57,    59,     0,    13,
      24,     0,    70,    24,     0,    31,    74,     0,     0,    62,
      65,     0,     0,    21,     0,     0,    35,    39,    38,     0,
      51,    50,    49,    67,    69,     0,    10,    29,    25,    28,
      57,    23,    11,    34,    27,     0,    26
};

/* YYPGOTO[NTERM-NUM].  */
static const yytype_int8 yypgoto[] =
{
     -52,   -52,   -52,   -52,   -52,   -52,    40,   -52,    66,   -52,
      46,    29,    -3,   -52,   -52,     7,   -52,   -52,     5,    22,
      27,   -51,   -52,   -52,     8,    23,   -52,    -5
};

/* YYDEFGOTO[NTERM-NUM].  */
static const yytype_int8 yydefgoto[] =
{
       0,     1,     2,     9,    10,    11,    63,    12,    24,    25,
      26,    65,   102,   118,    13,    29,    48,    94,    52,    75,
      39,    40,    83,    84,    85,    53,    54,    41
};

/* YYTABLE[YYPACT[STATE-NUM]] -- What to do in state STATE-NUM.  If
   positive, shift that token.  If negative, reduce the rule whose
   number is the opposite.  If YYTABLE_NINF, syntax error.  */
static const yytype_int8 yytable[] =
{
      16,    17,    18,    19,    76,    15,    15,    58,    59,    15,
      87,    -2,     4,     3,    14,    27,    27,    74,     5,     6,
       7,    60,    15,     8,    49,    46,   123,    20,    38,    95,
      62,    21,    61,    47,    47,    23,    42,    60,    27,    66,
      50,    51,    60,    22,    70,    44,    76,   111,    61,    60,
      77,   101,    45,    61,    69,    86,    88,    66,   125,    60,
      61,    78,    79,    80,    81,    82,    43,    72,    73,    90,
      98,    91,    15,    30,    31,    32,    92,    93,    96,    99,
     100,    60,    33,    34,   121,    67,    35,    28,    36,    64,
     105,    89,    77,   112,    68,    86,   103,   120,    37,   108,
     120,    97,   109,     0,    49,    82,   114,   119,   113,     0,
     119,    15,    30,    31,    32,   104,     0,     0,   115,   110,
     124,    33,    34,     0,     0,    35,     0,    36,     0,     0,
     126,   116,     0,    15,    30,    31,    32,    37,     0,   117,
     115,     0,     0,    33,    34,     0,     0,    35,     0,    36,
       0,     0,     0,   122,    15,    30,    31,    32,     0,    37,
       0,   117,     0,     0,    33,    34,     0,     0,    35,     0,
      36,     0,     0,     0,   106,    15,    30,    31,    32,     0,
      37,     0,   107,     0,     0,    33,    34,     0,     0,    35,
       0,    36,    15,    30,    31,    32,     0,     0,     0,     0,
       0,    37,    33,    34,     0,    55,    35,     0,    56,    57,
      58,    59,     0,     0,    71,     0,    55,     0,    37,    56,
      57,    58,    59
};

static const yytype_int8 yycheck[] =
{
       5,     6,     7,     8,    55,     3,     3,    20,    21,     3,
      61,     0,     1,     0,    23,    20,    21,    11,     7,     8,
       9,    17,     3,    12,    29,    23,    23,    17,    23,    25,
      15,    17,    28,    31,    31,    26,    24,    17,    43,    44,
      35,    36,    17,    25,    49,    28,    97,    98,    28,    17,
      55,    26,    24,    28,    49,    60,    61,    62,    26,    17,
      28,    56,    57,    58,    59,    60,    27,    30,    27,    25,
      28,    26,     3,     4,     5,     6,    29,    25,    73,    24,
      27,    17,    13,    14,    30,    45,    17,    21,    19,    43,
      93,    62,    97,    98,    25,   100,    91,   102,    29,    94,
     105,    74,    95,    -1,   109,   100,   101,   102,   100,    -1,
     105,     3,     4,     5,     6,    92,    -1,    -1,    10,    97,
     115,    13,    14,    -1,    -1,    17,    -1,    19,    -1,    -1,
     125,    23,    -1,     3,     4,     5,     6,    29,    -1,    31,
      10,    -1,    -1,    13,    14,    -1,    -1,    17,    -1,    19,
      -1,    -1,    -1,    23,     3,     4,     5,     6,    -1,    29,
      -1,    31,    -1,    -1,    13,    14,    -1,    -1,    17,    -1,
      19,    -1,    -1,    -1,    23,     3,     4,     5,     6,    -1,
      29,    -1,    31,    -1,    -1,    13,    14,    -1,    -1,    17,
      -1,    19,     3,     4,     5,     6,    -1,    -1,    -1,    -1,
      -1,    29,    13,    14,    -1,    15,    17,    -1,    18,    19,
      20,    21,    -1,    -1,    24,    -1,    15,    -1,    29,    18,
      19,    20,    21
};

/* YYSTOS[STATE-NUM] -- The symbol kind of the accessing symbol of
   state STATE-NUM.  */
static const yytype_int8 yystos[] =
{
       0,    33,    34,     0,     1,     7,     8,     9,    12,    35,
      36,    37,    39,    46,    23,     3,    59,    59,    59,    59,
      17,    17,    25,    26,    40,    41,    42,    59,    40,    47,
       4,     5,     6,    13,    14,    17,    19,    29,    50,    52,
      53,    59,    24,    27,    28,    24,    23,    31,    48,    59,
      50,    50,    50,    57,    58,    15,    18,    19,    20,    21,
      17,    28,    15,    38,    42,    43,    59,    38,    25,    50,
      59,    24,    30,    27,    11,    51,    53,    59,    50,    50,
      50,    50,    50,    54,    55,    56,    59,    53,    59,    43,
      25,    26,    29,    25,    49,    25,    50,    52,    28,    24,
      27,    26,    44,    50,    57,    44,    23,    31,    50,    47,
      51,    53,    59,    56,    50,    10,    23,    31,    45,    50,
      59,    30,    23,    23,    50,    26,    50
};

/* YYR1[RULE-NUM] -- Symbol kind of the left-hand side of rule RULE-NUM.  */
static const yytype_int8 yyr1[] =
{
       0,    32,    33,    34,    34,    35,    35,    35,    35,    35,
      36,    37,    38,    38,    39,    40,    40,    40,    41,    41,
      42,    42,    43,    43,    44,    44,    45,    45,    45,    45,
      46,    47,    47,    48,    48,    48,    48,    49,    49,    49,
      50,    50,    50,    50,    50,    50,    50,    51,    51,    51,
      51,    51,    52,    52,    52,    52,    52,    52,    52,    52,
      52,    52,    53,    54,    54,    54,    55,    55,    56,    56,
      57,    57,    57,    58,    58,    59
};

/* YYR2[RULE-NUM] -- Number of symbols on the right-hand side of rule RULE-NUM.  */
static const yytype_int8 yyr2[] =
{
       0,     2,     1,     0,     2,     1,     1,     1,     1,     2,
       9,     9,     0,     2,     4,     0,     1,     2,     1,     3,
       3,     5,     1,     4,     0,     2,     3,     2,     1,     1,
       5,     0,     2,     2,     5,     4,     1,     0,     2,     2,
       3,     3,     3,     3,     3,     2,     1,     1,     1,     3,
       3,     3,     1,     1,     1,     1,     1,     1,     1,     3,
       3,     3,     4,     0,     1,     2,     1,     3,     1,     3,
       0,     1,     2,     1,     3,     1
};


enum { YYENOMEM = -2 };

#define yyerrok         (yyerrstatus = 0)
#define yyclearin       (yychar = YYEMPTY)

#define YYACCEPT        goto yyacceptlab
#define YYABORT         goto yyabortlab
#define YYERROR         goto yyerrorlab
#define YYNOMEM         goto yyexhaustedlab


#define YYRECOVERING()  (!!yyerrstatus)

#define YYBACKUP(Token, Value)                                    \
  do                                                              \
    if (yychar == YYEMPTY)                                        \
      {                                                           \
        yychar = (Token);                                         \
        yylval = (Value);                                         \
        YYPOPSTACK (yylen);                                       \
        yystate = *yyssp;                                         \
        goto yybackup;                                            \
      }                                                           \
    else                                                          \
      {                                                           \
        yyerror (&yylloc, scanner, c, YY_("syntax error: cannot back up")); \
        YYERROR;                                                  \
      }                                                           \
  while (0)

/* Backward compatibility with an undocumented macro.
   Use YYerror or YYUNDEF. */
#define YYERRCODE YYUNDEF

/* YYLLOC_DEFAULT -- Set CURRENT to span from RHS[1] to RHS[N].
   If N is 0, then set CURRENT to the empty location which ends
   the previous symbol: RHS[0] (always defined).  */

#ifndef YYLLOC_DEFAULT
# define YYLLOC_DEFAULT(Current, Rhs, N)                                \
    do                                                                  \
      if (N)                                                            \
        {                                                               \
          (Current).first_line   = YYRHSLOC (Rhs, 1).first_line;        \
          (Current).first_column = YYRHSLOC (Rhs, 1).first_column;      \
          (Current).last_line    = YYRHSLOC (Rhs, N).last_line;         \
          (Current).last_column  = YYRHSLOC (Rhs, N).last_column;       \
        }                                                               \
      else                                                              \
        {                                                               \
          (Current).first_line   = (Current).last_line   =              \
            YYRHSLOC (Rhs, 0).last_line;                                \
          (Current).first_column = (Current).last_column =              \
            YYRHSLOC (Rhs, 0).last_column;                              \
        }                                                               \
    while (0)
#endif

#define YYRHSLOC(Rhs, K) ((Rhs)[K])


/* Enable debugging if requested.  */
#if YYDEBUG

# ifndef YYFPRINTF
#  include <stdio.h> /* INFRINGES ON USER NAME SPACE */
#  define YYFPRINTF fprintf
# endif

# define YYDPRINTF(Args)                        \
do {                                            \
  if (yydebug)                                  \
    YYFPRINTF Args;                             \
} while (0)


/* YYLOCATION_PRINT -- Print the location on the stream.
   This macro was not mandated originally: define only if we know
   we won't break user code: when these are the locations we know.  */

# ifndef YYLOCATION_PRINT

#  if defined YY_LOCATION_PRINT

   /* Temporary convenience wrapper in case some people defined the
      undocumented and private YY_LOCATION_PRINT macros.  */
#   define YYLOCATION_PRINT(File, Loc)  YY_LOCATION_PRINT(File, *(Loc))

#  elif defined YYLTYPE_IS_TRIVIAL && YYLTYPE_IS_TRIVIAL

/* Print *YYLOCP on YYO.  Private, do not rely on its existence. */

YY_ATTRIBUTE_UNUSED
static int
yy_location_print_ (FILE *yyo, YYLTYPE const * const yylocp)
{
  int res = 0;
  int end_col = 0 != yylocp->last_column ? yylocp->last_column - 1 : 0;
  if (0 <= yylocp->first_line)
    {
      res += YYFPRINTF (yyo, "%d", yylocp->first_line);
      if (0 <= yylocp->first_column)
        res += YYFPRINTF (yyo, ".%d", yylocp->first_column);
    }
  if (0 <= yylocp->last_line)
    {
      if (yylocp->first_line < yylocp->last_line)
        {
          res += YYFPRINTF (yyo, "-%d", yylocp->last_line);
          if (0 <= end_col)
            res += YYFPRINTF (yyo, ".%d", end_col);
        }
      else if (0 <= end_col && yylocp->first_column < end_col)
        res += YYFPRINTF (yyo, "-%d", end_col);
    }
  return res;
}

#   define YYLOCATION_PRINT  yy_location_print_

    /* Temporary convenience wrapper in case some people defined the
       undocumented and private YY_LOCATION_PRINT macros.  */
#   define YY_LOCATION_PRINT(File, Loc)  YYLOCATION_PRINT(File, &(Loc))

#  else

#   define YYLOCATION_PRINT(File, Loc) ((void) 0)
    /* Temporary convenience wrapper in case some people defined the
       undocumented and private YY_LOCATION_PRINT macros.  */
#   define YY_LOCATION_PRINT  YYLOCATION_PRINT

#  endif
# endif /* !defined YYLOCATION_PRINT */


# define YY_SYMBOL_PRINT(Title, Kind, Value, Location)                    \
do {                                                                      \
  if (yydebug)                                                            \
    {                                                                     \
      YYFPRINTF (stderr, "%s ", Title);                                   \
      yy_symbol_print (stderr,                                            \
                  Kind, Value, Location, scanner, c); \
      YYFPRINTF (stderr, "\n");                                           \
    }                                                                     \
} while (0)


/*-----------------------------------.
| Print this symbol's value on YYO.  |
`-----------------------------------*/

static void
yy_symbol_value_print (FILE *yyo,
                       yysymbol_kind_t yykind, YYSTYPE const * const yyvaluep, YYLTYPE const * const yylocationp, void *scanner, Compiler *c)
{
  FILE *yyoutput = yyo;
  YY_USE (yyoutput);
  YY_USE (yylocationp);
  YY_USE (scanner);
  YY_USE (c);
  if (!yyvaluep)
    return;
  YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
  YY_USE (yykind);
  YY_IGNORE_MAYBE_UNINITIALIZED_END
}


/*---------------------------.
| Print this symbol on YYO.  |
`---------------------------*/

static void
yy_symbol_print (FILE *yyo,
                 yysymbol_kind_t yykind, YYSTYPE const * const yyvaluep, YYLTYPE const * const yylocationp, void *scanner, Compiler *c)
{
  YYFPRINTF (yyo, "%s %s (",
             yykind < YYNTOKENS ? "token" : "nterm", yysymbol_name (yykind));

  YYLOCATION_PRINT (yyo, yylocationp);
  YYFPRINTF (yyo, ": ");
  yy_symbol_value_print (yyo, yykind, yyvaluep, yylocationp, scanner, c);
  YYFPRINTF (yyo, ")");
}

/*------------------------------------------------------------------.
| yy_stack_print -- Print the state stack from its BOTTOM up to its |
| TOP (included).                                                   |
`------------------------------------------------------------------*/

static void
yy_stack_print (yy_state_t *yybottom, yy_state_t *yytop)
{
  YYFPRINTF (stderr, "Stack now");
  for (; yybottom <= yytop; yybottom++)
    {
      int yybot = *yybottom;
      YYFPRINTF (stderr, " %d", yybot);
    }
  YYFPRINTF (stderr, "\n");
}

# define YY_STACK_PRINT(Bottom, Top)                            \
do {                                                            \
  if (yydebug)                                                  \
    yy_stack_print ((Bottom), (Top));                           \
} while (0)


/*------------------------------------------------.
| Report that the YYRULE is going to be reduced.  |
`------------------------------------------------*/

static void
yy_reduce_print (yy_state_t *yyssp, YYSTYPE *yyvsp, YYLTYPE *yylsp,
                 int yyrule, void *scanner, Compiler *c)
{
  int yylno = yyrline[yyrule];
  int yynrhs = yyr2[yyrule];
  int yyi;
  YYFPRINTF (stderr, "Reducing stack by rule %d (line %d):\n",
             yyrule - 1, yylno);
  /* The symbols being reduced.  */
  for (yyi = 0; yyi < yynrhs; yyi++)
    {
      YYFPRINTF (stderr, "   $%d = ", yyi + 1);
      yy_symbol_print (stderr,
                       YY_ACCESSING_SYMBOL (+yyssp[yyi + 1 - yynrhs]),
                       &yyvsp[(yyi + 1) - (yynrhs)],
                       &(yylsp[(yyi + 1) - (yynrhs)]), scanner, c);
      YYFPRINTF (stderr, "\n");
    }
}

# define YY_REDUCE_PRINT(Rule)          \
do {                                    \
  if (yydebug)                          \
    yy_reduce_print (yyssp, yyvsp, yylsp, Rule, scanner, c); \
} while (0)

/* Nonzero means print parse trace.  It is left uninitialized so that
   multiple parsers can coexist.  */
int yydebug;
#else /* !YYDEBUG */
# define YYDPRINTF(Args) ((void) 0)
# define YY_SYMBOL_PRINT(Title, Kind, Value, Location)
# define YY_STACK_PRINT(Bottom, Top)
# define YY_REDUCE_PRINT(Rule)
#endif /* !YYDEBUG */


/* YYINITDEPTH -- initial size of the parser's stacks.  */
#ifndef YYINITDEPTH
# define YYINITDEPTH 200
#endif

/* YYMAXDEPTH -- maximum size the stacks can grow to (effective only
   if the built-in stack extension method is used).

   Do not make this value too large; the results are undefined if
   YYSTACK_ALLOC_MAXIMUM < YYSTACK_BYTES (YYMAXDEPTH)
   evaluated with infinite-precision integer arithmetic.  */

#ifndef YYMAXDEPTH
# define YYMAXDEPTH 10000
#endif


/* Context of a parse error.  */
typedef struct
{
  yy_state_t *yyssp;
  yysymbol_kind_t yytoken;
  YYLTYPE *yylloc;
} yypcontext_t;

/* Put in YYARG at most YYARGN of the expected tokens given the
   current YYCTX, and return the number of tokens stored in YYARG.  If
   YYARG is null, return the number of expected tokens (guaranteed to
   be less than YYNTOKENS).  Return YYENOMEM on memory exhaustion.
   Return 0 if there are more than YYARGN expected tokens, yet fill
   YYARG up to YYARGN. */
static int
yypcontext_expected_tokens (const yypcontext_t *yyctx,
                            yysymbol_kind_t yyarg[], int yyargn)
{
  /* Actual size of YYARG. */
  int yycount = 0;
  int yyn = yypact[+*yyctx->yyssp];
  if (!yypact_value_is_default (yyn))
    {
      /* Start YYX at -YYN if negative to avoid negative indexes in
         YYCHECK.  In other words, skip the first -YYN actions for
         this state because they are default actions.  */
      int yyxbegin = yyn < 0 ? -yyn : 0;
      /* Stay within bounds of both yycheck and yytname.  */
      int yychecklim = YYLAST - yyn + 1;
      int yyxend = yychecklim < YYNTOKENS ? yychecklim : YYNTOKENS;
      int yyx;
      for (yyx = yyxbegin; yyx < yyxend; ++yyx)
        if (yycheck[yyx + yyn] == yyx && yyx != YYSYMBOL_YYerror
            && !yytable_value_is_error (yytable[yyx + yyn]))
          {
            if (!yyarg)
              ++yycount;
            else if (yycount == yyargn)
              return 0;
            else
              yyarg[yycount++] = YY_CAST (yysymbol_kind_t, yyx);
          }
    }
  if (yyarg && yycount == 0 && 0 < yyargn)
    yyarg[0] = YYSYMBOL_YYEMPTY;
  return yycount;
}




/* The kind of the lookahead of this context.  */
static yysymbol_kind_t
yypcontext_token (const yypcontext_t *yyctx) YY_ATTRIBUTE_UNUSED;

static yysymbol_kind_t
yypcontext_token (const yypcontext_t *yyctx)
{
  return yyctx->yytoken;
}

/* The location of the lookahead of this context.  */
static YYLTYPE *
yypcontext_location (const yypcontext_t *yyctx) YY_ATTRIBUTE_UNUSED;

static YYLTYPE *
yypcontext_location (const yypcontext_t *yyctx)
{
  return yyctx->yylloc;
}

/* User defined function to report a syntax error.  */
static int
yyreport_syntax_error (const yypcontext_t *yyctx, void *scanner, Compiler *c);

/*-----------------------------------------------.
| Release the memory associated to this symbol.  |
`-----------------------------------------------*/

static void
yydestruct (const char *yymsg,
            yysymbol_kind_t yykind, YYSTYPE *yyvaluep, YYLTYPE *yylocationp, void *scanner, Compiler *c)
{
  YY_USE (yyvaluep);
  YY_USE (yylocationp);
  YY_USE (scanner);
  YY_USE (c);
  if (!yymsg)
    yymsg = "Deleting";
  YY_SYMBOL_PRINT (yymsg, yykind, yyvaluep, yylocationp);

  YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
  YY_USE (yykind);
  YY_IGNORE_MAYBE_UNINITIALIZED_END
}






/*----------.
| yyparse.  |
`----------*/

int
yyparse (void *scanner, Compiler *c)
{
/* Lookahead token kind.  */
int yychar;


/* The semantic value of the lookahead symbol.  */
/* Default value used for initialization, for pacifying older GCCs
   or non-GCC compilers.  */
YY_INITIAL_VALUE (static YYSTYPE yyval_default;)
YYSTYPE yylval YY_INITIAL_VALUE (= yyval_default);

/* Location data for the lookahead symbol.  */
static YYLTYPE yyloc_default
# if defined YYLTYPE_IS_TRIVIAL && YYLTYPE_IS_TRIVIAL
  = { 1, 1, 1, 1 }
# endif
;
YYLTYPE yylloc = yyloc_default;

    /* Number of syntax errors so far.  */
    int yynerrs = 0;

    yy_state_fast_t yystate = 0;
    /* Number of tokens to shift before error messages enabled.  */
    int yyerrstatus = 0;

    /* Refer to the stacks through separate pointers, to allow yyoverflow
       to reallocate them elsewhere.  */

    /* Their size.  */
    YYPTRDIFF_T yystacksize = YYINITDEPTH;

    /* The state stack: array, bottom, top.  */
    yy_state_t yyssa[YYINITDEPTH];
    yy_state_t *yyss = yyssa;
    yy_state_t *yyssp = yyss;

    /* The semantic value stack: array, bottom, top.  */
    YYSTYPE yyvsa[YYINITDEPTH];
    YYSTYPE *yyvs = yyvsa;
    YYSTYPE *yyvsp = yyvs;

    /* The location stack: array, bottom, top.  */
    YYLTYPE yylsa[YYINITDEPTH];
    YYLTYPE *yyls = yylsa;
    YYLTYPE *yylsp = yyls;

  int yyn;
  /* The return value of yyparse.  */
  int yyresult;
  /* Lookahead symbol kind.  */
  yysymbol_kind_t yytoken = YYSYMBOL_YYEMPTY;
  /* The variables used to return semantic value and location from the
     action routines.  */
  YYSTYPE yyval;
  YYLTYPE yyloc;

  /* The locations where the error started and ended.  */
  YYLTYPE yyerror_range[3];



#define YYPOPSTACK(N)   (yyvsp -= (N), yyssp -= (N), yylsp -= (N))

  /* The number of symbols on the RHS of the reduced rule.
     Keep to zero when no symbol should be popped.  */
  int yylen = 0;

  YYDPRINTF ((stderr, "Starting parse\n"));

  yychar = YYEMPTY; /* Cause a token to be read.  */

  yylsp[0] = yylloc;
  goto yysetstate;


/*------------------------------------------------------------.
| yynewstate -- push a new state, which is found in yystate.  |
`------------------------------------------------------------*/
yynewstate:
  /* In all cases, when you get here, the value and location stacks
     have just been pushed.  So pushing a state here evens the stacks.  */
  yyssp++;


/*--------------------------------------------------------------------.
| yysetstate -- set current state (the top of the stack) to yystate.  |
`--------------------------------------------------------------------*/
yysetstate:
  YYDPRINTF ((stderr, "Entering state %d\n", yystate));
  YY_ASSERT (0 <= yystate && yystate < YYNSTATES);
  YY_IGNORE_USELESS_CAST_BEGIN
  *yyssp = YY_CAST (yy_state_t, yystate);
  YY_IGNORE_USELESS_CAST_END
  YY_STACK_PRINT (yyss, yyssp);

  if (yyss + yystacksize - 1 <= yyssp)
#if !defined yyoverflow && !defined YYSTACK_RELOCATE
    YYNOMEM;
#else
    {
      /* Get the current used size of the three stacks, in elements.  */
      YYPTRDIFF_T yysize = yyssp - yyss + 1;

# if defined yyoverflow
      {
        /* Give user a chance to reallocate the stack.  Use copies of
           these so that the &'s don't force the real ones into
           memory.  */
        yy_state_t *yyss1 = yyss;
        YYSTYPE *yyvs1 = yyvs;
        YYLTYPE *yyls1 = yyls;

        /* Each stack pointer address is followed by the size of the
           data in use in that stack, in bytes.  This used to be a
           conditional around just the two extra args, but that might
           be undefined if yyoverflow is a macro.  */
        yyoverflow (YY_("memory exhausted"),
                    &yyss1, yysize * YYSIZEOF (*yyssp),
                    &yyvs1, yysize * YYSIZEOF (*yyvsp),
                    &yyls1, yysize * YYSIZEOF (*yylsp),
                    &yystacksize);
        yyss = yyss1;
        yyvs = yyvs1;
        yyls = yyls1;
      }
# else /* defined YYSTACK_RELOCATE */
      /* Extend the stack our own way.  */
      if (YYMAXDEPTH <= yystacksize)
        YYNOMEM;
      yystacksize *= 2;
      if (YYMAXDEPTH < yystacksize)
        yystacksize = YYMAXDEPTH;

      {
        yy_state_t *yyss1 = yyss;
        union yyalloc *yyptr =
          YY_CAST (union yyalloc *,
                   YYSTACK_ALLOC (YY_CAST (YYSIZE_T, YYSTACK_BYTES (yystacksize))));
        if (! yyptr)
          YYNOMEM;
        YYSTACK_RELOCATE (yyss_alloc, yyss);
        YYSTACK_RELOCATE (yyvs_alloc, yyvs);
        YYSTACK_RELOCATE (yyls_alloc, yyls);
#  undef YYSTACK_RELOCATE
        if (yyss1 != yyssa)
          YYSTACK_FREE (yyss1);
      }
# endif

      yyssp = yyss + yysize - 1;
      yyvsp = yyvs + yysize - 1;
      yylsp = yyls + yysize - 1;

      YY_IGNORE_USELESS_CAST_BEGIN
      YYDPRINTF ((stderr, "Stack size increased to %ld\n",
                  YY_CAST (long, yystacksize)));
      YY_IGNORE_USELESS_CAST_END

      if (yyss + yystacksize - 1 <= yyssp)
        YYABORT;
    }
#endif /* !defined yyoverflow && !defined YYSTACK_RELOCATE */


  if (yystate == YYFINAL)
    YYACCEPT;

  goto yybackup;


/*-----------.
| yybackup.  |
`-----------*/
yybackup:
  /* Do appropriate processing given the current state.  Read a
     lookahead token if we need one and don't already have one.  */

  /* First try to decide what to do without reference to lookahead token.  */
  yyn = yypact[yystate];
  if (yypact_value_is_default (yyn))
    goto yydefault;

  /* Not known => get a lookahead token if don't already have one.  */

  /* YYCHAR is either empty, or end-of-input, or a valid lookahead.  */
  if (yychar == YYEMPTY)
    {
      YYDPRINTF ((stderr, "Reading a token\n"));
      yychar = yylex (&yylval, &yylloc, scanner);
    }

  if (yychar <= YYEOF)
    {
      yychar = YYEOF;
      yytoken = YYSYMBOL_YYEOF;
      YYDPRINTF ((stderr, "Now at end of input.\n"));
    }
  else if (yychar == YYerror)
    {
      /* The scanner already issued an error message, process directly
         to error recovery.  But do not keep the error token as
         lookahead, it is too special and may lead us to an endless
         loop in error recovery. */
      yychar = YYUNDEF;
      yytoken = YYSYMBOL_YYerror;
      yyerror_range[1] = yylloc;
      goto yyerrlab1;
    }
  else
    {
      yytoken = YYTRANSLATE (yychar);
      YY_SYMBOL_PRINT ("Next token is", yytoken, &yylval, &yylloc);
    }

  /* If the proper action on seeing token YYTOKEN is to reduce or to
     detect an error, take that action.  */
  yyn += yytoken;
  if (yyn < 0 || YYLAST < yyn || yycheck[yyn] != yytoken)
    goto yydefault;
  yyn = yytable[yyn];
  if (yyn <= 0)
    {
      if (yytable_value_is_error (yyn))
        goto yyerrlab;
      yyn = -yyn;
      goto yyreduce;
    }

  /* Count tokens shifted since error; after three, turn off error
     status.  */
  if (yyerrstatus)
    yyerrstatus--;

  /* Shift the lookahead token.  */
  YY_SYMBOL_PRINT ("Shifting", yytoken, &yylval, &yylloc);
  yystate = yyn;
  YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
  *++yyvsp = yylval;
  YY_IGNORE_MAYBE_UNINITIALIZED_END
  *++yylsp = yylloc;

  /* Discard the shifted token.  */
  yychar = YYEMPTY;
  goto yynewstate;


/*-----------------------------------------------------------.
| yydefault -- do the default action for the current state.  |
`-----------------------------------------------------------*/
yydefault:
  yyn = yydefact[yystate];
  if (yyn == 0)
    goto yyerrlab;
  goto yyreduce;


/*-----------------------------.
| yyreduce -- do a reduction.  |
`-----------------------------*/
yyreduce:
  /* yyn is the number of a rule to reduce with.  */
  yylen = yyr2[yyn];

  /* If YYLEN is nonzero, implement the default value of the action:
     '$$ = $1'.

     Otherwise, the following line sets YYVAL to garbage.
     This behavior is undocumented and Bison
     users should not rely upon it.  Assigning to YYVAL
     unconditionally makes the parser a bit smaller, and it avoids a
     GCC warning that YYVAL may be used uninitialized.  */
  yyval = yyvsp[1-yylen];

  /* Default location. */
  YYLLOC_DEFAULT (yyloc, (yylsp - yylen), yylen);
  yyerror_range[1] = yyloc;
  YY_REDUCE_PRINT (yyn);
  switch (yyn)
    {
  case 2: /* file: decls  */
#line 59 "grammar/netc.y"
                                    { c->decls = (yyvsp[0].list); }
#line 1427 "build-fuzz/grammar/parser.c"
    break;

  case 3: /* decls: %empty  */
#line 61 "grammar/netc.y"
                                    { (yyval.list) = ast_list_new(); }
#line 1433 "build-fuzz/grammar/parser.c"
    break;

  case 4: /* decls: decls decl  */
#line 62 "grammar/netc.y"
                                    { (yyval.list) = (yyvsp[0].ast) ? ast_list_push(c, (yyvsp[-1].list), (yyvsp[0].ast)) : (yyvsp[-1].list); }
#line 1439 "build-fuzz/grammar/parser.c"
    break;

  case 9: /* decl: error '}'  */
#line 65 "grammar/netc.y"
                                    { (yyval.ast) = NULL; }
#line 1445 "build-fuzz/grammar/parser.c"
    break;

  case 10: /* model: "'model'" ident '(' params_opt ')' ret_opt '{' stmts '}'  */
#line 69 "grammar/netc.y"
                                    { (yyval.ast) = ast_model(c, AST_MODEL, (yyloc), (yyvsp[-7].ast), (yyvsp[-5].list), (yyvsp[-3].ast), (yyvsp[-1].list)); }
#line 1451 "build-fuzz/grammar/parser.c"
    break;

  case 11: /* layer: "'layer'" ident '(' params_opt ')' ret_opt '{' stmts '}'  */
#line 72 "grammar/netc.y"
                                    { (yyval.ast) = ast_model(c, AST_LAYER, (yyloc), (yyvsp[-7].ast), (yyvsp[-5].list), (yyvsp[-3].ast), (yyvsp[-1].list)); }
#line 1457 "build-fuzz/grammar/parser.c"
    break;

  case 12: /* ret_opt: %empty  */
#line 74 "grammar/netc.y"
                                    { (yyval.ast) = NULL; }
#line 1463 "build-fuzz/grammar/parser.c"
    break;

  case 13: /* ret_opt: "'->'" type  */
#line 75 "grammar/netc.y"
                                    { (yyval.ast) = (yyvsp[0].ast); }
#line 1469 "build-fuzz/grammar/parser.c"
    break;

  case 14: /* const: "'const'" ident '=' expr  */
#line 77 "grammar/netc.y"
                                    { (yyval.ast) = ast_const(c, (yyloc), (yyvsp[-2].ast), (yyvsp[0].ast)); }
#line 1475 "build-fuzz/grammar/parser.c"
    break;

  case 15: /* params_opt: %empty  */
#line 79 "grammar/netc.y"
                                    { (yyval.list) = ast_list_new(); }
#line 1481 "build-fuzz/grammar/parser.c"
    break;

  case 16: /* params_opt: params  */
#line 80 "grammar/netc.y"
                                    { (yyval.list) = (yyvsp[0].list); }
#line 1487 "build-fuzz/grammar/parser.c"
    break;

  case 17: /* params_opt: params ','  */
#line 81 "grammar/netc.y"
                                    { (yyval.list) = (yyvsp[-1].list); }
#line 1493 "build-fuzz/grammar/parser.c"
    break;

  case 18: /* params: param  */
#line 83 "grammar/netc.y"
                                    { (yyval.list) = ast_list_push(c, ast_list_new(), (yyvsp[0].ast)); }
#line 1499 "build-fuzz/grammar/parser.c"
    break;

  case 19: /* params: params ',' param  */
#line 84 "grammar/netc.y"
                                    { (yyval.list) = ast_list_push(c, (yyvsp[-2].list), (yyvsp[0].ast)); }
#line 1505 "build-fuzz/grammar/parser.c"
    break;

  case 20: /* param: ident ':' type  */
#line 86 "grammar/netc.y"
                                    { (yyval.ast) = ast_param(c, (yyloc), (yyvsp[-2].ast), (yyvsp[0].ast), NULL); }
#line 1511 "build-fuzz/grammar/parser.c"
    break;

  case 21: /* param: ident ':' type '=' expr  */
#line 87 "grammar/netc.y"
                                    { (yyval.ast) = ast_param(c, (yyloc), (yyvsp[-4].ast), (yyvsp[-2].ast), (yyvsp[0].ast)); }
#line 1517 "build-fuzz/grammar/parser.c"
    break;

  case 22: /* type: ident  */
#line 89 "grammar/netc.y"
                                    { (yyval.ast) = ast_type(c, (yyloc), (yyvsp[0].ast), false, ast_list_new()); }
#line 1523 "build-fuzz/grammar/parser.c"
    break;

  case 23: /* type: ident '[' exprs_opt ']'  */
#line 90 "grammar/netc.y"
                                    { (yyval.ast) = ast_type(c, (yyloc), (yyvsp[-3].ast), true, (yyvsp[-1].list)); }
#line 1529 "build-fuzz/grammar/parser.c"
    break;

  case 24: /* stmts: %empty  */
#line 93 "grammar/netc.y"
                                    { (yyval.list) = ast_list_new(); }
#line 1535 "build-fuzz/grammar/parser.c"
    break;

  case 25: /* stmts: stmts stmt  */
#line 94 "grammar/netc.y"
                                    { (yyval.list) = (yyvsp[0].ast) ? ast_list_push(c, (yyvsp[-1].list), (yyvsp[0].ast)) : (yyvsp[-1].list); }
#line 1541 "build-fuzz/grammar/parser.c"
    break;

  case 26: /* stmt: ident '=' expr  */
#line 96 "grammar/netc.y"
                                    { (yyval.ast) = ast_let(c, (yyloc), (yyvsp[-2].ast), (yyvsp[0].ast)); }
#line 1547 "build-fuzz/grammar/parser.c"
    break;

  case 27: /* stmt: "'return'" expr  */
#line 97 "grammar/netc.y"
                                    { (yyval.ast) = ast_return(c, (yyloc), (yyvsp[0].ast)); }
#line 1553 "build-fuzz/grammar/parser.c"
    break;

  case 28: /* stmt: expr  */
#line 98 "grammar/netc.y"
                                    { (yyval.ast) = ast_expr_stmt(c, (yyvsp[0].ast)); }
#line 1559 "build-fuzz/grammar/parser.c"
    break;

  case 29: /* stmt: ';'  */
#line 99 "grammar/netc.y"
                                    { (yyval.ast) = NULL; }
#line 1565 "build-fuzz/grammar/parser.c"
    break;

  case 30: /* train: "'train'" ident '{' titems '}'  */
#line 102 "grammar/netc.y"
                                    { (yyval.ast) = ast_train(c, (yyloc), (yyvsp[-3].ast), (yyvsp[-1].list)); }
#line 1571 "build-fuzz/grammar/parser.c"
    break;

  case 31: /* titems: %empty  */
#line 104 "grammar/netc.y"
                                    { (yyval.list) = ast_list_new(); }
#line 1577 "build-fuzz/grammar/parser.c"
    break;

  case 32: /* titems: titems titem  */
#line 105 "grammar/netc.y"
                                    { (yyval.list) = (yyvsp[0].ast) ? ast_list_push(c, (yyvsp[-1].list), (yyvsp[0].ast)) : (yyvsp[-1].list); }
#line 1583 "build-fuzz/grammar/parser.c"
    break;

  case 33: /* titem: ident expr  */
#line 107 "grammar/netc.y"
                                    { (yyval.ast) = ast_item(c, (yyloc), (yyvsp[-1].ast), (yyvsp[0].ast)); }
#line 1589 "build-fuzz/grammar/parser.c"
    break;

  case 34: /* titem: ident ident '{' titems '}'  */
#line 108 "grammar/netc.y"
                                    { (yyval.ast) = ast_step(c, (yyloc), (yyvsp[-4].ast), (yyvsp[-3].ast), (yyvsp[-1].list)); }
#line 1595 "build-fuzz/grammar/parser.c"
    break;

  case 35: /* titem: ident '{' aitems '}'  */
#line 109 "grammar/netc.y"
                                    { (yyval.ast) = ast_augment(c, (yyloc), (yyvsp[-3].ast), (yyvsp[-1].list)); }
#line 1601 "build-fuzz/grammar/parser.c"
    break;

  case 36: /* titem: ';'  */
#line 110 "grammar/netc.y"
                                    { (yyval.ast) = NULL; }
#line 1607 "build-fuzz/grammar/parser.c"
    break;

  case 37: /* aitems: %empty  */
#line 112 "grammar/netc.y"
                                    { (yyval.list) = ast_list_new(); }
#line 1613 "build-fuzz/grammar/parser.c"
    break;

  case 38: /* aitems: aitems expr  */
#line 113 "grammar/netc.y"
                                    { (yyval.list) = ast_list_push(c, (yyvsp[-1].list), (yyvsp[0].ast)); }
#line 1619 "build-fuzz/grammar/parser.c"
    break;

  case 39: /* aitems: aitems ';'  */
#line 114 "grammar/netc.y"
                                    { (yyval.list) = (yyvsp[-1].list); }
#line 1625 "build-fuzz/grammar/parser.c"
    break;

  case 40: /* expr: expr "'->'" stage  */
#line 117 "grammar/netc.y"
                                    { (yyval.ast) = ast_chain(c, (yyloc), (yyvsp[-2].ast), (yyvsp[0].ast)); }
#line 1631 "build-fuzz/grammar/parser.c"
    break;

  case 41: /* expr: expr '+' expr  */
#line 118 "grammar/netc.y"
                                    { (yyval.ast) = ast_binary(c, (yyloc), '+', (yyvsp[-2].ast), (yyvsp[0].ast)); }
#line 1637 "build-fuzz/grammar/parser.c"
    break;

  case 42: /* expr: expr '-' expr  */
#line 119 "grammar/netc.y"
                                    { (yyval.ast) = ast_binary(c, (yyloc), '-', (yyvsp[-2].ast), (yyvsp[0].ast)); }
#line 1643 "build-fuzz/grammar/parser.c"
    break;

  case 43: /* expr: expr '*' expr  */
#line 120 "grammar/netc.y"
                                    { (yyval.ast) = ast_binary(c, (yyloc), '*', (yyvsp[-2].ast), (yyvsp[0].ast)); }
#line 1649 "build-fuzz/grammar/parser.c"
    break;

  case 44: /* expr: expr '/' expr  */
#line 121 "grammar/netc.y"
                                    { (yyval.ast) = ast_binary(c, (yyloc), '/', (yyvsp[-2].ast), (yyvsp[0].ast)); }
#line 1655 "build-fuzz/grammar/parser.c"
    break;

  case 45: /* expr: '-' expr  */
#line 122 "grammar/netc.y"
                                    { (yyval.ast) = ast_neg(c, (yyloc), (yyvsp[0].ast)); }
#line 1661 "build-fuzz/grammar/parser.c"
    break;

  case 49: /* stage: ident ':' ident  */
#line 127 "grammar/netc.y"
                                    { (yyval.ast) = ast_label(c, (yyloc), (yyvsp[-2].ast), ast_call(c, (yylsp[0]), (yyvsp[0].ast), ast_list_new())); }
#line 1667 "build-fuzz/grammar/parser.c"
    break;

  case 50: /* stage: ident ':' call  */
#line 128 "grammar/netc.y"
                                    { (yyval.ast) = ast_label(c, (yyloc), (yyvsp[-2].ast), (yyvsp[0].ast)); }
#line 1673 "build-fuzz/grammar/parser.c"
    break;

  case 51: /* stage: "'repeat'" primary stage  */
#line 129 "grammar/netc.y"
                                    { (yyval.ast) = ast_repeat(c, (yyloc), (yyvsp[-1].ast), (yyvsp[0].ast)); }
#line 1679 "build-fuzz/grammar/parser.c"
    break;

  case 52: /* primary: "integer"  */
#line 131 "grammar/netc.y"
                                    { (yyval.ast) = ast_int(c, (yyloc), (yyvsp[0].text)); }
#line 1685 "build-fuzz/grammar/parser.c"
    break;

  case 53: /* primary: "number"  */
#line 132 "grammar/netc.y"
                                    { (yyval.ast) = ast_float(c, (yyloc), (yyvsp[0].text)); }
#line 1691 "build-fuzz/grammar/parser.c"
    break;

  case 54: /* primary: "string"  */
#line 133 "grammar/netc.y"
                                    { (yyval.ast) = ast_string(c, (yyloc), (yyvsp[0].text)); }
#line 1697 "build-fuzz/grammar/parser.c"
    break;

  case 55: /* primary: "'true'"  */
#line 134 "grammar/netc.y"
                                    { (yyval.ast) = ast_bool(c, (yyloc), true); }
#line 1703 "build-fuzz/grammar/parser.c"
    break;

  case 56: /* primary: "'false'"  */
#line 135 "grammar/netc.y"
                                    { (yyval.ast) = ast_bool(c, (yyloc), false); }
#line 1709 "build-fuzz/grammar/parser.c"
    break;

  case 59: /* primary: ident ':' call  */
#line 138 "grammar/netc.y"
                                    { (yyval.ast) = ast_label(c, (yyloc), (yyvsp[-2].ast), (yyvsp[0].ast)); }
#line 1715 "build-fuzz/grammar/parser.c"
    break;

  case 60: /* primary: '(' expr ')'  */
#line 139 "grammar/netc.y"
                                    { (yyval.ast) = (yyvsp[-1].ast); }
#line 1721 "build-fuzz/grammar/parser.c"
    break;

  case 61: /* primary: '[' exprs_opt ']'  */
#line 140 "grammar/netc.y"
                                    { (yyval.ast) = ast_list_expr(c, (yyloc), (yyvsp[-1].list)); }
#line 1727 "build-fuzz/grammar/parser.c"
    break;

  case 62: /* call: ident '(' args_opt ')'  */
#line 142 "grammar/netc.y"
                                    { (yyval.ast) = ast_call(c, (yyloc), (yyvsp[-3].ast), (yyvsp[-1].list)); }
#line 1733 "build-fuzz/grammar/parser.c"
    break;

  case 63: /* args_opt: %empty  */
#line 144 "grammar/netc.y"
                                    { (yyval.list) = ast_list_new(); }
#line 1739 "build-fuzz/grammar/parser.c"
    break;

  case 64: /* args_opt: args  */
#line 145 "grammar/netc.y"
                                    { (yyval.list) = (yyvsp[0].list); }
#line 1745 "build-fuzz/grammar/parser.c"
    break;

  case 65: /* args_opt: args ','  */
#line 146 "grammar/netc.y"
                                    { (yyval.list) = (yyvsp[-1].list); }
#line 1751 "build-fuzz/grammar/parser.c"
    break;

  case 66: /* args: arg  */
#line 148 "grammar/netc.y"
                                    { (yyval.list) = ast_list_push(c, ast_list_new(), (yyvsp[0].ast)); }
#line 1757 "build-fuzz/grammar/parser.c"
    break;

  case 67: /* args: args ',' arg  */
#line 149 "grammar/netc.y"
                                    { (yyval.list) = ast_list_push(c, (yyvsp[-2].list), (yyvsp[0].ast)); }
#line 1763 "build-fuzz/grammar/parser.c"
    break;

  case 69: /* arg: ident '=' expr  */
#line 152 "grammar/netc.y"
                                    { (yyval.ast) = ast_kwarg(c, (yyloc), (yyvsp[-2].ast), (yyvsp[0].ast)); }
#line 1769 "build-fuzz/grammar/parser.c"
    break;

  case 70: /* exprs_opt: %empty  */
#line 154 "grammar/netc.y"
                                    { (yyval.list) = ast_list_new(); }
#line 1775 "build-fuzz/grammar/parser.c"
    break;

  case 71: /* exprs_opt: exprs  */
#line 155 "grammar/netc.y"
                                    { (yyval.list) = (yyvsp[0].list); }
#line 1781 "build-fuzz/grammar/parser.c"
    break;

  case 72: /* exprs_opt: exprs ','  */
#line 156 "grammar/netc.y"
                                    { (yyval.list) = (yyvsp[-1].list); }
#line 1787 "build-fuzz/grammar/parser.c"
    break;

  case 73: /* exprs: expr  */
#line 158 "grammar/netc.y"
                                    { (yyval.list) = ast_list_push(c, ast_list_new(), (yyvsp[0].ast)); }
#line 1793 "build-fuzz/grammar/parser.c"
    break;

  case 74: /* exprs: exprs ',' expr  */
#line 159 "grammar/netc.y"
                                    { (yyval.list) = ast_list_push(c, (yyvsp[-2].list), (yyvsp[0].ast)); }
#line 1799 "build-fuzz/grammar/parser.c"
    break;

  case 75: /* ident: "identifier"  */
#line 161 "grammar/netc.y"
                                    { (yyval.ast) = ast_name(c, (yyloc), (yyvsp[0].text)); }
#line 1805 "build-fuzz/grammar/parser.c"
    break;


#line 1809 "build-fuzz/grammar/parser.c"

      default: break;
    }
  /* User semantic actions sometimes alter yychar, and that requires
     that yytoken be updated with the new translation.  We take the
     approach of translating immediately before every use of yytoken.
     One alternative is translating here after every semantic action,
     but that translation would be missed if the semantic action invokes
     YYABORT, YYACCEPT, or YYERROR immediately after altering yychar or
     if it invokes YYBACKUP.  In the case of YYABORT or YYACCEPT, an
     incorrect destructor might then be invoked immediately.  In the
     case of YYERROR or YYBACKUP, subsequent parser actions might lead
     to an incorrect destructor call or verbose syntax error message
     before the lookahead is translated.  */
  YY_SYMBOL_PRINT ("-> $$ =", YY_CAST (yysymbol_kind_t, yyr1[yyn]), &yyval, &yyloc);

  YYPOPSTACK (yylen);
  yylen = 0;

  *++yyvsp = yyval;
  *++yylsp = yyloc;

  /* Now 'shift' the result of the reduction.  Determine what state
     that goes to, based on the state we popped back to and the rule
     number reduced by.  */
  {
    const int yylhs = yyr1[yyn] - YYNTOKENS;
    const int yyi = yypgoto[yylhs] + *yyssp;
    yystate = (0 <= yyi && yyi <= YYLAST && yycheck[yyi] == *yyssp
               ? yytable[yyi]
               : yydefgoto[yylhs]);
  }

  goto yynewstate;


/*--------------------------------------.
| yyerrlab -- here on detecting error.  |
`--------------------------------------*/
yyerrlab:
  /* Make sure we have latest lookahead translation.  See comments at
     user semantic actions for why this is necessary.  */
  yytoken = yychar == YYEMPTY ? YYSYMBOL_YYEMPTY : YYTRANSLATE (yychar);
  /* If not already recovering from an error, report this error.  */
  if (!yyerrstatus)
    {
      ++yynerrs;
      {
        yypcontext_t yyctx
          = {yyssp, yytoken, &yylloc};
        if (yyreport_syntax_error (&yyctx, scanner, c) == 2)
          YYNOMEM;
      }
    }

  yyerror_range[1] = yylloc;
  if (yyerrstatus == 3)
    {
      /* If just tried and failed to reuse lookahead token after an
         error, discard it.  */

      if (yychar <= YYEOF)
        {
          /* Return failure if at end of input.  */
          if (yychar == YYEOF)
            YYABORT;
        }
      else
        {
          yydestruct ("Error: discarding",
                      yytoken, &yylval, &yylloc, scanner, c);
          yychar = YYEMPTY;
        }
    }

  /* Else will try to reuse lookahead token after shifting the error
     token.  */
  goto yyerrlab1;


/*---------------------------------------------------.
| yyerrorlab -- error raised explicitly by YYERROR.  |
`---------------------------------------------------*/
yyerrorlab:
  /* Pacify compilers when the user code never invokes YYERROR and the
     label yyerrorlab therefore never appears in user code.  */
  if (0)
    YYERROR;
  ++yynerrs;

  /* Do not reclaim the symbols of the rule whose action triggered
     this YYERROR.  */
  YYPOPSTACK (yylen);
  yylen = 0;
  YY_STACK_PRINT (yyss, yyssp);
  yystate = *yyssp;
  goto yyerrlab1;


/*-------------------------------------------------------------.
| yyerrlab1 -- common code for both syntax error and YYERROR.  |
`-------------------------------------------------------------*/
yyerrlab1:
  yyerrstatus = 3;      /* Each real token shifted decrements this.  */

  /* Pop stack until we find a state that shifts the error token.  */
  for (;;)
    {
      yyn = yypact[yystate];
      if (!yypact_value_is_default (yyn))
        {
          yyn += YYSYMBOL_YYerror;
          if (0 <= yyn && yyn <= YYLAST && yycheck[yyn] == YYSYMBOL_YYerror)
            {
              yyn = yytable[yyn];
              if (0 < yyn)
                break;
            }
        }

      /* Pop the current state because it cannot handle the error token.  */
      if (yyssp == yyss)
        YYABORT;

      yyerror_range[1] = *yylsp;
      yydestruct ("Error: popping",
                  YY_ACCESSING_SYMBOL (yystate), yyvsp, yylsp, scanner, c);
      YYPOPSTACK (1);
      yystate = *yyssp;
      YY_STACK_PRINT (yyss, yyssp);
    }

  YY_IGNORE_MAYBE_UNINITIALIZED_BEGIN
  *++yyvsp = yylval;
  YY_IGNORE_MAYBE_UNINITIALIZED_END

  yyerror_range[2] = yylloc;
  ++yylsp;
  YYLLOC_DEFAULT (*yylsp, yyerror_range, 2);

  /* Shift the error token.  */
  YY_SYMBOL_PRINT ("Shifting", YY_ACCESSING_SYMBOL (yyn), yyvsp, yylsp);

  yystate = yyn;
  goto yynewstate;


/*-------------------------------------.
| yyacceptlab -- YYACCEPT comes here.  |
`-------------------------------------*/
yyacceptlab:
  yyresult = 0;
  goto yyreturnlab;


/*-----------------------------------.
| yyabortlab -- YYABORT comes here.  |
`-----------------------------------*/
yyabortlab:
  yyresult = 1;
  goto yyreturnlab;


/*-----------------------------------------------------------.
| yyexhaustedlab -- YYNOMEM (memory exhaustion) comes here.  |
`-----------------------------------------------------------*/
yyexhaustedlab:
  yyerror (&yylloc, scanner, c, YY_("memory exhausted"));
  yyresult = 2;
  goto yyreturnlab;


/*----------------------------------------------------------.
| yyreturnlab -- parsing is finished, clean up and return.  |
`----------------------------------------------------------*/
yyreturnlab:
  if (yychar != YYEMPTY)
    {
      /* Make sure we have latest lookahead translation.  See comments at
         user semantic actions for why this is necessary.  */
      yytoken = YYTRANSLATE (yychar);
      yydestruct ("Cleanup: discarding lookahead",
                  yytoken, &yylval, &yylloc, scanner, c);
    }
  /* Do not reclaim the symbols of the rule whose action triggered
     this YYABORT or YYACCEPT.  */
  YYPOPSTACK (yylen);
  YY_STACK_PRINT (yyss, yyssp);
  while (yyssp != yyss)
    {
      yydestruct ("Cleanup: popping",
                  YY_ACCESSING_SYMBOL (+*yyssp), yyvsp, yylsp, scanner, c);
      YYPOPSTACK (1);
    }
#ifndef yyoverflow
  if (yyss != yyssa)
    YYSTACK_FREE (yyss);
#endif

  return yyresult;
}

#line 164 "grammar/netc.y"


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
