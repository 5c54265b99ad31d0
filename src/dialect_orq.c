/*-------------------------------------------------------------------------
 *
 * dialect_orq.c
 *		The provisioning API of the Orq.ai AI Router (shared/API.md of the
 *		project's design): everything the remote API defines, and nothing
 *		else.
 *
 * Requests: the paths, the query parameters of a listing and its cursor,
 * the create and update bodies, the enum spellings of column values, and
 * what EXPLAIN shows as the remote request.  Answers: key objects, pages
 * and error messages of both generations, read without being told which
 * one is speaking (the id from "id" or "api_key_id", times from either
 * spelling, active from "active" or from "status", lists from a bare array
 * or from "data", a key bare or wrapped in "api_key"); whatever is not
 * mapped to a column is kept, since attrs holds the whole object.  Meaning:
 * what a status says about a request, which statuses are transient, and
 * the advice a user can act on.
 *
 * Every field read is type-checked; an answer that breaks the contract is
 * reported to the caller as a problem text, never guessed at.  Nothing here
 * sends a request or raises an error for a remote failure: keys.c and
 * http.c call these functions through the RkDialect table at the end.
 *
 * Results are palloc'd in the caller's memory context; json-c trees are
 * released by rk_json_read on every path.
 *
 *-------------------------------------------------------------------------
 */
#include "json.h"

#include "utils/memutils.h"


#define KEYS_PATH "/v2/api-keys"

/* The enum spellings of the column values a user gives. */
typedef struct RkSpelling
{
	const char *value;			/* as a column shows it */
	const char *api;			/* as the API spells it */
} RkSpelling;

static const RkSpelling status_spellings[] = {
	{"active", "API_KEY_STATUS_ACTIVE"},
	{"disabled", "API_KEY_STATUS_DISABLED"},
	{"revoked", "API_KEY_STATUS_REVOKED"},
};

static const RkSpelling permission_mode_spellings[] = {
	{"all", "PERMISSION_MODE_ALL"},
	{"read_only", "PERMISSION_MODE_READ_ONLY"},
	{"restricted", "PERMISSION_MODE_RESTRICTED"},
};

/*
 * Appends text to buf percent-encoded for a URL path segment or query value:
 * everything but RFC 3986's unreserved characters is escaped.
 */
void
rk_dialect_append_escaped(StringInfo buf, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *) text; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			appendStringInfoChar(buf, (char) *p);
		else
		{
			appendStringInfoChar(buf, '%');
			appendStringInfoChar(buf, hex[*p >> 4]);
			appendStringInfoChar(buf, hex[*p & 15]);
		}
	}
}

/*
 * The API spelling of a column value (or of the API spelling itself), or
 * NULL when it is neither.
 */
static const char *
spell(const RkSpelling *spellings, int n, const char *value)
{
	for (int i = 0; i < n; i++)
	{
		if (pg_strcasecmp(value, spellings[i].value) == 0 ||
			strcmp(value, spellings[i].api) == 0)
			return spellings[i].api;
	}
	return NULL;
}

static const char *
orq_status_value(const char *status)
{
	return spell(status_spellings, lengthof(status_spellings), status);
}

static const char *
orq_permission_mode_value(const char *mode)
{
	return spell(permission_mode_spellings, lengthof(permission_mode_spellings), mode);
}

/*
 * Appends "&name=value" to a query string; escaped unless for EXPLAIN.
 */
static void
append_param(StringInfo query, const char *name, const char *value, bool escape)
{
	if (value == NULL)
		return;
	appendStringInfo(query, "&%s=", name);
	if (escape)
		rk_dialect_append_escaped(query, value);
	else
		appendStringInfoString(query, value);
}

/*
 * The status a listing filters on: the status asked for, else active when
 * only active keys are wanted.  A value the API has no spelling for (an
 * EXPLAIN placeholder) is passed on as it is.
 */
