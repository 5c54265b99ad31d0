/*-------------------------------------------------------------------------
 *
 * fuzz_contract.c
 *		The fuzzing entry point over the response parsing of json.c and
 *		dialect_orq.c, through the rk_dialect_orq table: each input is one
 *		response body, read as a key (with attrs, with a token, without
 *		attrs), as a page (with and without attrs), as the answer to a
 *		delete and as an error body, and every result is checked.
 *
 * What is checked, beyond the sanitizers:
 *	- every returned string is valid UTF-8 text; a parsed key has an id, a
 *	  status exactly when it has an active flag, attrs exactly when asked
 *	  for, and attrs that jsonb_out would print as JSON that jsonb_in takes
 *	  back (no NaN or infinity: pgjson.c is the model), and that are the
 *	  model's jsonb of the key object: every member with its value, every
 *	  number exactly as written (1.10 stays 1.10, a 30-digit integer
 *	  whole), without the token after a create;
 *	- a problem is a full sentence, and all reads of one body agree on
 *	  whether it is JSON and on the columns of its keys;
 *	- JSON the model accepts is never called invalid (a body of at most
 *	  RK_JSON_MAX_DEPTH levels whose exponents are within +-1000), and a
 *	  body a read accepts is one the model accepts (json-c's harmless
 *	  leniencies aside; not NaN, Infinity, "1." or an exponent beyond 1000);
 *	- no ERROR escapes for any body: a body that breaks the contract is a
 *	  problem text, never an ERROR;
 *	- the create and update bodies built from a parsed key are JSON that
 *	  gives the same values back (the permission mode in the API's
 *	  spelling), and the paths of the key and of a listing filtered on its
 *	  values give them back percent-decoded.
 * Then each read runs again with an out-of-memory ERROR injected at one of
 * its allocation points (chosen by a hash of the input, or each in turn
 * with RK_FUZZ_EVERY_POINT=1), which must reach the caller with every
 * json-c object released; LeakSanitizer checks that after each input, when
 * the arena of palloc'd chunks has been freed.
 *
 *-------------------------------------------------------------------------
 */
#include "pgshim.h"

#include "routerkeys.h"

#include <stdarg.h>
#include <stdint.h>

#include <json-c/json.h>

#include "pgjson.h"

#define RK_JSON_MAX_DEPTH 64	/* as in json.c */
#define KEYS_PATH "/v2/api-keys"	/* as in dialect_orq.c */

/* The reads of a body. */
typedef enum Read
{
	READ_KEY,
	READ_CREATED_KEY,
	READ_KEY_COLUMNS,
	READ_PAGE,
	READ_PAGE_COLUMNS,
	READ_EMPTY,
	READ_ERROR,
	NUM_READS
} Read;

static const char *const read_names[] = {
	"rk_dialect_orq.parse_key", "rk_dialect_orq.parse_key with_token",
	"rk_dialect_orq.parse_key without attrs", "rk_dialect_orq.parse_page with_attrs",
	"rk_dialect_orq.parse_page without attrs", "rk_dialect_orq.parse_empty",
	"rk_dialect_orq.error_message"
};

/* One input and the model's verdicts on it. */
typedef struct Input
{
	const char *body;
	size_t		len;
	PgJsonVerdict strict;
	PgJsonVerdict lenient;
	PgJsonInfo	strict_info;
	PgJsonInfo	lenient_info;
	PgJsonValue *tree;			/* the lenient model's tree, or NULL */
	uint64_t	hash;
} Input;

/* What one read gave. */
typedef struct Outcome
{
	bool		ok;
	char	   *problem;
	RkKey		key;
	RkPage		page;
	char	   *message;
	long		points;			/* allocation points passed */
} Outcome;

/* The string members of RkKey, for checks and comparisons. */
static const struct
{
	const char *name;
	size_t		offset;
}			key_strings[] = {
#define KEY_STRING(field) {#field, offsetof(RkKey, field)}
	KEY_STRING(id), KEY_STRING(name), KEY_STRING(status), KEY_STRING(token_prefix),
	KEY_STRING(permission_mode), KEY_STRING(project_id), KEY_STRING(owner_type),
	KEY_STRING(expires_at), KEY_STRING(created_at), KEY_STRING(updated_at),
	KEY_STRING(last_used_at), KEY_STRING(created_by_id), KEY_STRING(updated_by_id),
	KEY_STRING(source), KEY_STRING(token)
#undef KEY_STRING
};

