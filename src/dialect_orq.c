/*-------------------------------------------------------------------------
 *
 * contract.c
 *		The wire contract: the only file that includes json-c.
 *
 * Request bodies go out as JSON text; responses come in as key records,
 * pages and error messages.  Both generations of the API are read without
 * being told which one is speaking: the id from "id" or "api_key_id", times
 * from either spelling, active from "active" or from "status", lists from a
 * bare array or from "data", a key bare or wrapped in "api_key".  Whatever
 * is not mapped to a column is kept, since "attrs" holds the whole object.
 *
 * Parsing is strict (valid UTF-8, bounded depth, no NUL byte, nothing after
 * the value) and every field read is type-checked; a response that breaks
 * the contract is reported to the caller as a problem text, never guessed at.
 *
 * "attrs" is built as jsonb straight from the parsed tree, without printing
 * and parsing the JSON text again.
 *
 * json-c objects are malloc'd: each public function releases them in a
 * PG_FINALLY, so an error raised while converting (out of memory, encoding)
 * leaks nothing.  Results are palloc'd in the caller's memory context.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include <json-c/json.h>

#include <math.h>

#include "common/shortest_dec.h"
#include "mb/pg_wchar.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#define RK_JSON_MAX_DEPTH 64

/*
 * Checks the text of a value json-c has read, for what json-c takes in
 * strict mode but JSON does not: a member name in single quotes, and
 * \u0000, which json-c reads as a NUL character (cutting a member name
 * there without a word).  Returns the problem, or NULL.
 */
static const char *
check_tokens(const char *body, size_t len)
{
	bool		in_string = false;

	for (size_t i = 0; i < len; i++)
	{
		if (!in_string)
		{
			if (body[i] == '\'')
				return "The response body is not valid JSON (a name in single quotes).";
			in_string = body[i] == '"';
		}
		else if (body[i] == '"')
			in_string = false;
		else if (body[i] == '\\')
		{
			if (len - i >= 6 && memcmp(body + i + 1, "u0000", 5) == 0)
				return "The response body contains a NUL character (\\u0000).";
			i++;				/* the escaped character */
		}
	}
	return NULL;
}

/*
 * Parses a complete JSON document strictly.  Returns NULL and sets *problem
 * when the text is not one valid JSON value.
 */
static pg_noinline json_object *
parse_json(const char *body, size_t len, char **problem)
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

	tok = json_tokener_new_ex(RK_JSON_MAX_DEPTH);
	if (tok == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);	/* UTF-8: checked above */
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
	if ((reason = check_tokens(body, len)) != NULL)
	{
		json_object_put(root);
		*problem = pstrdup(reason);
		return NULL;
	}
	return root;
}

/* What a public parse function wants read from a parsed document. */
typedef struct RkReading
{
	RkKey	   *key;
	bool		with_token;
	RkPage	   *page;
	bool		with_attrs;
	char	   *message;
} RkReading;

typedef bool (*RkReader) (json_object *root, RkReading *reading, char **problem);

/*
 * Parses body and hands the tree to reader, releasing the tree on every
 * path, errors included.
 */
static bool
read_document(const char *body, size_t len, RkReader reader, RkReading *reading,
			  char **problem)
{
	json_object *root = parse_json(body, len, problem);
	volatile bool ok = false;

	if (root == NULL)
		return false;
	PG_TRY();
	{
		ok = reader(root, reading, problem);
	}
	PG_FINALLY();
	{
		json_object_put(root);
	}
	PG_END_TRY();
	return ok;
}

/*
 * Names a JSON type for a problem text.
 */
