/* A Bison parser, made by GNU Bison 3.8.2.  */

/* Bison interface for Yacc-like parsers in C

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

/* DO NOT RELY ON FEATURES THAT ARE NOT DOCUMENTED in the manual,
   especially those whose name start with YY_ or yy_.  They are
   private implementation details that can be changed or removed.  */

#ifndef YY_YY_BUILD_FUZZ_GRAMMAR_PARSER_H_INCLUDED
# define YY_YY_BUILD_FUZZ_GRAMMAR_PARSER_H_INCLUDED
/* Debug traces.  */
#ifndef YYDEBUG
# define YYDEBUG 0
#endif
#if YYDEBUG
extern int yydebug;
#endif
/* "%code requires" blocks.  */
#line 15 "grammar/netc.y"

#include "compiler.h"

#line 53 "build-fuzz/grammar/parser.h"

/* Token kinds.  */
#ifndef YYTOKENTYPE
# define YYTOKENTYPE
  enum yytokentype
  {
    YYEMPTY = -2,
    YYEOF = 0,                     /* "end of file"  */
    YYerror = 256,                 /* error  */
    YYUNDEF = 257,                 /* "invalid token"  */
    IDENT = 258,                   /* "identifier"  */
    INT = 259,                     /* "integer"  */
    FLOAT = 260,                   /* "number"  */
    STRING = 261,                  /* "string"  */
    MODEL = 262,                   /* "'model'"  */
    LAYER = 263,                   /* "'layer'"  */
    TRAIN = 264,                   /* "'train'"  */
    RETURN = 265,                  /* "'return'"  */
    REPEAT = 266,                  /* "'repeat'"  */
    CONST = 267,                   /* "'const'"  */
    TRUE = 268,                    /* "'true'"  */
    FALSE = 269,                   /* "'false'"  */
    ARROW = 270,                   /* "'->'"  */
    STMT = 271,                    /* STMT  */
    NEG = 272                      /* NEG  */
  };
  typedef enum yytokentype yytoken_kind_t;
#endif

/* Value type.  */
#if ! defined YYSTYPE && ! defined YYSTYPE_IS_DECLARED
union YYSTYPE
{
#line 33 "grammar/netc.y"

    Ast *ast;
    AstList list;
    const char *text;

#line 93 "build-fuzz/grammar/parser.h"

};
typedef union YYSTYPE YYSTYPE;
# define YYSTYPE_IS_TRIVIAL 1
# define YYSTYPE_IS_DECLARED 1
#endif

/* Location type.  */
typedef Span YYLTYPE;




int yyparse (void *scanner, Compiler *c);


#endif /* !YY_YY_BUILD_FUZZ_GRAMMAR_PARSER_H_INCLUDED  */