static const Input *current_input;
static const char *current_read;

static char *
key_string(const RkKey *key, int i)
{
	return *(char **) ((const char *) key + key_strings[i].offset);
}

/*
 * Reports a broken invariant with what was being done, and aborts so that
 * libFuzzer keeps the input.
 */
static void pg_attribute_printf(1, 2) pg_attribute_noreturn()
finding(const char *fmt,...)
{
	va_list		args;

	fprintf(stderr, "\n==== routerkeys fuzz finding ====\nread: %s\n",
			current_read ? current_read : "(none)");
	if (current_input)
		fprintf(stderr, "input: %zu bytes; model: strict %s (%s), lenient %s, depth %d\n",
				current_input->len, pgjson_verdict_name(current_input->strict),
				current_input->strict_info.where ? current_input->strict_info.where : "-",
				pgjson_verdict_name(current_input->lenient),
				current_input->strict_info.depth);
	va_start(args, fmt);
	vfprintf(stderr, fmt, args);
	va_end(args);
	fputs("\n================================\n", stderr);
	fflush(stderr);
	abort();
}

/* Checks a returned string: NUL-terminated, valid UTF-8. */
static void
check_text(const char *what, const char *s)
{
	size_t		len;

	if (s == NULL)
		return;
	len = strlen(s);
	if (!pgshim_utf8_valid(s, len))
		finding("%s is not valid UTF-8 (%zu bytes): \"%.200s\"", what, len, s);
}

/* Whether a problem is about the body as JSON (rk_json_read's texts, in json.c). */
static bool
rejects_json(const char *problem)
{
	return strncmp(problem, "The response body ", 18) == 0;
}

/* A problem is a full sentence, as DETAIL wants. */
static void
check_problem(const char *problem)
{
	size_t		len;

	if (problem == NULL)
		finding("a read failed without a problem text");
	check_text("the problem", problem);
	len = strlen(problem);
	if (len < 2 || !(problem[0] >= 'A' && problem[0] <= 'Z') || problem[len - 1] != '.')
		finding("the problem is not a full sentence: \"%s\"", problem);
}

/*
 * Reads JSON with json-c as deep as contract.c reads it (json_tokener_parse
 * stops at 32 levels), without counting an allocation point: the harness
 * calls the real json_tokener_new_ex, not the shim's wrapper.
 */
extern json_tokener *__real_json_tokener_new_ex(int depth);

static json_object *
read_back(const char *json)
{
	json_tokener *tok = __real_json_tokener_new_ex(RK_JSON_MAX_DEPTH + 1);
	json_object *root;

	if (tok == NULL)
		finding("json-c could not allocate a tokener");
	root = json_tokener_parse_ex(tok, json, (int) strlen(json) + 1);
	if (json_tokener_get_error(tok) != json_tokener_success)
		finding("json-c cannot read back \"%.200s\": %s", json,
				json_tokener_error_desc(json_tokener_get_error(tok)));
	json_tokener_free(tok);
	return root;
}

/* Whether a JSON object has a member, by json-c. */
static bool
has_member(const char *json, const char *member)
{
	json_object *root = read_back(json);
	bool		found;

	found = json_object_object_get_ex(root, member, NULL);
	json_object_put(root);
	return found;
}

/* The model's key object of a single-key answer: bare, or in "api_key". */
static const PgJsonValue *
model_single_key(const PgJsonValue *root)
{
	const PgJsonValue *wrapped = pgjson_member(root, "api_key");

	if (!pgjson_is_object(root))
		return NULL;
	return pgjson_is_object(wrapped) ? wrapped : root;
}

/* The model's key object i of a page: a bare array, or "data". */
static const PgJsonValue *
model_page_key(const PgJsonValue *root, int i)
{
	return pgjson_element(pgjson_is_object(root) ? pgjson_member(root, "data") : root,
						  (size_t) i);
}

