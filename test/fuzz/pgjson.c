/*-------------------------------------------------------------------------
 *
 * pgjson.c
 *		The fuzzing oracle: RFC 8259 JSON as PostgreSQL 15's jsonb_in takes
 *		it, in a UTF8 database, what json.c may accept of it, and the jsonb
 *		that attrs must then hold.
 *
 * Beyond the grammar, jsonb_in refuses \u0000, unpaired surrogate escapes
 * and numbers that numeric cannot hold (the shim's numeric_in decides, with
 * PostgreSQL's range: "value overflows numeric format"); raw bytes must
 * also be valid UTF-8, or the text is not valid in the database.  A recursive descent parser,
 * deliberately unlike json-c's state machine, that stops following
 * nesting deeper than MODEL_MAX_DEPTH.
 *
 * pgjson_parse builds a tree of what the lenient check accepts, and
 * pgjson_jsonb_out prints it as jsonb_out would print jsonb_in's value:
 * the harness compares that with attrs, so a number must keep its text
 * (1.10 stays 1.10, a 30-digit integer stays whole) and a member its value.
 *
 *-------------------------------------------------------------------------
 */
#include "pgjson.h"

#include <string.h>

#include "pgshim.h"

#define MODEL_MAX_DEPTH		1000

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
 * A number: JSON's grammar (lenient: leading zeros too), then whether
 * json.c's exponent limit (lenient) or numeric_in (strict: the shim's,
 * which has PostgreSQL's range) takes it.
 */
static PgJsonVerdict
parse_number(Parser *p)
{
	size_t		start = p->pos;
	size_t		int_start,
				int_len;
	long		exponent = 0;

	if (p->s[p->pos] == '-')
		p->pos++;
	if (!is_digit(p))
		return fail(p, PGJSON_SYNTAX, "number without digits");
	int_start = p->pos;
	while (is_digit(p))
		p->pos++;
	int_len = p->pos - int_start;
	if (p->pos < p->len && p->s[p->pos] == '.')
	{
		p->pos++;
		if (!is_digit(p))
			return fail(p, PGJSON_SYNTAX, "no digit after the point");
		while (is_digit(p))
			p->pos++;
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
	if (exponent > PGJSON_MAX_EXPONENT || exponent < -PGJSON_MAX_EXPONENT)
	{
		p->info->plain_numbers = false;
		if (p->lenient)
			return fail(p, PGJSON_EXPONENT_RANGE, "an exponent beyond 1000");
	}
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
		case '-':
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
		case PGJSON_EXPONENT_RANGE:
			return "exponent beyond 1000";
		case PGJSON_TOO_DEEP:
			return "too deep for the model";
	}
	return "?";
}

/*
 * The tree of a document, and what jsonb_out prints for it.
 *
 * The builder runs only on text the lenient check has accepted, so it does
 * not check the grammar again; it only stays inside the text.
 */
typedef enum PgJsonKind
{
	PV_NULL,
	PV_FALSE,
	PV_TRUE,
	PV_NUMBER,
	PV_STRING,
	PV_ARRAY,
	PV_OBJECT
} PgJsonKind;

struct PgJsonValue
{
	PgJsonKind	kind;
	char	   *text;			/* a string's bytes, decoded; a number's literal */
	size_t		len;
	size_t		n;				/* elements or members */
	PgJsonValue **items;
	PgJsonValue **names;		/* of an object's members: strings */
	bool		repeats;		/* this or a value in it repeats a member name */
};

/* A growing text, malloc'd. */
typedef struct Text
{
	char	   *data;
	size_t		len;
	size_t		size;
} Text;

static void *
xmalloc(size_t size)
{
	void	   *p = malloc(size > 0 ? size : 1);

	if (p == NULL)
	{
		fprintf(stderr, "pgjson: out of memory\n");
		abort();
	}
	return p;
}

static void
text_append(Text *t, const void *s, size_t n)
{
	if (t->len + n + 1 > t->size)
	{
		size_t		size = Max(t->size * 2, t->len + n + 1);
		char	   *grown = xmalloc(size);

		if (t->len > 0)
			memcpy(grown, t->data, t->len);
		free(t->data);
		t->data = grown;
		t->size = size;
	}
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = '\0';
}

static void
text_char(Text *t, char c)
{
	text_append(t, &c, 1);
}

