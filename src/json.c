/*-------------------------------------------------------------------------
 *
 * json.c
 *		Strict JSON through json-c, and JSON to jsonb with every number kept
 *		exactly as it was written.
 *
 * json-c is lenient where JSON is not (NaN, Infinity, "1.", single-quoted
 * names, \u0000) and lossy where attrs must not be (it clamps integers
 * beyond 64 bits).  So a body is first scanned here: the scan rejects what
 * JSON does not allow and remembers the text of every integer too long for
 * json-c; after json-c has parsed the body, those integers get their text
 * back as the nodes' serialization.  Doubles keep their text in json-c
 * already.  Converted to jsonb, every number goes through numeric_in from
 * that text, so 1.10 stays 1.10 and a 30-digit integer stays whole.
 *
 * Memory: json-c trees are malloc'd.  rk_json_read releases the tree on
 * every path (PG_FINALLY), errors included; its reader must not keep it.
 * Results are palloc'd in the caller's memory context.  Only this file and
 * the dialects include json-c.
 *
 *-------------------------------------------------------------------------
 */
#include "json.h"

#include "mb/pg_wchar.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#define RK_JSON_MAX_DEPTH 64
#define RK_JSON_MAX_EXPONENT 1000	/* far inside what numeric holds */
#define RK_JSON_MAX_DIGITS 1000 /* of a number's integer part, and of its fraction */
#define RK_JSON_EXACT_DIGITS 19 /* from this length json-c may clamp */

/* What the scan found out about a body. */
typedef struct RkScan
{
	bool		unicode_escapes;	/* a string has a \u escape */
	int			nmembers;		/* object members */
	int			nints;			/* integer literals, in document order */
	int			nlong;			/* of which too long for json-c */
	int		   *long_index;		/* their index among the integers */
	char	  **long_text;
	int			longcap;
} RkScan;

/*
 * Whether the tree being read holds only text of the body, which was
 * checked as a whole: it has no \u escape, the one thing json-c decodes
 * into bytes of its own (the other escapes are ASCII).  Its strings then
 * need no check of their own.
 */
static bool text_checked = false;

/* ASCII classes, whatever the locale says of other bytes. */
static inline bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
is_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * Scans a JSON number at body[i], which is '-' or a digit.  Returns its
 * length, 0 when it is not a JSON number; *is_int says whether it has no
 * fraction and no exponent.
 */
static size_t
scan_number(const char *body, size_t len, size_t i, bool *is_int, const char **problem)
{
	size_t		start = i;
	size_t		digits;
	long		exponent = 0;

	*is_int = true;
	if (body[i] == '-')
		i++;
	if (i >= len || !is_digit(body[i]))
		return 0;
	digits = i;
	if (body[i] == '0')
	{
		if (++i < len && is_digit(body[i]))
			return 0;			/* a leading zero */
	}
	else
		while (i < len && is_digit(body[i]))
			i++;
	if (i - digits > RK_JSON_MAX_DIGITS)
	{
		*problem = "The response body has a number with more than 1000 digits.";
		return 0;
	}
	if (i < len && body[i] == '.')
	{
		*is_int = false;
		if (++i >= len || !is_digit(body[i]))
			return 0;
		digits = i;
		while (i < len && is_digit(body[i]))
			i++;
		if (i - digits > RK_JSON_MAX_DIGITS)
		{
			*problem = "The response body has a number with more than 1000 digits.";
			return 0;
		}
	}
	if (i < len && (body[i] == 'e' || body[i] == 'E'))
	{
		*is_int = false;
		if (++i < len && (body[i] == '+' || body[i] == '-'))
			i++;
		if (i >= len || !is_digit(body[i]))
			return 0;
		while (i < len && is_digit(body[i]))
		{
			exponent = Min(exponent * 10 + (body[i] - '0'), 100000L);
			i++;
		}
		if (exponent > RK_JSON_MAX_EXPONENT)
		{
			*problem = "The response body has a number with an exponent beyond 1000.";
			return 0;
		}
	}
	return i - start;
}

/*
 * Remembers the text of a long integer literal.
 */