/* The offset of the first byte where two texts differ. */
static size_t
first_difference(const char *a, const char *b)
{
	size_t		i = 0;

	while (a[i] != '\0' && a[i] == b[i])
		i++;
	return i;
}

/*
 * The invariants of a key read successfully; model is the key object in
 * the model's tree, or NULL.  Without a tree (the lenient model refuses
 * the body) attrs is not compared: check_against_model reports the read
 * that accepted the body.
 */
static void
check_key(const RkKey *key, bool with_token, bool with_attrs, const PgJsonValue *model)
{
	PgJsonInfo	info;
	PgJsonVerdict verdict;
	const char *attrs;
	char	   *expected;
	size_t		at;

	for (int i = 0; i < (int) lengthof(key_strings); i++)
		check_text(key_strings[i].name, key_string(key, i));
	if (key->id == NULL || key->id[0] == '\0')
		finding("a key was read without an id");
	if (key->active < -1 || key->active > 1)
		finding("active is %d", key->active);
	if ((key->status == NULL) != (key->active == -1))
		finding("status \"%s\" with active %d", key->status ? key->status : "(null)", key->active);
	if (!with_token && key->token != NULL)
		finding("a token was read from a body that is not a create");
	if (!with_attrs)
	{
		if (key->attrs != NULL)
			finding("attrs were built although not asked for");
		return;
	}
	if (key->attrs == NULL)
		finding("a key was read without attrs");
	attrs = pgshim_jsonb_text(key->attrs);
	verdict = pgjson_check(attrs, strlen(attrs), false, &info);
	if (verdict != PGJSON_OK)
		finding("attrs is not a jsonb that jsonb_in would give back (%s: %s): %.300s",
				pgjson_verdict_name(verdict), info.where, attrs);
	if (with_token && has_member(attrs, "token"))
		finding("attrs of a created key hold the token: %.300s", attrs);
	if (current_input->tree == NULL)
		return;
	if (model == NULL)
		finding("a key was read where the model has no key object: %.300s", attrs);
	expected = pgjson_jsonb_out(model, with_token ? "token" : NULL);
	at = first_difference(attrs, expected);
	if (attrs[at] != '\0' || expected[at] != '\0')
		finding("attrs is not the key object as jsonb_in would store it; from byte %zu:\n"
				"  attrs: %.300s\n  model: %.300s", at, attrs + (at > 40 ? at - 40 : 0),
				expected + (at > 40 ? at - 40 : 0));
	free(expected);
}

/* Two reads of one key give the same columns (token and attrs aside). */
static void
check_same_key(const char *reads, const RkKey *a, const RkKey *b)
{
	if (a->active != b->active)
		finding("active differs between the reads %s", reads);
	for (int i = 0; i < (int) lengthof(key_strings); i++)
	{
		const char *x = key_string(a, i);
		const char *y = key_string(b, i);

		if (strcmp(key_strings[i].name, "token") == 0)
			continue;
		if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0))
			finding("%s differs between the reads %s", key_strings[i].name, reads);
	}
}

/* A request body: JSON the model accepts, as json-c reads it (the caller puts it). */
static json_object *
read_body(const char *what, const char *body)
{
	PgJsonInfo	info;
	PgJsonVerdict verdict = pgjson_check(body, strlen(body), false, &info);
	json_object *root;

	if (verdict != PGJSON_OK)
		finding("the %s body is not JSON (%s): %.300s", what, pgjson_verdict_name(verdict), body);
	root = read_back(body);
	if (!json_object_is_type(root, json_type_object))
		finding("the %s body is not an object: %.300s", what, body);
	return root;
}

/* Member of obj is the string value, or absent when value is NULL. */
static void
expect_string(const char *what, const char *body, json_object *obj, const char *member,
			  const char *value)
{
	json_object *got = NULL;
	bool		found = obj != NULL && json_object_object_get_ex(obj, member, &got);

	if (found != (value != NULL) ||
		(value && (!json_object_is_type(got, json_type_string) ||
				   strcmp(json_object_get_string(got), value) != 0)))
		finding("the %s body does not give \"%s\" back as \"%s\": %.300s",
				what, member, value ? value : "(absent)", body);
}