static const char *
filter_status(const RkListFilter *filter)
{
	const char *status = filter->status;

	if (status == NULL && filter->active_only)
		status = "active";
	if (status == NULL)
		return NULL;
	return orq_status_value(status) != NULL ? orq_status_value(status) : status;
}

/*
 * The path and query of a listing page, from the filter and the cursor.
 */
static char *
build_list(const RkListFilter *filter, int limit, const char *cursor, bool escape)
{
	StringInfoData path;

	initStringInfo(&path);
	appendStringInfo(&path, KEYS_PATH "?source=router&limit=%d", limit);
	append_param(&path, "status", filter_status(filter), escape);
	append_param(&path, "search", filter->search, escape);
	append_param(&path, "project_id", filter->project_id, escape);
	append_param(&path, "starting_after", cursor, escape);
	return path.data;
}

static char *
orq_list_path(const RkListFilter *filter, int limit, const char *cursor)
{
	return build_list(filter, limit, cursor, true);
}

/*
 * A listing as EXPLAIN shows it: the first page's request, values as they
 * are (placeholders included).
 */
static char *
orq_describe_list(const RkListFilter *filter, int limit)
{
	return psprintf("GET %s (paged)", build_list(filter, limit, NULL, false));
}

/*
 * The path of one key.  Caller is responsible for having checked the id
 * (rk_keys_check_id).
 */
static char *
orq_key_path(const char *id)
{
	StringInfoData path;

	initStringInfo(&path);
	appendStringInfoString(&path, KEYS_PATH "/");
	rk_dialect_append_escaped(&path, id);
	return path.data;
}

/*
 * A request about one key as EXPLAIN shows it.
 */
static const char *
orq_describe_key_request(const char *method)
{
	if (strcmp(method, "POST") == 0)
		return "POST " KEYS_PATH;
	if (strcmp(method, "PATCH") == 0)
		return "PATCH " KEYS_PATH "/{id}";
	if (strcmp(method, "DELETE") == 0)
		return "DELETE " KEYS_PATH "/{id}";
	return "GET " KEYS_PATH "/{id}";
}

/*
 * Fills a create body.
 */
static void
fill_create(json_object *root, const void *p)
{
	const RkCreateArgs *args = (const RkCreateArgs *) p;

	rk_json_add_string(root, "name", args->name);
	if (args->expires_at != NULL)
		rk_json_add_string(root, "expires_at", args->expires_at);
	if (args->permission_mode != NULL)
		rk_json_add_string(root, "permission_mode",
						   orq_permission_mode_value(args->permission_mode));
	if (args->project_id != NULL)
		rk_json_add_string(rk_json_add_object(rk_json_add_object(root, "project_scope"),
											  "single"),
						   "project_id", args->project_id);
}

/*
 * The JSON body of a create.  Caller is responsible for a permission mode
 * the API can spell (permission_mode_value).
 */
static char *
orq_create_body(const RkCreateArgs *args)
{
	return rk_json_serialize(fill_create, args);
}

/*
 * Fills a sparse update body: only what is set is sent.
 */
static void
fill_update(json_object *root, const void *p)
{
	const RkUpdateArgs *args = (const RkUpdateArgs *) p;

	if (args->name != NULL)
		rk_json_add_string(root, "name", args->name);
	if (args->active >= 0)
		rk_json_add_string(root, "status", orq_status_value(args->active ? "active" : "disabled"));
	if (args->expires_at != NULL)
		rk_json_add_string(root, "expires_at", args->expires_at);
	if (args->clear_expires_at)
		rk_json_add_boolean(root, "clear_expires_at", true);
}

/*
 * The JSON body of an update.
 */
static char *
orq_update_body(const RkUpdateArgs *args)
{
	return rk_json_serialize(fill_update, args);
}

/*
 * Finds an optional member of a type: absent or null gives NULL.  Returns
 * false (with *problem) when it has another type.
 */