/* Appends a code point as UTF-8. */
static void
text_code_point(Text *t, long c)
{
	unsigned char b[4];
	size_t		n;

	if (c < 0x80)
	{
		b[0] = (unsigned char) c;
		n = 1;
	}
	else if (c < 0x800)
	{
		b[0] = (unsigned char) (0xC0 | (c >> 6));
		b[1] = (unsigned char) (0x80 | (c & 0x3F));
		n = 2;
	}
	else if (c < 0x10000)
	{
		b[0] = (unsigned char) (0xE0 | (c >> 12));
		b[1] = (unsigned char) (0x80 | ((c >> 6) & 0x3F));
		b[2] = (unsigned char) (0x80 | (c & 0x3F));
		n = 3;
	}
	else
	{
		b[0] = (unsigned char) (0xF0 | (c >> 18));
		b[1] = (unsigned char) (0x80 | ((c >> 12) & 0x3F));
		b[2] = (unsigned char) (0x80 | ((c >> 6) & 0x3F));
		b[3] = (unsigned char) (0x80 | (c & 0x3F));
		n = 4;
	}
	text_append(t, b, n);
}

static PgJsonValue *build_value(Parser *p);

static PgJsonValue *
new_value(PgJsonKind kind)
{
	PgJsonValue *v = xmalloc(sizeof(PgJsonValue));

	memset(v, 0, sizeof(PgJsonValue));
	v->kind = kind;
	return v;
}

/*
 * A string, decoded as json-c decodes it: a high surrogate escape followed
 * by a low one is one character; any other surrogate escape is U+FFFD, and
 * the escape after an unpaired high surrogate is read on its own.
 */
static PgJsonValue *
build_string(Parser *p)
{
	PgJsonValue *v = new_value(PV_STRING);
	Text		t = {NULL, 0, 0};

	text_append(&t, "", 0);
	p->pos++;					/* the opening quote */
	while (p->pos < p->len && p->s[p->pos] != '"')
	{
		unsigned char c = p->s[p->pos];

		if (c != '\\')
		{
			text_char(&t, (char) c);
			p->pos++;
			continue;
		}
		c = p->s[p->pos + 1];
		p->pos += 2;
		switch (c)
		{
			case 'b':
				text_char(&t, '\b');
				break;
			case 'f':
				text_char(&t, '\f');
				break;
			case 'n':
				text_char(&t, '\n');
				break;
			case 'r':
				text_char(&t, '\r');
				break;
			case 't':
				text_char(&t, '\t');
				break;
			case 'u':
				{
					long		code = hex4(p);

					if (code >= 0xD800 && code <= 0xDBFF)
					{
						size_t		save = p->pos;
						long		low = -1;

						if (p->len - p->pos >= 6 && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u')
						{
							p->pos += 2;
							low = hex4(p);
						}
						if (low >= 0xDC00 && low <= 0xDFFF)
							code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
						else
						{
							code = 0xFFFD;
							p->pos = save;
						}
					}
					else if (code >= 0xDC00 && code <= 0xDFFF)
						code = 0xFFFD;
					text_code_point(&t, code);
				}
				break;
			default:			/* " \ / */
				text_char(&t, (char) c);
				break;
		}
	}
	p->pos++;					/* the closing quote */
	v->text = t.data;
	v->len = t.len;
	return v;
}

/* Whether two strings are equal. */
static bool
same_string(const PgJsonValue *a, const PgJsonValue *b)
{
	return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
}

/* An array or an object, its opening bracket at the position. */
static PgJsonValue *
build_container(Parser *p, bool object)
{
	PgJsonValue *v = new_value(object ? PV_OBJECT : PV_ARRAY);
	unsigned char close = object ? '}' : ']';
	size_t		size = 0;

	p->pos++;
	skip_ws(p);
	while (p->pos < p->len && p->s[p->pos] != close)
	{
		PgJsonValue *name = NULL;
		PgJsonValue *item;

		if (object)
		{
			skip_ws(p);
			name = build_string(p);
			skip_ws(p);
			p->pos++;			/* the colon */
		}
		item = build_value(p);
		if (v->n == size)
		{
			PgJsonValue **items;
			PgJsonValue **names;

			size = size ? size * 2 : 4;
			items = xmalloc(sizeof(PgJsonValue *) * size);
			names = xmalloc(sizeof(PgJsonValue *) * size);
			if (v->n > 0)
			{
				memcpy(items, v->items, sizeof(PgJsonValue *) * v->n);
				memcpy(names, v->names, sizeof(PgJsonValue *) * v->n);
			}
			free(v->items);
			free(v->names);
			v->items = items;
			v->names = names;
		}
		if (item->repeats)
			v->repeats = true;
		for (size_t i = 0; object && i < v->n; i++)
		{
			if (same_string(v->names[i], name))
				v->repeats = true;
		}
		v->items[v->n] = item;
		v->names[v->n] = name;
		v->n++;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',')
		{
			p->pos++;
			skip_ws(p);
		}
	}
	p->pos++;					/* the closing bracket */
	return v;
}