/* The object member of obj, or NULL. */
static json_object *
object_member(json_object *obj, const char *member)
{
	json_object *got;

	if (obj == NULL || !json_object_object_get_ex(obj, member, &got) ||
		!json_object_is_type(got, json_type_object))
		return NULL;
	return got;
}

/*
 * Builds the bodies of a create and an update from a key read back.  A
 * create takes the permission mode as a column value, and only one the API
 * can spell (keys.c checks it first): the key's own when it is one.
 */
static void
check_round_trip(const RkKey *key)
{
	const char *mode = key->permission_mode;
	const char *mode_api = mode ? rk_dialect_orq.permission_mode_value(mode) : NULL;
	RkCreateArgs create = {
		.name = key->name ? key->name : "unnamed",
		.expires_at = key->expires_at,
		.project_id = key->project_id,
		.permission_mode = mode_api ? mode : NULL
	};
	RkUpdateArgs update = {
		.name = key->name,
		.active = key->active,
		.expires_at = key->expires_at,
		.clear_expires_at = key->expires_at == NULL
	};
	char	   *body;
	json_object *root;
	json_object *clear;

	if (mode_api != NULL &&
		(strncmp(mode_api, "PERMISSION_MODE_", 16) != 0 ||
		 (pg_strcasecmp(mode_api + 16, mode) != 0 && strcmp(mode_api, mode) != 0)))
		finding("permission mode \"%s\" is spelled \"%s\"", mode, mode_api);

	body = rk_dialect_orq.create_body(&create);
	root = read_body("create", body);
	expect_string("create", body, root, "name", create.name);
	expect_string("create", body, root, "expires_at", create.expires_at);
	expect_string("create", body, root, "permission_mode", mode_api);
	if (create.project_id == NULL && json_object_object_get_ex(root, "project_scope", NULL))
		finding("the create body has a project_scope without a project: %.300s", body);
	if (create.project_id != NULL)
		expect_string("create", body, object_member(object_member(root, "project_scope"), "single"),
					  "project_id", create.project_id);
	json_object_put(root);

	body = rk_dialect_orq.update_body(&update);
	root = read_body("update", body);
	expect_string("update", body, root, "name", update.name);
	expect_string("update", body, root, "expires_at", update.expires_at);
	expect_string("update", body, root, "status",
				  update.active < 0 ? NULL :
				  update.active ? "API_KEY_STATUS_ACTIVE" : "API_KEY_STATUS_DISABLED");
	if (json_object_object_get_ex(root, "clear_expires_at", &clear) != update.clear_expires_at ||
		(update.clear_expires_at &&
		 (!json_object_is_type(clear, json_type_boolean) || !json_object_get_boolean(clear))))
		finding("the update body does not say clear_expires_at %s: %.300s",
				update.clear_expires_at ? "true" : "(absent)", body);
	json_object_put(root);
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;					/* the dialect writes upper case only */
}

/*
 * Decodes len bytes of a percent-encoded path or query value, which must
 * hold only RFC 3986 unreserved characters and %XX; a finding otherwise.
 */
static char *
percent_decode(const char *what, const char *s, size_t len)
{
	char	   *out = palloc(len + 1);
	size_t		n = 0;

	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			out[n++] = (char) c;
		else if (c == '%' && len - i >= 3 && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0)
		{
			out[n++] = (char) (hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
			i += 2;
		}
		else
			finding("%s is not percent-encoded at byte %zu: %.300s", what, i, s);
	}
	out[n] = '\0';
	return out;
}

/* The value of query parameter name in query ("&a=b&c=d"), decoded, or NULL. */
static char *
query_value(const char *path, const char *query, const char *name)
{
	size_t		nlen = strlen(name);
	const char *p = query;
	char	   *found = NULL;

	while (*p == '&')
	{
		const char *eq = strchr(p + 1, '=');
		const char *end;

		if (eq == NULL)
			finding("the listing path has a parameter without a value: %.300s", path);
		end = strchr(eq, '&');
		if (end == NULL)
			end = eq + strlen(eq);
		if ((size_t) (eq - p - 1) == nlen && memcmp(p + 1, name, nlen) == 0)
		{
			if (found != NULL)
				finding("the listing path has two \"%s\" parameters: %.300s", name, path);
			found = percent_decode("a value of the listing path", eq + 1, end - eq - 1);
		}
		p = end;
	}
	if (*p != '\0')
		finding("the listing path has junk in its query: %.300s", path);
	return found;
}