static bool
get_member(json_object *obj, const char *field, json_type type, json_object **out,
		   char **problem)
{
	json_object *value;

	*out = NULL;
	if (!json_object_object_get_ex(obj, field, &value) || value == NULL)
		return true;
	if (!json_object_is_type(value, type))
	{
		*problem = psprintf("Field \"%s\" of a key is %s, not %s.", field,
							rk_json_type_name(value), rk_json_type_label(type));
		return false;
	}
	*out = value;
	return true;
}

/*
 * Reads an optional string field: absent or null gives NULL.  Returns false
 * (with *problem) when the field has another type.
 */
static bool
get_string(json_object *obj, const char *field, char **out, char **problem)
{
	json_object *value;

	if (!get_member(obj, field, json_type_string, &value, problem))
		return false;
	if (value == NULL)
		return true;
	*out = rk_json_string(value, problem);
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
	return get_member(obj, field, json_type_object, out, problem);
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
					*out = rk_json_name(name);
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
	if (!get_member(obj, "active", json_type_boolean, &value, problem))
		return false;
	if (value != NULL)
		*out = json_object_get_boolean(value) ? 1 : 0;
	return true;
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
		*problem = psprintf("A key is %s, not an object.", rk_json_type_name(obj));
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
	return !with_attrs || rk_json_to_jsonb(obj, &key->attrs, problem);
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
		*problem = psprintf("The answer is %s, not a key.", rk_json_type_name(root));
		return false;
	}
	if (json_object_object_get_ex(root, "api_key", &wrapped) &&
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
				*problem = psprintf("Field \"has_more\" is %s, not a boolean.", rk_json_type_name(more));
				return false;
			}
			page->has_more_known = true;
			page->has_more = json_object_get_boolean(more);
		}
	}
	else if (!json_object_is_type(root, json_type_array))
	{
		*problem = psprintf("The list is %s, not an array.", rk_json_type_name(root));
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
		{
			char	   *problem;

			return rk_json_string(value, &problem);
		}
	}
	return NULL;
}



/* What a parse function wants read from a document. */
typedef struct RkReading
{
	RkKey	   *key;
	bool		with_token;
	RkPage	   *page;
	bool		with_attrs;
	char	   *message;
} RkReading;

/*
 * rk_json_read reader of a single-key answer.
 */
static bool
read_single_document(json_object *root, void *arg, char **problem)
{
	RkReading  *reading = (RkReading *) arg;

	return read_single(root, reading->key, reading->with_token, reading->with_attrs, problem);
}

/*
 * Parses the answer to a create (with_token), get or update into *key;
 * with_attrs builds key->attrs too.  Returns false with *problem when the
 * body breaks the contract.
 */
static bool
orq_parse_key(const char *body, size_t len, RkKey *key, bool with_token, bool with_attrs,
			  char **problem)
{
	RkReading	reading = {.key = key, .with_token = with_token, .with_attrs = with_attrs};

	return rk_json_read(body, len, read_single_document, &reading, problem);
}

/*
 * rk_json_read reader of a delete's answer.
 */
static bool
read_empty_document(json_object *root, void *arg, char **problem)
{
	if (json_object_is_type(root, json_type_object))
		return true;
	*problem = pstrdup("The answer to a delete is neither empty nor a JSON object.");
	return false;
}

/*
 * Checks the answer to a delete: no body (204), or a JSON object ({} from
 * the older generation).
 */
static bool
orq_parse_empty(const char *body, size_t len, char **problem)
{
	return len == 0 || rk_json_read(body, len, read_empty_document, NULL, problem);
}

/*
 * rk_json_read reader of a page.
 */
static bool
read_page_document(json_object *root, void *arg, char **problem)
{
	RkReading  *reading = (RkReading *) arg;

	return read_page(root, reading->page, reading->with_attrs, problem);
}

/*
 * Parses one page of a listing.
 */
static bool
orq_parse_page(const char *body, size_t len, RkPage *page, bool with_attrs, char **problem)
{
	RkReading	reading = {.page = page, .with_attrs = with_attrs};

	return rk_json_read(body, len, read_page_document, &reading, problem);
}

/*
 * Whether a page ends the listing: it says so with has_more (the documented
 * generation), or, as a bare array, it is shorter than the limit asked for.
 */