static void
note_long_integer(RkScan *scan, const char *text, size_t len)
{
	if (scan->nlong == scan->longcap)
	{
		scan->longcap = Max(8, scan->longcap * 2);
		scan->long_index = scan->long_index == NULL ?
			palloc(sizeof(int) * scan->longcap) :
			repalloc(scan->long_index, sizeof(int) * scan->longcap);
		scan->long_text = scan->long_text == NULL ?
			palloc(sizeof(char *) * scan->longcap) :
			repalloc(scan->long_text, sizeof(char *) * scan->longcap);
	}
	scan->long_index[scan->nlong] = scan->nints;
	scan->long_text[scan->nlong] = pnstrdup(text, len);
	scan->nlong++;
}

/*
 * Checks the tokens of a body for what json-c takes but JSON does not, and
 * notes the integers json-c cannot hold.  Returns the problem, or NULL.
 */
static const char *
scan_tokens(const char *body, size_t len, RkScan *scan)
{
	const char *problem = "The response body is not valid JSON.";

	memset(scan, 0, sizeof(RkScan));
	for (size_t i = 0; i < len; i++)
	{
		char		c = body[i];

		if (c == '"')
		{
			for (i++; i < len && body[i] != '"'; i++)
			{
				if (body[i] != '\\')
					continue;
				if (len - i >= 6 && memcmp(body + i + 1, "u0000", 5) == 0)
					return "The response body contains a NUL character (\\u0000).";
				if (i + 1 < len && body[i + 1] == 'u')
					scan->unicode_escapes = true;
				i++;			/* the escaped character */
			}
			continue;
		}
		if (c == '\'')
			return "The response body is not valid JSON (a name in single quotes).";
		if (c == ':')
			scan->nmembers++;
		if (c == '-' || is_digit(c))
		{
			bool		is_int;
			size_t		n = scan_number(body, len, i, &is_int, &problem);

			if (n == 0)
				return problem;
			if (is_int)
			{
				if (n >= RK_JSON_EXACT_DIGITS)
					note_long_integer(scan, body + i, n);
				scan->nints++;
			}
			i += n - 1;
			continue;
		}
		if (is_letter(c))
		{
			size_t		n = 0;

			while (i + n < len && is_letter(body[i + n]))
				n++;
			if (!((n == 4 && memcmp(body + i, "true", 4) == 0) ||
				  (n == 5 && memcmp(body + i, "false", 5) == 0) ||
				  (n == 4 && memcmp(body + i, "null", 4) == 0)))
				return "The response body is not valid JSON (unexpected character).";
			i += n - 1;
		}
	}
	return NULL;
}

/*
 * Gives the long integers of a parsed tree their text back, walking it in
 * document order and counting the integers in *index and the members in
 * *members.  Caller is responsible for a tree in which no repeated member
 * name dropped a value (count_members), so that the integers of the tree
 * are those of the text, in the same order.
 */
static void
restore_integers(json_object *value, RkScan *scan, int *index, int *next_long)
{
	switch (json_object_get_type(value))
	{
		case json_type_int:
			if (*next_long < scan->nlong && scan->long_index[*next_long] == *index)
			{
				char	   *text = strdup(scan->long_text[*next_long]);

				if (text == NULL)
					ereport(ERROR,
							(errcode(ERRCODE_OUT_OF_MEMORY),
							 errmsg("out of memory")));
				json_object_set_serializer(value, json_object_userdata_to_json_string,
										   text, json_object_free_userdata);
				(*next_long)++;
			}
			(*index)++;
			break;
		case json_type_object:
			{
				json_object_object_foreach(value, name, member)
				{
					(void) name;
					restore_integers(member, scan, index, next_long);
				}
			}
			break;
		case json_type_array:
			for (size_t i = 0; i < json_object_array_length(value); i++)
				restore_integers(json_object_array_get_idx(value, i), scan, index, next_long);
			break;
		default:
			break;
	}
}

/*
 * The members of the objects of a tree.  Fewer than the text has means a
 * repeated member name: json-c keeps the last value, at the first one's
 * place.
 */
static int
count_members(json_object *value)
{
	int			n = 0;

	if (json_object_is_type(value, json_type_object))
	{
		json_object_object_foreach(value, name, member)
		{
			(void) name;
			n += 1 + count_members(member);
		}
	}
	else if (json_object_is_type(value, json_type_array))
	{
		for (size_t i = 0; i < json_object_array_length(value); i++)
			n += count_members(json_object_array_get_idx(value, i));
	}
	return n;
}