static PgJsonValue *
build_value(Parser *p)
{
	PgJsonValue *v;
	size_t		start;

	skip_ws(p);
	switch (p->s[p->pos])
	{
		case '{':
			return build_container(p, true);
		case '[':
			return build_container(p, false);
		case '"':
			return build_string(p);
		case 't':
			p->pos += 4;
			return new_value(PV_TRUE);
		case 'f':
			p->pos += 5;
			return new_value(PV_FALSE);
		case 'n':
			p->pos += 4;
			return new_value(PV_NULL);
		default:
			break;
	}
	v = new_value(PV_NUMBER);
	start = p->pos;
	while (p->pos < p->len && strchr("+-.eE0123456789", p->s[p->pos]) != NULL &&
		   p->s[p->pos] != '\0')
		p->pos++;
	v->len = p->pos - start;
	v->text = xmalloc(v->len + 1);
	memcpy(v->text, p->s + start, v->len);
	v->text[v->len] = '\0';
	return v;
}

PgJsonValue *
pgjson_parse(const char *s, size_t len)
{
	PgJsonInfo	info;
	Parser		p = {(const unsigned char *) s, len, 0, true, 0, &info};

	if (pgjson_check(s, len, true, &info) != PGJSON_OK)
		return NULL;
	return build_value(&p);
}

void
pgjson_free(PgJsonValue *value)
{
	if (value == NULL)
		return;
	for (size_t i = 0; i < value->n; i++)
	{
		pgjson_free(value->items[i]);
		pgjson_free(value->names ? value->names[i] : NULL);
	}
	free(value->items);
	free(value->names);
	free(value->text);
	free(value);
}

bool
pgjson_is_object(const PgJsonValue *value)
{
	return value != NULL && value->kind == PV_OBJECT;
}

bool
pgjson_is_array(const PgJsonValue *value)
{
	return value != NULL && value->kind == PV_ARRAY;
}

bool
pgjson_repeats_names(const PgJsonValue *value)
{
	return value != NULL && value->repeats;
}

const PgJsonValue *
pgjson_member(const PgJsonValue *object, const char *name)
{
	size_t		len = strlen(name);

	if (!pgjson_is_object(object))
		return NULL;
	for (size_t i = object->n; i-- > 0;)
	{
		if (object->names[i]->len == len && memcmp(object->names[i]->text, name, len) == 0)
			return object->items[i];
	}
	return NULL;
}

size_t
pgjson_length(const PgJsonValue *array)
{
	return pgjson_is_array(array) ? array->n : 0;
}

const PgJsonValue *
pgjson_element(const PgJsonValue *array, size_t i)
{
	return i < pgjson_length(array) ? array->items[i] : NULL;
}

/*
 * numeric_out's text of what numeric_in reads from a number's literal:
 * the digits with the point moved by the exponent, without leading zeros,
 * with as many decimals as the literal has after the exponent moved them
 * (the display scale), no minus sign for zero.
 */
static void
append_numeric(Text *t, const char *lit, size_t len)
{
	size_t		i = 0;
	bool		negative = false;
	char	   *digits = xmalloc(len + 1);
	long		ndigits = 0;
	long		nint = 0;
	long		exponent = 0;
	long		point;
	long		dscale;
	long		first;

	if (lit[i] == '-' || lit[i] == '+')
		negative = lit[i++] == '-';
	for (; i < len && isdigit((unsigned char) lit[i]); i++, nint++)
		digits[ndigits++] = lit[i];
	if (i < len && lit[i] == '.')
		for (i++; i < len && isdigit((unsigned char) lit[i]); i++)
			digits[ndigits++] = lit[i];
	if (i < len && (lit[i] == 'e' || lit[i] == 'E'))
	{
		bool		neg_exp = false;

		i++;
		if (i < len && (lit[i] == '+' || lit[i] == '-'))
			neg_exp = lit[i++] == '-';
		for (; i < len && isdigit((unsigned char) lit[i]); i++)
			exponent = Min(exponent * 10 + (lit[i] - '0'), 100000000L);
		if (neg_exp)
			exponent = -exponent;
	}
	point = nint + exponent;	/* digits before the point */
	dscale = Max(0, ndigits - nint - exponent);
	for (first = 0; first < ndigits && digits[first] == '0'; first++)
		;
	if (first == ndigits)
		text_char(t, '0');
	else
	{
		if (negative)
			text_char(t, '-');
		if (point <= first)
			text_char(t, '0');
		for (long k = first; k < point; k++)
			text_char(t, k < ndigits ? digits[k] : '0');
	}
	if (dscale > 0)
	{
		text_char(t, '.');
		for (long k = point; k < point + dscale; k++)
			text_char(t, k >= 0 && k < ndigits ? digits[k] : '0');
	}
	free(digits);
}

