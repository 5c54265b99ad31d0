/*-------------------------------------------------------------------------
 *
 * jsonb.c
 *		The jsonb building and the numbers of the shim: pushJsonbValue and
 *		JsonbValueToJsonb with PostgreSQL's token protocol, numeric_in
 *		(through OidInputFunctionCall) with PostgreSQL 15's syntax, special
 *		values and range, and double_to_shortest_decimal_buf.
 *
 * Where PostgreSQL would Assert, on a token out of protocol, the shim
 * aborts: that is a bug in the caller.  A Jsonb is stored as the JSON text
 * jsonb_out would print (keys sorted and unique as in a jsonb, numbers as
 * numeric_out prints them, NaN and infinities included), so that a harness
 * can check it.  Everything is palloc'd.
 *
 *-------------------------------------------------------------------------
 */
#include "pgshim.h"

#include <limits.h>
#include <math.h>

#include "common/shortest_dec.h"
#include "fmgr.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"

#define NUMERIC_WEIGHT_MAX	0x7FFF	/* in base-10000 digits */
#define NUMERIC_DSCALE_MAX	0x3FFF

typedef enum NumericKind
{
	NUMERIC_FINITE,
	NUMERIC_NAN,
	NUMERIC_PINF,
	NUMERIC_NINF
} NumericKind;

/* A Numeric of the shim: its kind and, if finite, numeric_out's text. */
struct NumericData
{
	NumericKind kind;
	char		text[FLEXIBLE_ARRAY_MEMBER];
};

/* The parts of a number as numeric_in reads them. */
typedef struct NumericParts
{
	NumericKind kind;
	bool		negative;
	const char *digits;			/* the digits, with at most one '.' among them */
	size_t		ndigits;		/* bytes from digits, the point included */
	size_t		nint;			/* digits before the point */
	long		exponent;
} NumericParts;

static void pg_attribute_noreturn()
protocol_error(const char *what)
{
	fprintf(stderr, "pgshim: pushJsonbValue protocol error: %s\n", what);
	abort();
}

/* Whether s (len bytes) starts with word, ignoring ASCII case. */
static bool
starts_with_word(const char *s, size_t len, const char *word)
{
	size_t		n = strlen(word);

	if (len < n)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		if (pg_ascii_tolower((unsigned char) s[i]) != pg_ascii_tolower((unsigned char) word[i]))
			return false;
	}
	return true;
}

/*
 * Reads a number as numeric_in does.  Returns 0, or the SQLSTATE of the
 * ERROR numeric_in raises.
 */
static int
parse_numeric(const char *s, size_t len, NumericParts *parts)
{
	static const struct
	{
		const char *word;
		NumericKind kind;
	}			specials[] = {
		{"NaN", NUMERIC_NAN}, {"Infinity", NUMERIC_PINF}, {"+Infinity", NUMERIC_PINF},
		{"-Infinity", NUMERIC_NINF}, {"inf", NUMERIC_PINF}, {"+inf", NUMERIC_PINF},
		{"-inf", NUMERIC_NINF}
	};
	size_t		i = 0;
	bool		point = false;
	long		dscale;

	memset(parts, 0, sizeof(NumericParts));
	while (i < len && isspace((unsigned char) s[i]))
		i++;
	for (int k = 0; k < (int) lengthof(specials); k++)
	{
		if (starts_with_word(s + i, len - i, specials[k].word))
		{
			parts->kind = specials[k].kind;
			i += strlen(specials[k].word);
			goto trailing;
		}
	}
	if (i < len && (s[i] == '+' || s[i] == '-'))
		parts->negative = s[i++] == '-';
	parts->digits = s + i;
	for (; i < len && (isdigit((unsigned char) s[i]) || (s[i] == '.' && !point)); i++)
	{
		if (s[i] == '.')
			point = true;
		else if (!point)
			parts->nint++;
		parts->ndigits++;
	}
	if (parts->ndigits == (point ? 1u : 0u))
		return ERRCODE_INVALID_TEXT_REPRESENTATION;
	if (i < len && (s[i] == 'e' || s[i] == 'E'))
	{
		bool		negative = false;
		size_t		start;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			negative = s[i++] == '-';
		start = i;
		for (; i < len && isdigit((unsigned char) s[i]); i++)
			parts->exponent = Min(parts->exponent * 10 + (s[i] - '0'), (long) INT_MAX);
		if (i == start)
			return ERRCODE_INVALID_TEXT_REPRESENTATION;
		if (parts->exponent >= INT_MAX / 2)
			return ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
		if (negative)
			parts->exponent = -parts->exponent;
	}
	dscale = (long) (parts->ndigits - parts->nint - (point ? 1 : 0)) - parts->exponent;
	if (dscale > NUMERIC_DSCALE_MAX)
		return ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
	for (size_t d = 0, pos = 0; d < parts->ndigits; d++)
	{
		long		weight10;

		if (parts->digits[d] == '.')
			continue;
		if (parts->digits[d] != '0')
		{
			weight10 = (long) parts->nint - 1 - (long) pos + parts->exponent;
			if (weight10 >= 0 && weight10 / 4 > NUMERIC_WEIGHT_MAX)
				return ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
			break;
		}
		pos++;
	}
trailing:
	while (i < len && isspace((unsigned char) s[i]))
		i++;
	return i == len ? 0 : ERRCODE_INVALID_TEXT_REPRESENTATION;
}