/*
 * Parses a complete JSON document strictly.  Returns NULL and sets *problem
 * when the text is not one valid JSON value.  Caller is responsible for
 * releasing the tree.
 */
static json_object *
parse_json(const char *body, size_t len, RkScan *scan, char **problem)
{
	json_tokener *tok;
	json_object *root;
	enum json_tokener_error err;
	size_t		end;
	const char *reason;

	if (len == 0)
	{
		*problem = pstrdup("The response body is empty.");
		return NULL;
	}
	if (memchr(body, '\0', len) != NULL)
	{
		*problem = pstrdup("The response body contains a NUL byte.");
		return NULL;
	}
	/* json-c's own check lets overlong forms and surrogates through */
	if (!pg_verify_mbstr(PG_UTF8, body, (int) len, true))
	{
		*problem = pstrdup("The response body is not valid UTF-8.");
		return NULL;
	}
	/* before json-c allocates anything that an error here would leak */
	if ((reason = scan_tokens(body, len, scan)) != NULL)
	{
		*problem = pstrdup(reason);
		return NULL;
	}

	tok = json_tokener_new_ex(RK_JSON_MAX_DEPTH);
	if (tok == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, body, (int) len);
	err = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (root == NULL && err == json_tokener_continue && end == len)
	{
		/* A bare number or literal ends at the end of the body: say so. */
		root = json_tokener_parse_ex(tok, "", 1);
		err = json_tokener_get_error(tok);
	}
	json_tokener_free(tok);

	if (root == NULL && err == json_tokener_success)
	{
		*problem = pstrdup("The response body is JSON null.");
		return NULL;
	}
	if (root == NULL || err != json_tokener_success)
	{
		json_object_put(root);
		*problem = psprintf("The response body is not valid JSON (%s).",
							err == json_tokener_continue || err == json_tokener_error_parse_eof ?
							"it ends too early" :
							json_tokener_error_desc(err));
		return NULL;
	}
	while (end < len && (body[end] == ' ' || body[end] == '\n' ||
						 body[end] == '\r' || body[end] == '\t'))
		end++;
	if (end < len)
	{
		json_object_put(root);
		*problem = pstrdup("The response body has data after its JSON value.");
		return NULL;
	}
	return root;
}

/*
 * Parses body strictly and hands the tree to reader, releasing the tree on
 * every path, errors included.  Returns false with *problem when the body
 * is not valid JSON or the reader found it breaks the contract.
 */
bool
rk_json_read(const char *body, size_t len, RkJsonReader reader, void *arg, char **problem)
{
	RkScan		scan;
	json_object *volatile root = parse_json(body, len, &scan, problem);
	volatile bool ok = false;
	bool		outer_checked = text_checked;

	if (root == NULL)
		return false;
	PG_TRY();
	{
		int			index = 0;
		int			next_long = 0;

		text_checked = !scan.unicode_escapes;
		if (scan.nlong > 0 && count_members(root) != scan.nmembers)
			*problem = pstrdup("The response body repeats a member name, which drops a value.");
		else
		{
			if (scan.nlong > 0)
				restore_integers(root, &scan, &index, &next_long);
			Assert(scan.nlong == 0 || (index == scan.nints && next_long == scan.nlong));
			ok = reader(root, arg, problem);
		}
	}
	PG_FINALLY();
	{
		text_checked = outer_checked;
		json_object_put(root);
	}
	PG_END_TRY();
	return ok;
}

/*
 * Whether text is a JSON number (the grammar of RFC 8259), with an
 * exponent numeric can hold.
 */
static bool
valid_number(const char *text)
{
	const char *problem;
	bool		is_int;
	size_t		len = strlen(text);

	return len > 0 && (text[0] == '-' || isdigit((unsigned char) text[0])) &&
		scan_number(text, len, 0, &is_int, &problem) == len;
}

/*
 * Names the type of a JSON value for a problem text.
 */
const char *
rk_json_type_name(json_object *value)
{
	return rk_json_type_label(json_object_get_type(value));
}