/* A string as jsonb_out writes it (escape_json). */
static void
append_escaped(Text *t, const char *s, size_t len)
{
	text_char(t, '"');
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];
		char		esc[8];

		switch (c)
		{
			case '"':
				text_append(t, "\\\"", 2);
				break;
			case '\\':
				text_append(t, "\\\\", 2);
				break;
			case '\b':
				text_append(t, "\\b", 2);
				break;
			case '\f':
				text_append(t, "\\f", 2);
				break;
			case '\n':
				text_append(t, "\\n", 2);
				break;
			case '\r':
				text_append(t, "\\r", 2);
				break;
			case '\t':
				text_append(t, "\\t", 2);
				break;
			default:
				if (c < 0x20)
				{
					snprintf(esc, sizeof(esc), "\\u%04x", c);
					text_append(t, esc, 6);
				}
				else
					text_char(t, (char) c);
		}
	}
	text_char(t, '"');
}

/* The members of an object in jsonb's order, for qsort. */
typedef struct Member
{
	const PgJsonValue *name;
	const PgJsonValue *value;
	size_t		order;
} Member;

/* jsonb's key order: shorter first, then bytewise; equal names by arrival. */
static int
compare_members(const void *a, const void *b)
{
	const Member *x = a;
	const Member *y = b;

	if (x->name->len != y->name->len)
		return x->name->len < y->name->len ? -1 : 1;
	if (x->name->len > 0)
	{
		int			c = memcmp(x->name->text, y->name->text, x->name->len);

		if (c != 0)
			return c;
	}
	return x->order < y->order ? -1 : 1;
}

static void
append_jsonb(Text *t, const PgJsonValue *v, const char *without)
{
	switch (v->kind)
	{
		case PV_NULL:
			text_append(t, "null", 4);
			break;
		case PV_FALSE:
			text_append(t, "false", 5);
			break;
		case PV_TRUE:
			text_append(t, "true", 4);
			break;
		case PV_NUMBER:
			append_numeric(t, v->text, v->len);
			break;
		case PV_STRING:
			append_escaped(t, v->text, v->len);
			break;
		case PV_ARRAY:
			text_char(t, '[');
			for (size_t i = 0; i < v->n; i++)
			{
				if (i > 0)
					text_append(t, ", ", 2);
				append_jsonb(t, v->items[i], NULL);
			}
			text_char(t, ']');
			break;
		case PV_OBJECT:
			{
				Member	   *members = xmalloc(sizeof(Member) * v->n);
				size_t		n = 0;
				bool		first = true;

				for (size_t i = 0; i < v->n; i++)
				{
					if (without != NULL && v->names[i]->len == strlen(without) &&
						memcmp(v->names[i]->text, without, v->names[i]->len) == 0)
						continue;
					members[n].name = v->names[i];
					members[n].value = v->items[i];
					members[n].order = i;
					n++;
				}
				qsort(members, n, sizeof(Member), compare_members);
				text_char(t, '{');
				for (size_t i = 0; i < n; i++)
				{
					if (i + 1 < n && same_string(members[i].name, members[i + 1].name))
						continue;	/* a later member has the same name */
					if (!first)
						text_append(t, ", ", 2);
					first = false;
					append_escaped(t, members[i].name->text, members[i].name->len);
					text_append(t, ": ", 2);
					append_jsonb(t, members[i].value, NULL);
				}
				text_char(t, '}');
				free(members);
			}
			break;
	}
}

char *
pgjson_jsonb_out(const PgJsonValue *value, const char *without)
{
	Text		t = {NULL, 0, 0};

	text_append(&t, "", 0);
	append_jsonb(&t, value, without);
	return t.data;
}