static bool
orq_page_is_last(const RkPage *page, int limit)
{
	if (page->nkeys == 0)
		return true;
	return page->has_more_known ? !page->has_more : page->nkeys < limit;
}

/*
 * rk_json_read reader of an error body.
 */
static bool
read_error_document(json_object *root, void *arg, char **problem)
{
	RkReading  *reading = (RkReading *) arg;

	reading->message = read_error_message(root);
	return reading->message != NULL;
}

/*
 * The message of an error body, or NULL when it has none (or is not JSON).
 */
static char *
orq_error_message(const char *body, size_t len)
{
	RkReading	reading = {0};
	char	   *problem;

	if (!rk_json_read(body, len, read_error_document, &reading, &problem))
		return NULL;
	return reading.message;
}

/*
 * What an HTTP status says about a request (about_key: it named a key).
 */
static RkFailure
orq_classify_status(long status, bool about_key)
{
	switch (status)
	{
		case 400:
		case 422:
			return RK_FAIL_INVALID_REQUEST;
		case 401:
			return RK_FAIL_AUTHENTICATION;
		case 403:
			return RK_FAIL_FORBIDDEN;
		case 404:
			return about_key ? RK_FAIL_NO_SUCH_KEY : RK_FAIL_NO_ENDPOINT;
		case 409:
			return RK_FAIL_CONFLICT;
		case 429:
			return RK_FAIL_RATE_LIMITED;
		case 502:
		case 503:
		case 504:
			return RK_FAIL_UNAVAILABLE;
		default:
			return status >= 500 ? RK_FAIL_SERVER_ERROR : RK_FAIL_OTHER_STATUS;
	}
}

/*
 * Whether a status may go away when the same request is sent again later.
 */
static bool
orq_status_is_transient(long status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

/*
 * Whether a status says the service did not carry the request out, so that
 * even a create may be sent again: 429 turns a request away before work.
 */
static bool
orq_status_is_unprocessed(long status)
{
	return status == 429;
}

/*
 * The advice this API gives with a failure, or NULL.
 */
static const char *
orq_hint(RkFailure failure)
{
	switch (failure)
	{
		case RK_FAIL_FORBIDDEN:
			return "A provisioning key manages router keys only, not workspace keys; a revoked provisioning key is refused too.";
		case RK_FAIL_CONFLICT:
			return "Key names are unique within a workspace.";
		default:
			return NULL;
	}
}

/*
 * Which conditions on a column the listing can evaluate: status and
 * project_id exactly, the name as a substring (search), active when true.
 * id = value is a GET of its own.
 */
static bool
orq_can_filter(RkColumn column, RkFilterOp op)
{
	switch (column)
	{
		case RK_COL_ID:
		case RK_COL_STATUS:
		case RK_COL_PROJECT_ID:
			return op == RK_FILTER_EQUAL;
		case RK_COL_NAME:
			return op == RK_FILTER_EQUAL || op == RK_FILTER_SUBSTRING;
		case RK_COL_ACTIVE:
			return op == RK_FILTER_IS_TRUE;
		default:
			return false;
	}
}

const RkDialect rk_dialect_orq = {
	.name = "orq",
	.list_path = orq_list_path,
	.describe_list = orq_describe_list,
	.key_path = orq_key_path,
	.describe_key_request = orq_describe_key_request,
	.create_path = KEYS_PATH,
	.create_body = orq_create_body,
	.update_body = orq_update_body,
	.parse_key = orq_parse_key,
	.parse_page = orq_parse_page,
	.parse_empty = orq_parse_empty,
	.error_message = orq_error_message,
	.page_is_last = orq_page_is_last,
	.classify_status = orq_classify_status,
	.status_is_transient = orq_status_is_transient,
	.status_is_unprocessed = orq_status_is_unprocessed,
	.hint = orq_hint,
	.can_filter = orq_can_filter,
	.status_value = orq_status_value,
	.permission_mode_value = orq_permission_mode_value,
};