static const char *
type_name(json_object *value)
{
	switch (json_object_get_type(value))
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
 * Copies UTF-8 text into a palloc'd string in the server encoding.  Returns
 * NULL when it is not valid UTF-8 or holds a NUL character (json-c lets
 * "\u0000", overlong forms and lone surrogates through).
 */
static char *
copy_text(const char *s, int len)
{
	char	   *converted;

	if (!pg_verify_mbstr(PG_UTF8, s, len, true))
		return NULL;
	converted = pg_any_to_server(s, len, PG_UTF8);
	return converted == s ? pnstrdup(s, len) : converted;
}

/*
 * Copies a JSON string into a palloc'd string in the server encoding; NULL
 * with *problem when it cannot be text.
 */
static char *
copy_string(json_object *value, char **problem)
{
	char	   *text = copy_text(json_object_get_string(value),
								 json_object_get_string_len(value));

	if (text == NULL)
		*problem = pstrdup("A string of the answer is not valid UTF-8 text, or holds a NUL character.");
	return text;
}

/*
 * Reads an optional string field: absent or null gives NULL.  Returns false
 * (with *problem) when the field has another type.
 */
static bool
get_string(json_object *obj, const char *field, char **out, char **problem)
{
	json_object *value;

	if (!json_object_object_get_ex(obj, field, &value) || value == NULL)
		return true;
	if (!json_object_is_type(value, json_type_string))
	{
		*problem = psprintf("Field \"%s\" of a key is %s, not a string.", field, type_name(value));
		return false;
	}
	*out = copy_string(value, problem);
	return *out != NULL;
}

/*
 * Reads a string field under either of two names (current, then legacy).
 */
static bool
get_either(json_object *obj, const char *current, const char *legacy,
		   char **out, char **problem)
{
	if (!get_string(obj, current, out, problem))
		return false;
	return *out != NULL || get_string(obj, legacy, out, problem);
}

/*
 * Reads an optional object field: absent or null gives NULL.
 */
static bool
get_object(json_object *obj, const char *field, json_object **out, char **problem)
{
	json_object *value;

	*out = NULL;
	if (!json_object_object_get_ex(obj, field, &value) || value == NULL)
		return true;
	if (!json_object_is_type(value, json_type_object))
	{
		*problem = psprintf("Field \"%s\" of a key is %s, not an object.", field, type_name(value));
		return false;
	}
	*out = value;
	return true;
}

/*
 * Shows an API enum value the way the columns do: the known prefix stripped
 * and lower case ("API_KEY_STATUS_ACTIVE" becomes "active").  A value
 * without the prefix is passed through unchanged.
 */
static char *
enum_label(char *value, const char *prefix)
{
	size_t		plen = strlen(prefix);

	if (value == NULL || strncmp(value, prefix, plen) != 0 || value[plen] == '\0')
		return value;
	value = pstrdup(value + plen);
	for (char *p = value; *p; p++)
		*p = pg_ascii_tolower((unsigned char) *p);
	return value;
}

/*
 * Whether text looks like an RFC 3339 timestamp, so that it can be given to
 * timestamptz_in without risk of an error.
 */
static bool
is_timestamp(const char *s)
{
	static const char pattern[] = "dddd-dd-ddTdd:dd:dd";

	for (int i = 0; pattern[i]; i++)
	{
		if (pattern[i] == 'd' ? !isdigit((unsigned char) s[i]) :
			pattern[i] == 'T' ? (s[i] != 'T' && s[i] != 't' && s[i] != ' ') :
			s[i] != pattern[i])
			return false;
	}
	s += sizeof(pattern) - 1;
	if (*s == '.')
	{
		s++;
		if (!isdigit((unsigned char) *s))
			return false;
		while (isdigit((unsigned char) *s))
			s++;
	}
	if (*s == 'Z' || *s == 'z')
		return s[1] == '\0';
	if (*s == '+' || *s == '-')
		return isdigit((unsigned char) s[1]) && isdigit((unsigned char) s[2]) &&
			(s[3] == '\0' ||
			 (s[3] == ':' && isdigit((unsigned char) s[4]) && isdigit((unsigned char) s[5]) && s[6] == '\0'));
	return *s == '\0';
}

/*
 * Reads a timestamp field under either spelling, checking its form.
 */
static bool
get_time(json_object *obj, const char *current, const char *legacy,
		 char **out, char **problem)
{
	if (!get_either(obj, current, legacy, out, problem))
		return false;
	if (*out != NULL && !is_timestamp(*out))
	{
		*problem = psprintf("Field \"%s\" of a key is not an RFC 3339 timestamp.",
							current);
		return false;
	}
	return true;
}

/*
 * Reads the project a key is scoped to: project_scope.single.project_id,
 * else a top-level project_id.
 */
static bool
get_project(json_object *obj, char **out, char **problem)
{
	json_object *scope;
	json_object *single;

	if (!get_object(obj, "project_scope", &scope, problem))
		return false;
	if (scope != NULL)
	{
		if (!get_object(scope, "single", &single, problem))
			return false;
		if (single != NULL && !get_string(single, "project_id", out, problem))
			return false;
	}
	return *out != NULL || get_string(obj, "project_id", out, problem);
}

/*
 * Reads the owner type: the single member of "owner" ({"user": …} or
 * {"service_account": {}}), owner.type, or an "owner_type" enum.
 */
static bool
get_owner_type(json_object *obj, char **out, char **problem)
{
	json_object *owner;

	if (!get_object(obj, "owner", &owner, problem))
		return false;
	if (owner != NULL)
	{
		if (!get_string(owner, "type", out, problem))
			return false;
		if (*out == NULL && json_object_object_length(owner) == 1)
		{
			json_object_object_foreach(owner, name, value)
			{
				(void) value;
				if (strcmp(name, "type") != 0)	/* {"type": null} */
					*out = copy_text(name, strlen(name));
			}
		}
	}
	if (*out == NULL && !get_string(obj, "owner_type", out, problem))
		return false;
	*out = enum_label(*out, "OWNER_TYPE_");
	return true;
}

/*
 * Reads "active": a boolean, null or absent.
 */
static bool
get_active(json_object *obj, int *out, char **problem)
{
	json_object *value;

	*out = -1;
	if (!json_object_object_get_ex(obj, "active", &value) || value == NULL)
		return true;
	if (!json_object_is_type(value, json_type_boolean))
	{
		*problem = psprintf("Field \"active\" of a key is %s, not a boolean.", type_name(value));
		return false;
	}
	*out = json_object_get_boolean(value) ? 1 : 0;
	return true;
}

/*
 * A JSON number as a numeric.  json-c lets NaN and Infinity through, which
 * neither JSON nor jsonb has: those are a problem.  A double is converted
 * through its shortest exact decimal form, so that no exponent can exceed
 * what numeric holds.
 */
static Numeric
number_value(json_object *obj, bool *ok, char **problem)
{
	char		buf[DOUBLE_SHORTEST_DECIMAL_LEN];
	const char *text = json_object_get_string(obj);

	if (json_object_is_type(obj, json_type_double))
	{
		double		d = json_object_get_double(obj);

		if (!isfinite(d))
		{
			*ok = false;
			*problem = pstrdup("A number of the answer is not finite.");
			d = 0;
		}
		double_to_shortest_decimal_buf(d, buf);
		text = buf;
	}
	return DatumGetNumeric(OidInputFunctionCall(F_NUMERIC_IN, (char *) text, InvalidOid, -1));
}

/*
 * Adds a JSON value to a jsonb being built, as an object member's value or
 * an array element.  Returns the finished value when obj closes the
 * outermost container.  False in *ok (with *problem) for what jsonb cannot
 * hold: a NUL character in a string.
 */
static JsonbValue *
push_json(JsonbParseState **state, json_object *obj, JsonbIteratorToken token,
		  bool *ok, char **problem)
{
	JsonbValue	v;
	JsonbValue *result = NULL;

	switch (json_object_get_type(obj))
	{
		case json_type_null:
			v.type = jbvNull;
			break;
		case json_type_boolean:
			v.type = jbvBool;
			v.val.boolean = json_object_get_boolean(obj);
			break;
		case json_type_int:
		case json_type_double:
			v.type = jbvNumeric;
			v.val.numeric = number_value(obj, ok, problem);
			break;
		case json_type_string:
			v.type = jbvString;
			v.val.string.val = copy_string(obj, problem);
			if (v.val.string.val == NULL)
			{
				*ok = false;
				v.val.string.val = "";
			}
			v.val.string.len = strlen(v.val.string.val);
			break;
		case json_type_object:
			pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
			{
				json_object_object_foreach(obj, name, member)
				{
					JsonbValue	k;

					k.type = jbvString;
					k.val.string.val = copy_text(name, strlen(name));
					if (k.val.string.val == NULL)
					{
						*ok = false;
						*problem = pstrdup("A member name of the answer is not valid UTF-8 text.");
						k.val.string.val = "";
					}
					k.val.string.len = strlen(k.val.string.val);
					pushJsonbValue(state, WJB_KEY, &k);
					push_json(state, member, WJB_VALUE, ok, problem);
				}
			}
			return pushJsonbValue(state, WJB_END_OBJECT, NULL);
		case json_type_array:
			pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
			for (size_t i = 0; i < json_object_array_length(obj); i++)
				push_json(state, json_object_array_get_idx(obj, i), WJB_ELEM, ok, problem);
			return pushJsonbValue(state, WJB_END_ARRAY, NULL);
	}
	result = pushJsonbValue(state, token, &v);
	return result;
}

/*
 * A key object as jsonb.
 */
static bool
build_jsonb(json_object *obj, Jsonb **out, char **problem)
{
	JsonbParseState *state = NULL;
	bool		ok = true;
	JsonbValue *value = push_json(&state, obj, WJB_VALUE, &ok, problem);

	if (ok)
		*out = JsonbValueToJsonb(value);
	return ok;
}

/*
 * Fills an RkKey from one key object, of either generation; with_attrs
 * builds attrs too.
 */
static bool
read_key(json_object *obj, RkKey *key, bool with_attrs, char **problem)
{
	memset(key, 0, sizeof(RkKey));

	if (!json_object_is_type(obj, json_type_object))
	{
		*problem = psprintf("A key is %s, not an object.", type_name(obj));
		return false;
	}
	if (!get_either(obj, "id", "api_key_id", &key->id, problem) ||
		!get_string(obj, "name", &key->name, problem) ||
		!get_active(obj, &key->active, problem) ||
		!get_string(obj, "status", &key->status, problem) ||
		!get_string(obj, "token_prefix", &key->token_prefix, problem) ||
		!get_string(obj, "permission_mode", &key->permission_mode, problem) ||
		!get_project(obj, &key->project_id, problem) ||
		!get_owner_type(obj, &key->owner_type, problem) ||
		!get_time(obj, "expiration", "expires_at", &key->expires_at, problem) ||
		!get_time(obj, "created", "created_at", &key->created_at, problem) ||
		!get_time(obj, "updated", "updated_at", &key->updated_at, problem) ||
		!get_time(obj, "last_used_at", "last_used", &key->last_used_at, problem) ||
		!get_string(obj, "created_by_id", &key->created_by_id, problem) ||
		!get_string(obj, "updated_by_id", &key->updated_by_id, problem) ||
		!get_string(obj, "source", &key->source, problem))
		return false;

	if (key->id == NULL || key->id[0] == '\0')
	{
		*problem = pstrdup("A key has no \"id\".");
		return false;
	}
	key->status = enum_label(key->status, "API_KEY_STATUS_");
	key->permission_mode = enum_label(key->permission_mode, "PERMISSION_MODE_");
	if (key->active < 0 && key->status != NULL)
		key->active = strcmp(key->status, "active") == 0 ? 1 : 0;
	if (key->status == NULL && key->active >= 0)
		key->status = pstrdup(key->active ? "active" : "disabled");
	return !with_attrs || build_jsonb(obj, &key->attrs, problem);
}

/*
 * Reads the key of a single-key answer (create, get, update): the key object
 * itself, or {"api_key": {…}, "token": "…"}.  With with_token, the raw token
 * is taken out of the object into key->token, so that attrs never holds it.
 */
static bool
read_single(json_object *root, RkKey *key, bool with_token, bool with_attrs, char **problem)
{
	json_object *obj = root;
	json_object *wrapped;
	char	   *token = NULL;

	if (!json_object_is_type(root, json_type_object))
	{
		*problem = psprintf("The answer is %s, not a key.", type_name(root));
		return false;
	}
	if (json_object_is_type(root, json_type_object) &&
		json_object_object_get_ex(root, "api_key", &wrapped) &&
		json_object_is_type(wrapped, json_type_object))
		obj = wrapped;

	if (with_token)
	{
		if (!get_string(root, "token", &token, problem) ||
			(token == NULL && obj != root && !get_string(obj, "token", &token, problem)))
			return false;
		json_object_object_del(obj, "token");
	}
	if (!read_key(obj, key, with_attrs, problem))
		return false;
	key->token = token;
	return true;
}

/*
 * read_document reader for rk_contract_parse_key.
 */
static bool
read_single_document(json_object *root, RkReading *reading, char **problem)
{
	return read_single(root, reading->key, reading->with_token, reading->with_attrs, problem);
}

/*
 * Parses the answer to a create (with_token), get or update into *key;
 * with_attrs builds key->attrs too.  Returns false with *problem when the
 * body breaks the contract.
 */
bool
rk_contract_parse_key(const char *body, size_t len, RkKey *key, bool with_token,
					  bool with_attrs, char **problem)
{
	RkReading	reading = {.key = key, .with_token = with_token, .with_attrs = with_attrs};

	return read_document(body, len, read_single_document, &reading, problem);
}

/*
 * read_document reader for rk_contract_parse_empty.
 */
static bool
read_empty_document(json_object *root, RkReading *reading, char **problem)
{
	if (json_object_is_type(root, json_type_object))
		return true;
	*problem = pstrdup("The answer to a delete is neither empty nor a JSON object.");
	return false;
}

/*
 * Checks the answer to a delete: no body (204), or a JSON object ({} from
 * the older generation).  Returns false with *problem otherwise.
 */
bool
rk_contract_parse_empty(const char *body, size_t len, char **problem)
{
	RkReading	reading = {0};

	return len == 0 || read_document(body, len, read_empty_document, &reading, problem);
}

/*
 * Reads a page: a bare array, or {"data": […], "has_more": bool}.
 */
static bool
read_page(json_object *root, RkPage *page, bool with_attrs, char **problem)
{
	json_object *items = root;
	size_t		n;

	memset(page, 0, sizeof(RkPage));
	if (json_object_is_type(root, json_type_object))
	{
		json_object *more;

		if (!json_object_object_get_ex(root, "data", &items) ||
			!json_object_is_type(items, json_type_array))
		{
			*problem = pstrdup("The list has no \"data\" array.");
			return false;
		}
		if (json_object_object_get_ex(root, "has_more", &more) && more != NULL)
		{
			if (!json_object_is_type(more, json_type_boolean))
			{
				*problem = psprintf("Field \"has_more\" is %s, not a boolean.", type_name(more));
				return false;
			}
			page->has_more_known = true;
			page->has_more = json_object_get_boolean(more);
		}
	}
	else if (!json_object_is_type(root, json_type_array))
	{
		*problem = psprintf("The list is %s, not an array.", type_name(root));
		return false;
	}

	n = json_object_array_length(items);
	if (n > MaxAllocSize / sizeof(RkKey))
	{
		*problem = psprintf("The list has %zu entries, more than a page can hold.", n);
		return false;
	}
	page->keys = palloc0(sizeof(RkKey) * Max(n, 1));
	for (size_t i = 0; i < n; i++)
	{
		if (!read_key(json_object_array_get_idx(items, i), &page->keys[i], with_attrs, problem))
			return false;
		page->nkeys++;
	}
	return true;
}

/*
 * read_document reader for rk_contract_parse_page.
 */
static bool
read_page_document(json_object *root, RkReading *reading, char **problem)
{
	return read_page(root, reading->page, reading->with_attrs, problem);
}

/*
 * Parses one page of a listing.  Returns false with *problem when the body
 * breaks the contract.
 */
bool
rk_contract_parse_page(const char *body, size_t len, RkPage *page, bool with_attrs,
					   char **problem)
{
	RkReading	reading = {.page = page, .with_attrs = with_attrs};

	return read_document(body, len, read_page_document, &reading, problem);
}

/*
 * Finds the human-readable message in an error body of any of the forms the
 * API uses: {"error":{"message":…}}, {"error":"…"}, {"message":"…"}, …
 */
static char *
read_error_message(json_object *root)
{
	static const char *const fields[] = {"message", "error", "detail", "error_description"};
	json_object *value;

	if (!json_object_is_type(root, json_type_object))
		return NULL;
	if (json_object_object_get_ex(root, "error", &value) &&
		json_object_is_type(value, json_type_object))
	{
		char	   *inner = read_error_message(value);

		if (inner != NULL)
			return inner;
	}
	for (int i = 0; i < (int) lengthof(fields); i++)
	{
		if (json_object_object_get_ex(root, fields[i], &value) &&
			json_object_is_type(value, json_type_string) &&
			json_object_get_string_len(value) > 0)
			return copy_text(json_object_get_string(value), json_object_get_string_len(value));
	}
	return NULL;
}

/*
 * read_document reader for rk_contract_error_message.
 */
static bool
read_error_document(json_object *root, RkReading *reading, char **problem)
{
	reading->message = read_error_message(root);
	return reading->message != NULL;
}

/*
 * The message of an error body, or NULL when it has none (or is not JSON).
 */
char *
rk_contract_error_message(const char *body, size_t len)
{
	RkReading	reading = {0};
	char	   *problem;

	if (!read_document(body, len, read_error_document, &reading, &problem))
		return NULL;
	return reading.message;
}

/*
 * Adds a string member, converted from the server encoding to UTF-8.
 */
static void
add_string(json_object *obj, const char *field, const char *value)
{
	char	   *utf8 = pg_server_to_any(value, strlen(value), PG_UTF8);

	json_object_object_add(obj, field, json_object_new_string(utf8));
}

/*
 * Serializes a body built by fill, releasing it on every path.
 */
static char *
serialize(void (*fill) (json_object *, const void *), const void *args)
{
	json_object *root = json_object_new_object();
	char	   *volatile text = NULL;

	if (root == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	PG_TRY();
	{
		fill(root, args);
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

/*
 * Fills a create body.
 */
static void
fill_create(json_object *root, const void *p)
{
	const RkCreateArgs *args = (const RkCreateArgs *) p;

	add_string(root, "name", args->name);
	if (args->expires_at != NULL)
		add_string(root, "expires_at", args->expires_at);
	if (args->permission_mode != NULL)
		add_string(root, "permission_mode", args->permission_mode);
	if (args->project_id != NULL)
	{
		json_object *scope = json_object_new_object();
		json_object *single = json_object_new_object();

		json_object_object_add(root, "project_scope", scope);
		json_object_object_add(scope, "single", single);
		add_string(single, "project_id", args->project_id);
	}
}

/*
 * The JSON body of POST /v2/api-keys.
 */
char *
rk_contract_create_body(const RkCreateArgs *args)
{
	return serialize(fill_create, args);
}

/*
 * Fills a sparse update body: only what is set is sent.
 */
static void
fill_update(json_object *root, const void *p)
{
	const RkUpdateArgs *args = (const RkUpdateArgs *) p;

	if (args->name != NULL)
		add_string(root, "name", args->name);
	if (args->active >= 0)
		add_string(root, "status", args->active ? "API_KEY_STATUS_ACTIVE" : "API_KEY_STATUS_DISABLED");
	if (args->expires_at != NULL)
		add_string(root, "expires_at", args->expires_at);
	if (args->clear_expires_at)
		json_object_object_add(root, "clear_expires_at", json_object_new_boolean(1));
}

/*
 * The JSON body of PATCH /v2/api-keys/{id}.
 */
char *
rk_contract_update_body(const RkUpdateArgs *args)
{
	return serialize(fill_update, args);
}