/* A query parameter is value, or absent when value is NULL. */
static void
expect_param(const char *path, const char *query, const char *name, const char *value)
{
	char	   *got = query_value(path, query, name);

	if ((got == NULL) != (value == NULL) || (got && strcmp(got, value) != 0))
		finding("the listing path does not give \"%s\" back as \"%s\": %.300s",
				name, value ? value : "(absent)", path);
}

/*
 * The path of the key, and of a listing filtered on its values and
 * continued after it: the values come back percent-decoded.
 */
static void
check_paths(const RkKey *key)
{
	static const char list_prefix[] = KEYS_PATH "?source=router&limit=50";
	RkListFilter filter = {
		.status = key->status,
		.search = key->name,
		.project_id = key->project_id
	};
	char	   *path = rk_dialect_orq.key_path(key->id);
	const char *status;

	if (strncmp(path, KEYS_PATH "/", sizeof(KEYS_PATH)) != 0 ||
		strcmp(percent_decode("the key path", path + sizeof(KEYS_PATH),
							  strlen(path + sizeof(KEYS_PATH))), key->id) != 0)
		finding("the key path does not give the id back: %.300s", path);

	path = rk_dialect_orq.list_path(&filter, 50, key->id);
	if (strncmp(path, list_prefix, sizeof(list_prefix) - 1) != 0)
		finding("the listing path does not start with %s: %.300s", list_prefix, path);
	status = key->status ? rk_dialect_orq.status_value(key->status) : NULL;
	expect_param(path, path + sizeof(list_prefix) - 1, "status",
				 status ? status : key->status);
	expect_param(path, path + sizeof(list_prefix) - 1, "search", key->name);
	expect_param(path, path + sizeof(list_prefix) - 1, "project_id", key->project_id);
	expect_param(path, path + sizeof(list_prefix) - 1, "starting_after", key->id);
}

/* One read of the body, and the checks of what it gave. */
static void
exercise(Read read, const Input *in, Outcome *out)
{
	memset(out, 0, sizeof(Outcome));
	switch (read)
	{
		case READ_KEY:
		case READ_CREATED_KEY:
		case READ_KEY_COLUMNS:
			out->ok = rk_dialect_orq.parse_key(in->body, in->len, &out->key,
											   read == READ_CREATED_KEY,
											   read != READ_KEY_COLUMNS, &out->problem);
			if (out->ok)
			{
				check_key(&out->key, read == READ_CREATED_KEY, read != READ_KEY_COLUMNS,
						  model_single_key(in->tree));
				check_round_trip(&out->key);
				check_paths(&out->key);
			}
			else
				check_problem(out->problem);
			break;
		case READ_PAGE:
		case READ_PAGE_COLUMNS:
			out->ok = rk_dialect_orq.parse_page(in->body, in->len, &out->page,
												read == READ_PAGE, &out->problem);
			if (out->page.nkeys < 0 || (out->page.nkeys > 0 && out->page.keys == NULL))
				finding("a page of %d keys at %p", out->page.nkeys, (void *) out->page.keys);
			for (int i = 0; i < out->page.nkeys; i++)
				check_key(&out->page.keys[i], false, read == READ_PAGE,
						  model_page_key(in->tree, i));
			if (out->ok && out->page.keys == NULL)
				finding("a page was read without a keys array");
			if (out->ok && in->tree != NULL &&
				(size_t) out->page.nkeys != pgjson_length(pgjson_is_object(in->tree) ?
														  pgjson_member(in->tree, "data") :
														  in->tree))
				finding("a page of %d keys, where the model has %zu", out->page.nkeys,
						pgjson_length(pgjson_is_object(in->tree) ?
									  pgjson_member(in->tree, "data") : in->tree));
			if (out->page.has_more && !out->page.has_more_known)
				finding("has_more is set but not known");
			if (!out->ok)
				check_problem(out->problem);
			break;
		case READ_EMPTY:
			out->ok = rk_dialect_orq.parse_empty(in->body, in->len, &out->problem);
			if (!out->ok)
				check_problem(out->problem);
			else if (in->len == 0 && out->problem != NULL)
				finding("an empty answer read with a problem");
			break;
		case READ_ERROR:
			out->message = rk_dialect_orq.error_message(in->body, in->len);
			out->ok = out->message != NULL;
			check_text("the error message", out->message);
			if (out->message != NULL && out->message[0] == '\0')
				finding("an empty error message");
			break;
		case NUM_READS:
			break;
	}
}

