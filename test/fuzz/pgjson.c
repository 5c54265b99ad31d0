/*-------------------------------------------------------------------------
 *
 * pgjson.c
 *		The fuzzing oracle: RFC 8259 JSON as PostgreSQL 15's jsonb_in takes
 *		it, in a UTF8 database.
 *
 * Beyond the grammar, jsonb_in refuses \u0000, unpaired surrogate escapes
 * and numbers that numeric cannot hold (the shim's numeric_in decides, with
 * PostgreSQL's range: "value overflows numeric format"); raw bytes must
 * also be valid UTF-8, or the text is not valid in the database.  A recursive descent parser,
 * deliberately unlike json-c's state machine, that stops following
 * nesting deeper than MODEL_MAX_DEPTH.
 *
 *-------------------------------------------------------------------------
 */
#include "pgjson.h"

#include <string.h>

#include "pgshim.h"

#define MODEL_MAX_DEPTH		1000
#define PLAIN_LIMIT			1000

typedef struct Parser
{
	const unsigned char *s;
	size_t		len;
	size_t		pos;
	bool		lenient;
	int			depth;
	PgJsonInfo *info;
} Parser;

static PgJsonVerdict parse_value(Parser *p);

/* Records where a verdict other than OK was reached, and returns it. */
static PgJsonVerdict
fail(Parser *p, PgJsonVerdict verdict, const char *where)
{
	p->info->where = where;
	return verdict;
}