bool
pgshim_numeric_finite(const char *s, size_t len)
{
	NumericParts parts;

	return parse_numeric(s, len, &parts) == 0 && parts.kind == NUMERIC_FINITE;
}

/*
 * numeric_out's text of a finite number: the digits with the point moved by
 * the exponent, no leading zeros, as many decimals as the display scale.
 */
static char *
numeric_text(const NumericParts *parts)
{
	char	   *digits = palloc(parts->ndigits + 1);
	const char *d = digits;
	long		n = 0;
	long		point = (long) parts->nint + parts->exponent;	/* digits before it */
	char	   *out;
	char	   *p;

	for (size_t i = 0; i < parts->ndigits; i++)
	{
		if (parts->digits[i] != '.')
			digits[n++] = parts->digits[i];
	}
	for (; n > 0 && *d == '0'; d++, n--)
		point--;
	out = palloc((size_t) ((n > 0 && point > 0 ? point : 1) + (n > point ? n - point : 0) + 3));
	p = out;
	if (parts->negative && n > 0)
		*p++ = '-';
	if (point <= 0 || n == 0)
		*p++ = '0';
	for (long i = 0; n > 0 && i < point; i++)
		*p++ = i < n ? d[i] : '0';
	if (n > point)
	{
		*p++ = '.';
		for (long i = point; i < n; i++)
			*p++ = i >= 0 ? d[i] : '0';
	}
	*p = '\0';
	pfree(digits);
	return out;
}

/* numeric_in: a Numeric, or the ERROR numeric_in raises. */
static Numeric
numeric_in(const char *str)
{
	NumericParts parts;
	int			code = parse_numeric(str, strlen(str), &parts);
	const char *text;
	Numeric		result;

	if (code == ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE)
		ereport(ERROR,
				(errcode(code),
				 errmsg("value overflows numeric format")));
	if (code != 0)
		ereport(ERROR,
				(errcode(code),
				 errmsg("invalid input syntax for type numeric: \"%s\"", str)));
	switch (parts.kind)
	{
		case NUMERIC_NAN:
			text = "NaN";
			break;
		case NUMERIC_PINF:
			text = "Infinity";
			break;
		case NUMERIC_NINF:
			text = "-Infinity";
			break;
		default:
			text = numeric_text(&parts);
			break;
	}
	result = palloc(offsetof(struct NumericData, text) + strlen(text) + 1);
	result->kind = parts.kind;
	strcpy(result->text, text);
	return result;
}

/*
 * The fewest significant digits that read back as f, in printf's %g
 * notation ("Infinity", "-Infinity" and "NaN" as PostgreSQL writes them).
 */
int
double_to_shortest_decimal_buf(double f, char *result)
{
	if (isnan(f))
		return snprintf(result, DOUBLE_SHORTEST_DECIMAL_LEN, "NaN");
	if (isinf(f))
		return snprintf(result, DOUBLE_SHORTEST_DECIMAL_LEN, f > 0 ? "Infinity" : "-Infinity");
	for (int digits = 1; digits < 17; digits++)
	{
		int			len = snprintf(result, DOUBLE_SHORTEST_DECIMAL_LEN, "%.*g", digits, f);

		if (strtod(result, NULL) == f)
			return len;
	}
	return snprintf(result, DOUBLE_SHORTEST_DECIMAL_LEN, "%.17g", f);
}

/* int64_to_numeric: the integer's decimal text, read as numeric_in would. */
Numeric
int64_to_numeric(int64 val)
{
	char		text[32];

	snprintf(text, sizeof(text), "%lld", (long long) val);
	return numeric_in(text);
}

Datum
OidInputFunctionCall(Oid functionId, char *str, Oid typioparam, int32 typmod)
{
	if (functionId != F_NUMERIC_IN)
		elog(ERROR, "pgshim: input function %u is not supported", functionId);
	return NumericGetDatum(numeric_in(str));
}

