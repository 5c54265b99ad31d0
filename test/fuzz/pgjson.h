/*-------------------------------------------------------------------------
 *
 * pgjson.h
 *		A model of the JSON that PostgreSQL's jsonb_in accepts, written
 *		independently of json-c, as the fuzzing oracle for contract.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_PGJSON_H
#define RK_PGJSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum PgJsonVerdict
{
	PGJSON_OK,
	PGJSON_SYNTAX,				/* not RFC 8259 JSON */
	PGJSON_ENCODING,			/* not valid UTF-8, or a NUL byte */
	PGJSON_NUL_ESCAPE,			/* \u0000, which text and jsonb cannot hold */
	PGJSON_SURROGATE,			/* a \u escape of an unpaired surrogate */
	PGJSON_NUMERIC_RANGE,		/* a number that numeric cannot hold */
	PGJSON_TOO_DEEP				/* nested deeper than the model follows */
} PgJsonVerdict;

/* What a check saw besides its verdict. */
typedef struct PgJsonInfo
{
	int			depth;			/* deepest nesting of arrays and objects */
	bool		plain_numbers;	/* every number has at most 1000 digits and
								 * an exponent within +-1000 */
	const char *where;			/* where the verdict was reached */
} PgJsonInfo;

/*
 * Checks len bytes against the model.  With lenient, also accepts what
 * json-c reads as something valid or that the reader must check anyway:
 * redundant leading zeros ("007", "00.5"), a point without
 * digits on one side ("1.", "1.e5", "-.5"), NaN, Infinity and numbers beyond numeric (doubles, whose
 * value the reader checks), unpaired surrogate escapes (U+FFFD), and raw
 * control characters in strings (escaped on output).
 */
extern PgJsonVerdict pgjson_check(const char *s, size_t len, bool lenient, PgJsonInfo *info);

/* The name of a verdict, for messages. */
extern const char *pgjson_verdict_name(PgJsonVerdict verdict);

#endif							/* RK_PGJSON_H */