static void
skip_ws(Parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
							   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static bool
is_digit(Parser *p)
{
	return p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9';
}

/* Value of four hex digits at the position, or -1. */
static long
hex4(Parser *p)
{
	long		v = 0;

	if (p->len - p->pos < 4)
		return -1;
	for (int i = 0; i < 4; i++)
	{
		unsigned char c = p->s[p->pos + i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	p->pos += 4;
	return v;
}

/* A \u escape, the backslash and u already read. */
static PgJsonVerdict
parse_unicode_escape(Parser *p)
{
	long		code = hex4(p);

	if (code < 0)
		return fail(p, PGJSON_SYNTAX, "\\u escape without four hex digits");
	if (code == 0)
		return fail(p, PGJSON_NUL_ESCAPE, "\\u0000");
	if (code >= 0xDC00 && code <= 0xDFFF)
		return p->lenient ? PGJSON_OK : fail(p, PGJSON_SURROGATE, "low surrogate first");
	if (code >= 0xD800 && code <= 0xDBFF)
	{
		size_t		save = p->pos;
		long		low;

		if (p->len - p->pos >= 2 && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u')
		{
			p->pos += 2;
			low = hex4(p);
			if (low >= 0xDC00 && low <= 0xDFFF)
				return PGJSON_OK;
		}
		if (!p->lenient)
			return fail(p, PGJSON_SURROGATE, "high surrogate alone");
		p->pos = save;			/* the next escape is read on its own */
	}
	return PGJSON_OK;
}

static PgJsonVerdict
parse_string(Parser *p)
{
	p->pos++;					/* the opening quote */
	while (p->pos < p->len)
	{
		unsigned char c = p->s[p->pos];

		if (c == '"')
		{
			p->pos++;
			return PGJSON_OK;
		}
		if (c == 0)
			return fail(p, PGJSON_ENCODING, "NUL byte in string");
		if (c < 0x20 && !p->lenient)
			return fail(p, PGJSON_SYNTAX, "control character in string");
		if (c == '\\')
		{
			if (p->pos + 1 >= p->len)
				break;
			c = p->s[p->pos + 1];
			p->pos += 2;
			if (c == 'u')
			{
				PgJsonVerdict v = parse_unicode_escape(p);

				if (v != PGJSON_OK)
					return v;
			}
			else if (!strchr("\"\\/bfnrt", c) || c == '\0')
				return fail(p, PGJSON_SYNTAX, "invalid escape");
			continue;
		}
		if (c < 0x80)
		{
			p->pos++;
			continue;
		}
		{
			size_t		n = 1;

			while (p->pos + n < p->len && n < 4 && p->s[p->pos + n] >= 0x80 &&
				   p->s[p->pos + n] <= 0xBF)
				n++;
			/* the longest valid prefix decides */
			while (n > 1 && !pgshim_utf8_valid((const char *) p->s + p->pos, n))
				n--;
			if (!pgshim_utf8_valid((const char *) p->s + p->pos, n))
				return fail(p, PGJSON_ENCODING, "invalid UTF-8 in string");
			p->pos += n;
		}
	}
	return fail(p, PGJSON_SYNTAX, "unterminated string");
}

/*
 * A number: JSON's grammar, then whether numeric_in takes it (the shim's,
 * which has PostgreSQL's range).
 */
static PgJsonVerdict
parse_number(Parser *p)
{
	size_t		start = p->pos;
	size_t		int_start,
				int_len,
				frac_len = 0;
	long		exponent = 0;

	if (p->s[p->pos] == '-')
		p->pos++;
	if (!is_digit(p) &&
		!(p->lenient && p->s[start] == '-' && p->pos < p->len && p->s[p->pos] == '.'))
		return fail(p, PGJSON_SYNTAX, "number without digits");
	int_start = p->pos;
	while (is_digit(p))
		p->pos++;
	int_len = p->pos - int_start;
	if (p->pos < p->len && p->s[p->pos] == '.')
	{
		p->pos++;
		if (!is_digit(p) && !(p->lenient && int_len > 0))
			return fail(p, PGJSON_SYNTAX, "no digit after the point");
		for (; is_digit(p); p->pos++)
			frac_len++;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
	{
		bool		negative = false;

		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			negative = p->s[p->pos++] == '-';
		if (!is_digit(p))
			return fail(p, PGJSON_SYNTAX, "no digit in the exponent");
		for (; is_digit(p); p->pos++)
			exponent = Min(exponent * 10 + (p->s[p->pos] - '0'), 100000000L);
		if (negative)
			exponent = -exponent;
	}
	if (int_len > 1 && p->s[int_start] == '0' && !p->lenient)
		return fail(p, PGJSON_SYNTAX, "leading zero");
	if (p->pos < p->len && (isalnum(p->s[p->pos]) || p->s[p->pos] == '.' || p->s[p->pos] == '_'))
		return fail(p, PGJSON_SYNTAX, "junk after number");
	if (int_len + frac_len > PLAIN_LIMIT || exponent > PLAIN_LIMIT || exponent < -PLAIN_LIMIT)
		p->info->plain_numbers = false;
	if (!p->lenient && !pgshim_numeric_finite((const char *) p->s + start, p->pos - start))
		return fail(p, PGJSON_NUMERIC_RANGE, "beyond numeric's range");
	return PGJSON_OK;
}

/* A literal: true, false or null, not followed by a letter or digit. */
static PgJsonVerdict
parse_literal(Parser *p, const char *word)
{
	size_t		n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return fail(p, PGJSON_SYNTAX, "invalid token");
	p->pos += n;
	if (p->pos < p->len && (isalnum(p->s[p->pos]) || p->s[p->pos] == '_' || p->s[p->pos] >= 0x80))
		return fail(p, PGJSON_SYNTAX, "junk after literal");
	return PGJSON_OK;
}

/* The members or elements of a container, the opening bracket read. */
static PgJsonVerdict
parse_container(Parser *p, bool object)
{
	unsigned char close = object ? '}' : ']';
	PgJsonVerdict v;

	if (++p->depth > MODEL_MAX_DEPTH)
		return fail(p, PGJSON_TOO_DEEP, "deeper than the model follows");
	if (p->depth > p->info->depth)
		p->info->depth = p->depth;
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close)
	{
		p->pos++;
		p->depth--;
		return PGJSON_OK;
	}
	for (;;)
	{
		skip_ws(p);
		if (object)
		{
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return fail(p, PGJSON_SYNTAX, "member name expected");
			if ((v = parse_string(p)) != PGJSON_OK)
				return v;
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return fail(p, PGJSON_SYNTAX, "colon expected");
			p->pos++;
		}
		if ((v = parse_value(p)) != PGJSON_OK)
			return v;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',')
		{
			p->pos++;
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == close)
		{
			p->pos++;
			p->depth--;
			return PGJSON_OK;
		}
		return fail(p, PGJSON_SYNTAX, "comma or closing bracket expected");
	}
}

static PgJsonVerdict
parse_value(Parser *p)
{
	skip_ws(p);
	if (p->pos >= p->len)
		return fail(p, PGJSON_SYNTAX, "value expected");
	switch (p->s[p->pos])
	{
		case '{':
			return parse_container(p, true);
		case '[':
			return parse_container(p, false);
		case '"':
			return parse_string(p);
		case 't':
			return parse_literal(p, "true");
		case 'f':
			return parse_literal(p, "false");
		case 'n':
			return parse_literal(p, "null");
		case 'N':
		case 'I':
			if (!p->lenient)
				return fail(p, PGJSON_SYNTAX, "invalid token");
			return parse_literal(p, p->s[p->pos] == 'N' ? "NaN" : "Infinity");
		case '-':
			if (p->lenient && p->pos + 1 < p->len && p->s[p->pos + 1] == 'I')
				return parse_literal(p, "-Infinity");
			return parse_number(p);
		case '0':
		case '1':
		case '2':
		case '3':
		case '4':
		case '5':
		case '6':
		case '7':
		case '8':
		case '9':
			return parse_number(p);
		default:
			return fail(p, p->s[p->pos] == 0 ? PGJSON_ENCODING : PGJSON_SYNTAX, "invalid token");
	}
}

PgJsonVerdict
pgjson_check(const char *s, size_t len, bool lenient, PgJsonInfo *info)
{
	Parser		p = {(const unsigned char *) s, len, 0, lenient, 0, info};
	PgJsonVerdict v;

	info->depth = 0;
	info->plain_numbers = true;
	info->where = NULL;
	if (memchr(s, '\0', len) != NULL)
		return fail(&p, PGJSON_ENCODING, "NUL byte");
	if ((v = parse_value(&p)) != PGJSON_OK)
		return v;
	skip_ws(&p);
	if (p.pos != len)
		return fail(&p, PGJSON_SYNTAX, "data after the value");
	return PGJSON_OK;
}

const char *
pgjson_verdict_name(PgJsonVerdict verdict)
{
	switch (verdict)
	{
		case PGJSON_OK:
			return "valid";
		case PGJSON_SYNTAX:
			return "not JSON";
		case PGJSON_ENCODING:
			return "not valid UTF-8";
		case PGJSON_NUL_ESCAPE:
			return "\\u0000";
		case PGJSON_SURROGATE:
			return "unpaired surrogate escape";
		case PGJSON_NUMERIC_RANGE:
			return "number out of numeric's range";
		case PGJSON_TOO_DEEP:
			return "too deep for the model";
	}
	return "?";
}