/* Appends a value to an open array, growing it. */
static void
append_element(JsonbParseState *state, const JsonbValue *value)
{
	JsonbValue *array = &state->contVal;

	if (array->type != jbvArray)
		protocol_error("an element outside an array");
	if ((Size) array->val.array.nElems == state->size)
	{
		JsonbValue *grown;

		state->size = state->size ? state->size * 2 : 4;
		grown = palloc(sizeof(JsonbValue) * state->size);
		if (array->val.array.nElems > 0)
			memcpy(grown, array->val.array.elems, sizeof(JsonbValue) * array->val.array.nElems);
		array->val.array.elems = grown;
	}
	array->val.array.elems[array->val.array.nElems++] = *value;
}

/* Starts a pair of an open object with its key. */
static void
append_key(JsonbParseState *state, const JsonbValue *key)
{
	JsonbValue *object = &state->contVal;

	if (object->type != jbvObject)
		protocol_error("a key outside an object");
	if (key == NULL || key->type != jbvString)
		protocol_error("a key that is not a string");
	if ((Size) object->val.object.nPairs == state->size)
	{
		JsonbPair  *grown;

		state->size = state->size ? state->size * 2 : 4;
		grown = palloc(sizeof(JsonbPair) * state->size);
		if (object->val.object.nPairs > 0)
			memcpy(grown, object->val.object.pairs, sizeof(JsonbPair) * object->val.object.nPairs);
		object->val.object.pairs = grown;
	}
	object->val.object.pairs[object->val.object.nPairs].key = *key;
	object->val.object.pairs[object->val.object.nPairs].order = object->val.object.nPairs;
	object->val.object.pairs[object->val.object.nPairs].value.type = jbvBinary;	/* none yet */
	object->val.object.nPairs++;
}

/* Gives the last pair of an open object its value. */
static void
append_value(JsonbParseState *state, const JsonbValue *value)
{
	JsonbValue *object = &state->contVal;
	JsonbPair  *pair;

	if (object->type != jbvObject || object->val.object.nPairs == 0)
		protocol_error("a value without a key");
	pair = &object->val.object.pairs[object->val.object.nPairs - 1];
	if (pair->value.type != jbvBinary)
		protocol_error("two values for one key");
	pair->value = *value;
}

/* jsonb's key order: shorter first, then bytewise; equal keys by arrival. */
static int
compare_pairs(const void *a, const void *b)
{
	const JsonbPair *x = a;
	const JsonbPair *y = b;

	if (x->key.val.string.len != y->key.val.string.len)
		return x->key.val.string.len < y->key.val.string.len ? -1 : 1;
	{
		int			c = memcmp(x->key.val.string.val, y->key.val.string.val,
							   x->key.val.string.len);

		if (c != 0)
			return c;
	}
	return x->order < y->order ? -1 : 1;
}

/* Sorts the pairs of an object and keeps the last of equal keys, as jsonb. */
static void
uniqueify(JsonbValue *object)
{
	JsonbPair  *pairs = object->val.object.pairs;
	int			n = object->val.object.nPairs;
	int			kept = 0;

	for (int i = 0; i < n; i++)
	{
		if (pairs[i].value.type == jbvBinary)
			protocol_error("a key without a value");
	}
	if (n < 2)
		return;
	qsort(pairs, n, sizeof(JsonbPair), compare_pairs);
	for (int i = 0; i < n; i++)
	{
		if (i + 1 < n && pairs[i].key.val.string.len == pairs[i + 1].key.val.string.len &&
			memcmp(pairs[i].key.val.string.val, pairs[i + 1].key.val.string.val,
				   pairs[i].key.val.string.len) == 0)
			continue;			/* a later pair has the same key */
		pairs[kept++] = pairs[i];
	}
	object->val.object.nPairs = kept;
}