/* Reports an ERROR that was not injected. */
static void pg_attribute_noreturn()
unexpected_error(void)
{
	char		sqlstate[6];

	pgshim_unpack_sqlstate(pgshim_error_code(), sqlstate);
	fprintf(stderr, "\nstack of the ereport:\n");
	pgshim_print_error_stack(stderr);
	finding("ERROR %s escaped: %s\n  raised at %s", sqlstate,
			pgshim_error_message(), pgshim_error_location());
}

/* A read as the backend would run it; no ERROR may escape. */
static void
run_clean(Read read, const Input *in, Outcome *out)
{
	long		before = pgshim_alloc_points();

	current_read = read_names[read];
	PG_TRY();
	{
		exercise(read, in, out);
	}
	PG_CATCH();
	{
		unexpected_error();
	}
	PG_END_TRY();
	out->points = pgshim_alloc_points() - before;
}

/*
 * The read again, with allocation point k of it failing: the out-of-memory
 * ERROR must reach the caller, and nothing of json-c may stay allocated.
 */
static void
run_injected(Read read, const Input *in, long k)
{
	Outcome		scratch;
	volatile bool raised = false;
	sigjmp_buf *saved_stack = PG_exception_stack;

	pgshim_fail_at(pgshim_alloc_points() + k);
	PG_TRY();
	{
		exercise(read, in, &scratch);
	}
	PG_CATCH();
	{
		if (pgshim_error_code() != ERRCODE_OUT_OF_MEMORY)
			unexpected_error();
		raised = true;
		FlushErrorState();
	}
	PG_END_TRY();
	pgshim_fail_at(-1);
	if (!raised)
		finding("allocation point %ld of %s failed, but no ERROR reached the caller",
				k, read_names[read]);
	if (PG_exception_stack != saved_stack)
		finding("PG_exception_stack was not restored");
}

/* Whether the body is JSON null, white space aside. */
static bool
is_null(const Input *in)
{
	size_t		start = 0;
	size_t		end = in->len;

	while (start < end && strchr(" \t\n\r", in->body[start]) && in->body[start] != '\0')
		start++;
	while (end > start && strchr(" \t\n\r", in->body[end - 1]) && in->body[end - 1] != '\0')
		end--;
	return end - start == 4 && memcmp(in->body + start, "null", 4) == 0;
}

