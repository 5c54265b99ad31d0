/*-------------------------------------------------------------------------
 *
 * pgjson.h
 *		A model of the JSON that PostgreSQL's jsonb_in accepts and of what
 *		json.c makes of it, written independently of json-c, as the fuzzing
 *		oracle for json.c and dialect_orq.c.
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
	PGJSON_EXPONENT_RANGE,		/* lenient only: an exponent beyond +-1000,
								 * which json.c refuses */
	PGJSON_TOO_DEEP				/* nested deeper than the model follows */
} PgJsonVerdict;

/* What a check saw besides its verdict. */
typedef struct PgJsonInfo
{
	int			depth;			/* deepest nesting of arrays and objects */
	bool		plain_numbers;	/* every exponent is within +-1000
								 * (PGJSON_MAX_EXPONENT) */
	const char *where;			/* where the verdict was reached */
} PgJsonInfo;

/* The largest exponent json.c takes (RK_JSON_MAX_EXPONENT), in magnitude. */
#define PGJSON_MAX_EXPONENT 1000

/*
 * Checks len bytes against the model.  Without lenient, the model is
 * jsonb_in's.  With lenient, it is what a read may accept: json.c refuses
 * NaN, Infinity, a point without digits on one side ("1.", "-.5") and an
 * exponent beyond +-1000 (PGJSON_EXPONENT_RANGE) even where numeric holds
 * the number, but json-c lets through what it reads as something valid or
 * what a read must check anyway: redundant leading zeros ("-007", "00.5"),
 * numbers with more digits than numeric holds (a read that builds attrs
 * must refuse them), unpaired surrogate escapes (read as U+FFFD), and raw
 * control characters in strings (escaped on output).
 */
extern PgJsonVerdict pgjson_check(const char *s, size_t len, bool lenient, PgJsonInfo *info);

/*
 * A document the lenient model accepts, as a tree, to say what attrs must
 * be: strings decoded as json-c decodes them (an unpaired surrogate is
 * U+FFFD), numbers as their text.  Everything is malloc'd, outside the
 * shim's arena and its allocation points.
 */
typedef struct PgJsonValue PgJsonValue;

/* The tree of a document, or NULL when the lenient model refuses it. */
extern PgJsonValue *pgjson_parse(const char *s, size_t len);
extern void pgjson_free(PgJsonValue *value);

extern bool pgjson_is_object(const PgJsonValue *value);
/* Whether an object in the value has two members of one name. */
extern bool pgjson_repeats_names(const PgJsonValue *value);
extern bool pgjson_is_array(const PgJsonValue *value);

/* The value of the last member of that name (as in json-c and jsonb), or NULL. */
extern const PgJsonValue *pgjson_member(const PgJsonValue *object, const char *name);

/* The elements of an array (0 for anything else). */
extern size_t pgjson_length(const PgJsonValue *array);
extern const PgJsonValue *pgjson_element(const PgJsonValue *array, size_t i);

/*
 * The text jsonb_out prints for the value as jsonb_in would store it:
 * members sorted as jsonb sorts them, the last of equal names kept, the
 * members named without left out at the top level (NULL: none), numbers as
 * numeric_out prints what numeric_in reads from their text, exactly.
 * malloc'd; the caller frees it.
 */
extern char *pgjson_jsonb_out(const PgJsonValue *value, const char *without);

/* The name of a verdict, for messages. */
extern const char *pgjson_verdict_name(PgJsonVerdict verdict);

#endif							/* RK_PGJSON_H */