JsonbValue *
pushJsonbValue(JsonbParseState **pstate, JsonbIteratorToken seq, JsonbValue *jbval)
{
	JsonbParseState *state;
	JsonbValue *result;

	switch (seq)
	{
		case WJB_BEGIN_ARRAY:
		case WJB_BEGIN_OBJECT:
			state = palloc0(sizeof(JsonbParseState));
			state->contVal.type = seq == WJB_BEGIN_ARRAY ? jbvArray : jbvObject;
			state->next = *pstate;
			*pstate = state;
			return NULL;
		case WJB_KEY:
			if (*pstate == NULL)
				protocol_error("a key outside an object");
			append_key(*pstate, jbval);
			return NULL;
		case WJB_VALUE:
		case WJB_ELEM:
			if (*pstate == NULL)
				protocol_error("a scalar outside a container");
			if (jbval == NULL || jbval->type >= jbvArray)
				protocol_error("a value that is not a scalar");
			if (seq == WJB_VALUE)
				append_value(*pstate, jbval);
			else
				append_element(*pstate, jbval);
			return NULL;
		case WJB_END_ARRAY:
		case WJB_END_OBJECT:
			if (*pstate == NULL ||
				(*pstate)->contVal.type != (seq == WJB_END_ARRAY ? jbvArray : jbvObject))
				protocol_error("a container closed that was not open");
			if (seq == WJB_END_OBJECT)
				uniqueify(&(*pstate)->contVal);
			result = &(*pstate)->contVal;
			*pstate = (*pstate)->next;
			if (*pstate != NULL)
			{
				if ((*pstate)->contVal.type == jbvArray)
					append_element(*pstate, result);
				else
					append_value(*pstate, result);
			}
			return result;
		case WJB_DONE:
			break;
	}
	protocol_error("an unexpected token");
}

/* Appends text to a growing buffer. */
typedef struct Buffer
{
	char	   *data;
	size_t		len;
	size_t		size;
} Buffer;

static void
append(Buffer *buf, const char *s, size_t n)
{
	if (buf->len + n + 1 > buf->size)
	{
		size_t		size = Max(buf->size * 2, buf->len + n + 1);
		char	   *grown = palloc(size);

		if (buf->len > 0)
			memcpy(grown, buf->data, buf->len);
		buf->data = grown;
		buf->size = size;
	}
	memcpy(buf->data + buf->len, s, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
}

/* A string as jsonb_out writes it (escape_json). */
static void
append_string(Buffer *buf, const char *s, int len)
{
	append(buf, "\"", 1);
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];
		char		esc[8];

		switch (c)
		{
			case '"':
				append(buf, "\\\"", 2);
				break;
			case '\\':
				append(buf, "\\\\", 2);
				break;
			case '\b':
				append(buf, "\\b", 2);
				break;
			case '\f':
				append(buf, "\\f", 2);
				break;
			case '\n':
				append(buf, "\\n", 2);
				break;
			case '\r':
				append(buf, "\\r", 2);
				break;
			case '\t':
				append(buf, "\\t", 2);
				break;
			default:
				if (c < 0x20)
				{
					snprintf(esc, sizeof(esc), "\\u%04x", c);
					append(buf, esc, 6);
				}
				else
					append(buf, (const char *) &c, 1);
		}
	}
	append(buf, "\"", 1);
}

static void
append_value_text(Buffer *buf, const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			append(buf, "null", 4);
			break;
		case jbvBool:
			append(buf, v->val.boolean ? "true" : "false", v->val.boolean ? 4 : 5);
			break;
		case jbvNumeric:
			append(buf, v->val.numeric->text, strlen(v->val.numeric->text));
			break;
		case jbvString:
			append_string(buf, v->val.string.val, v->val.string.len);
			break;
		case jbvArray:
			append(buf, "[", 1);
			for (int i = 0; i < v->val.array.nElems; i++)
			{
				if (i > 0)
					append(buf, ", ", 2);
				append_value_text(buf, &v->val.array.elems[i]);
			}
			append(buf, "]", 1);
			break;
		case jbvObject:
			append(buf, "{", 1);
			for (int i = 0; i < v->val.object.nPairs; i++)
			{
				if (i > 0)
					append(buf, ", ", 2);
				append_string(buf, v->val.object.pairs[i].key.val.string.val,
							  v->val.object.pairs[i].key.val.string.len);
				append(buf, ": ", 2);
				append_value_text(buf, &v->val.object.pairs[i].value);
			}
			append(buf, "}", 1);
			break;
		default:
			protocol_error("a value of an unsupported type");
	}
}

Jsonb *
JsonbValueToJsonb(JsonbValue *val)
{
	Buffer		buf = {NULL, 0, 0};
	Jsonb	   *jsonb;

	if (val == NULL)
		protocol_error("no value to convert");
	append_value_text(&buf, val);
	jsonb = palloc(offsetof(Jsonb, text) + buf.len + 1);
	jsonb->vl_len_ = (int32) (offsetof(Jsonb, text) + buf.len + 1);
	memcpy(jsonb->text, buf.data, buf.len + 1);
	return jsonb;
}

const char *
pgshim_jsonb_text(const Jsonb *jsonb)
{
	return jsonb->text;
}