/* The cross-checks between the reads and against the model. */
static void
check_against_model(const Input *in, const Outcome *outcomes)
{
	const Outcome *key = &outcomes[READ_KEY];
	const Outcome *page = &outcomes[READ_PAGE];
	bool		key_rejects = !key->ok && rejects_json(key->problem);
	bool		page_rejects = !page->ok && rejects_json(page->problem);

	current_read = "all";
	if (key_rejects != page_rejects ||
		(key_rejects && strcmp(key->problem, page->problem) != 0))
		finding("the key and page reads disagree on the JSON: \"%s\" / \"%s\"",
				key->problem ? key->problem : "(ok)", page->problem ? page->problem : "(ok)");
	if (in->len > 0 && !outcomes[READ_EMPTY].ok &&
		rejects_json(outcomes[READ_EMPTY].problem) != key_rejects)
		finding("the key and delete reads disagree on the JSON: \"%s\" / \"%s\"",
				key->problem ? key->problem : "(ok)", outcomes[READ_EMPTY].problem);
	if (key->ok && outcomes[READ_CREATED_KEY].ok)
		check_same_key("with and without token", &key->key, &outcomes[READ_CREATED_KEY].key);
	if (key->ok && outcomes[READ_KEY_COLUMNS].ok)
		check_same_key("with and without attrs", &key->key, &outcomes[READ_KEY_COLUMNS].key);

	/*
	 * attrs can always be built from JSON that jsonb_in takes: only a number
	 * beyond numeric or a leniency of json-c may refuse a key or a page with
	 * attrs that was read without them.
	 */
	if (in->strict == PGJSON_OK && outcomes[READ_KEY_COLUMNS].ok && !key->ok)
		finding("a key read without attrs is refused with them: %s", key->problem);
	if (in->strict == PGJSON_OK && outcomes[READ_PAGE_COLUMNS].ok && !page->ok)
		finding("a page read without attrs is refused with it: %s", page->problem);
	if (page->ok && outcomes[READ_PAGE_COLUMNS].ok)
	{
		if (page->page.nkeys != outcomes[READ_PAGE_COLUMNS].page.nkeys)
			finding("a page has %d keys with attrs, %d without", page->page.nkeys,
					outcomes[READ_PAGE_COLUMNS].page.nkeys);
		for (int i = 0; i < page->page.nkeys; i++)
			check_same_key("of a page with and without attrs", &page->page.keys[i],
						   &outcomes[READ_PAGE_COLUMNS].page.keys[i]);
	}

	/*
	 * Valid JSON, with exponents json.c takes and not too deep, is never
	 * called invalid: only JSON null and a repeated member name may be
	 * refused as a body.
	 */
	if (in->strict == PGJSON_OK && in->strict_info.plain_numbers &&
		in->strict_info.depth <= RK_JSON_MAX_DEPTH && key_rejects &&
		!(strcmp(key->problem, "The response body is JSON null.") == 0 && is_null(in)) &&
		!(strncmp(key->problem, "The response body repeats a member name", 39) == 0 &&
		  pgjson_repeats_names(in->tree)))
		finding("valid JSON was called invalid: %s", key->problem);

	/* what a read accepts is JSON, json-c's harmless leniencies aside */
	for (int r = 0; r < NUM_READS; r++)
	{
		if (!outcomes[r].ok || (r == READ_EMPTY && in->len == 0))
			continue;
		if (in->lenient != PGJSON_OK)
			finding("%s accepted a body that is not JSON (%s: %s)", read_names[r],
					pgjson_verdict_name(in->lenient), in->lenient_info.where);
	}
}

/* FNV-1a, to pick the allocation point to fail. */
static uint64_t
hash_bytes(const uint8_t *data, size_t size)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3ULL;
	return h;
}

/*
 * Whether to fail every allocation point of each read in turn, rather than
 * the one the hash picks: RK_FUZZ_EVERY_POINT=1 in the environment (slow;
 * for replaying an input thoroughly).
 */
static bool
every_point(void)
{
	static int	every = -1;

	if (every < 0)
	{
		const char *value = getenv("RK_FUZZ_EVERY_POINT");

		every = value != NULL && value[0] != '\0' && strcmp(value, "0") != 0;
	}
	return every == 1;
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Input		in;
	Outcome		outcomes[NUM_READS];

	in.body = (const char *) data;
	in.len = size;
	in.strict = pgjson_check(in.body, size, false, &in.strict_info);
	in.lenient = pgjson_check(in.body, size, true, &in.lenient_info);
	in.tree = pgjson_parse(in.body, size);
	in.hash = hash_bytes(data, size);
	current_input = &in;

	for (int r = 0; r < NUM_READS; r++)
		run_clean((Read) r, &in, &outcomes[r]);
	check_against_model(&in, outcomes);
	for (int r = 0; r < NUM_READS; r++)
	{
		current_read = read_names[r];
		if (outcomes[r].points > 0 && every_point())
		{
			for (long k = 0; k < outcomes[r].points; k++)
				run_injected((Read) r, &in, k);
		}
		else if (outcomes[r].points > 0)
			run_injected((Read) r, &in, (long) (in.hash % (uint64_t) outcomes[r].points));
	}

	pgjson_free(in.tree);
	pgshim_reset();
	current_input = NULL;
	current_read = NULL;
	return 0;
}