/*
 * Names a JSON type for a problem text.
 */
const char *
rk_json_type_label(json_type type)
{
	switch (type)
	{
		case json_type_null:
			return "null";
		case json_type_boolean:
			return "a boolean";
		case json_type_double:
		case json_type_int:
			return "a number";
		case json_type_object:
			return "an object";
		case json_type_array:
			return "an array";
		case json_type_string:
			return "a string";
	}
	return "a value";
}

/*
 * UTF-8 text in the server encoding: s itself when the database is UTF8
 * (no copy), else a palloc'd conversion; *outlen is its length.  Returns
 * NULL when it is not valid UTF-8 or holds a NUL character.
 */
static const char *
server_text(const char *s, int len, int *outlen)
{
	const char *converted;

	if (!text_checked && !pg_verify_mbstr(PG_UTF8, s, len, true))
		return NULL;
	*outlen = len;
	if (GetDatabaseEncoding() == PG_UTF8)
		return s;
	converted = pg_any_to_server(s, len, PG_UTF8);
	if (converted != s)
		*outlen = strlen(converted);
	return converted;
}

/*
 * Copies UTF-8 text into a palloc'd string in the server encoding.  Returns
 * NULL when it is not valid UTF-8 or holds a NUL character.
 */
static char *
copy_text(const char *s, int len)
{
	int			outlen;
	const char *text = server_text(s, len, &outlen);

	if (text == NULL)
		return NULL;
	return text == s ? pnstrdup(s, len) : (char *) text;
}

/*
 * A JSON string as a palloc'd string in the server encoding; NULL with
 * *problem when it cannot be text.
 */
char *
rk_json_string(json_object *value, char **problem)
{
	char	   *text = copy_text(json_object_get_string(value),
								 json_object_get_string_len(value));

	if (text == NULL)
		*problem = pstrdup("A string of the answer is not valid UTF-8 text, or holds a NUL character.");
	return text;
}

/*
 * A member name as a palloc'd string in the server encoding, or NULL.
 */
char *
rk_json_name(const char *name)
{
	return copy_text(name, strlen(name));
}

/*
 * A JSON number as a numeric, exactly as written: an integer json-c holds
 * (one of fewer than 19 digits) from its value; any other from its text,
 * which json-c keeps for doubles and rk_json_read gave long integers back,
 * both as the node's user data.
 */
static Numeric
number_value(json_object *value, bool *ok, char **problem)
{
	const char *text = json_object_get_userdata(value);

	if (text == NULL && json_object_is_type(value, json_type_int))
		return int64_to_numeric(json_object_get_int64(value));
	if (text == NULL)
		text = json_object_get_string(value);
	if (!valid_number(text))
	{
		*ok = false;
		*problem = pstrdup("A number of the answer is not a JSON number.");
		text = "0";
	}
	return DatumGetNumeric(OidInputFunctionCall(F_NUMERIC_IN, (char *) text, InvalidOid, -1));
}

/*
 * Sets a JsonbValue to a string, from UTF-8 text that the json-c tree
 * holds: in a UTF8 database the value points into the tree, which must
 * outlive it.  When it cannot be text, false in *ok and invalid in *problem.
 */
static void
string_value(JsonbValue *v, const char *s, int len, const char *invalid, bool *ok,
			 char **problem)
{
	int			outlen = 0;
	const char *text = server_text(s, len, &outlen);

	if (text == NULL)
	{
		*ok = false;
		*problem = pstrdup(invalid);
		text = "";
		outlen = 0;
	}
	v->type = jbvString;
	v->val.string.val = (char *) text;
	v->val.string.len = outlen;
}

/*
 * Whether member name a sorts before b in a jsonb object: shorter first,
 * then bytewise (as jsonb stores them).
 */
static inline bool
name_before(const JsonbValue *a, const JsonbValue *b)
{
	if (a->val.string.len != b->val.string.len)
		return a->val.string.len < b->val.string.len;
	return memcmp(a->val.string.val, b->val.string.val, a->val.string.len) < 0;
}

static void json_value(json_object *value, JsonbValue *out, bool *ok, char **problem);

/*
 * An object's members as jsonb pairs in jsonb's order.  json-c keeps one
 * value per name (the last), so the names are unique already; objects are
 * small, so an insertion sort does.
 */
static void
object_value(json_object *value, JsonbValue *out, bool *ok, char **problem)
{
	int			n = json_object_object_length(value);
	JsonbPair  *pairs = palloc(sizeof(JsonbPair) * Max(n, 1));
	int			npairs = 0;

	json_object_object_foreach(value, name, member)
	{
		JsonbPair	pair;
		int			j;

		string_value(&pair.key, name, strlen(name),
					 "A member name of the answer is not valid UTF-8 text.", ok, problem);
		json_value(member, &pair.value, ok, problem);
		for (j = npairs; j > 0 && name_before(&pair.key, &pairs[j - 1].key); j--)
			pairs[j] = pairs[j - 1];
		pair.order = npairs;
		pairs[j] = pair;
		npairs++;
	}
	out->type = jbvObject;
	out->val.object.nPairs = npairs;
	out->val.object.pairs = pairs;
}

/*
 * A JSON value as a JsonbValue tree, the form JsonbValueToJsonb takes.
 * False in *ok (with *problem) for what jsonb cannot hold.
 */
static void
json_value(json_object *value, JsonbValue *out, bool *ok, char **problem)
{
	switch (json_object_get_type(value))
	{
		case json_type_null:
			out->type = jbvNull;
			break;
		case json_type_boolean:
			out->type = jbvBool;
			out->val.boolean = json_object_get_boolean(value);
			break;
		case json_type_int:
		case json_type_double:
			out->type = jbvNumeric;
			out->val.numeric = number_value(value, ok, problem);
			break;
		case json_type_string:
			string_value(out, json_object_get_string(value),
						 json_object_get_string_len(value),
						 "A string of the answer is not valid UTF-8 text, or holds a NUL character.",
						 ok, problem);
			break;
		case json_type_object:
			object_value(value, out, ok, problem);
			break;
		case json_type_array:
			{
				int			n = json_object_array_length(value);

				out->type = jbvArray;
				out->val.array.rawScalar = false;
				out->val.array.nElems = n;
				out->val.array.elems = palloc(sizeof(JsonbValue) * Max(n, 1));
				for (int i = 0; i < n; i++)
					json_value(json_object_array_get_idx(value, i),
							   &out->val.array.elems[i], ok, problem);
			}
			break;
	}
}

/*
 * A JSON object or array as jsonb, built straight from the tree.  Returns
 * false with *problem for what jsonb cannot hold.
 */
bool
rk_json_to_jsonb(json_object *value, Jsonb **out, char **problem)
{
	JsonbValue	root;
	bool		ok = true;

	json_value(value, &root, &ok, problem);
	if (ok)
		*out = JsonbValueToJsonb(&root);
	return ok;
}

/*
 * Adds a member to an object being built, releasing the value when json-c
 * cannot take it.
 */
static void
add_member(json_object *obj, const char *field, json_object *value)
{
	if (value == NULL || json_object_object_add(obj, field, value) != 0)
	{
		json_object_put(value);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	}
}

/*
 * Adds a string member, converted from the server encoding to UTF-8.
 */
void
rk_json_add_string(json_object *obj, const char *field, const char *value)
{
	char	   *utf8 = pg_server_to_any(value, strlen(value), PG_UTF8);

	add_member(obj, field, json_object_new_string(utf8));
}

/*
 * Adds a boolean member.
 */
void
rk_json_add_boolean(json_object *obj, const char *field, bool value)
{
	add_member(obj, field, json_object_new_boolean(value));
}

/*
 * Adds an empty object member and returns it, to be filled.
 */
json_object *
rk_json_add_object(json_object *obj, const char *field)
{
	json_object *member = json_object_new_object();

	add_member(obj, field, member);
	return member;
}

/*
 * Serializes a body built by fill, releasing the tree on every path.
 */
char *
rk_json_serialize(void (*fill) (json_object *root, const void *arg), const void *arg)
{
	json_object *root = json_object_new_object();
	char	   *volatile text = NULL;

	if (root == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	PG_TRY();
	{
		fill(root, arg);
		text = pstrdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
													  JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	PG_FINALLY();
	{
		json_object_put(root);
	}
	PG_END_TRY();
	return text;
}
