/*-------------------------------------------------------------------------
 *
 * keys.c
 *		The key operations both SQL surfaces share: list page by page, get
 *		one or many, create one or many, update, delete; and turning an RkKey
 *		into the columns of routerkeys.key.
 *
 * The SQL functions (functions.c) and the foreign table (fdw.c) call these
 * and nothing below them, so a request is built, sent, judged and parsed
 * in one place.  Every operation raises the ERROR of errors.c on failure,
 * except for a missing key, which the caller is told about.
 *
 * Results are palloc'd in the caller's memory context.  Counters of what
 * was sent and received go to an optional RkStats, for EXPLAIN ANALYZE.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#define KEYS_PATH "/v2/api-keys"
#define MAX_KEY_ID_LEN 128

/* Names and types of the columns of routerkeys.created_key, in order. */
static const struct
{
	const char *name;
	Oid			type;
}			key_columns[RK_KEY_NCOLUMNS + 1] = {
	{"id", TEXTOID},
	{"name", TEXTOID},
	{"active", BOOLOID},
	{"status", TEXTOID},
	{"token_prefix", TEXTOID},
	{"permission_mode", TEXTOID},
	{"project_id", TEXTOID},
	{"owner_type", TEXTOID},
	{"expires_at", TIMESTAMPTZOID},
	{"created_at", TIMESTAMPTZOID},
	{"updated_at", TIMESTAMPTZOID},
	{"last_used_at", TIMESTAMPTZOID},
	{"created_by_id", TEXTOID},
	{"updated_by_id", TEXTOID},
	{"source", TEXTOID},
	{"attrs", JSONBOID},
	{"token", TEXTOID},
};

static Datum time_datum(const char *text);

/* The state of a listing between pages. */
struct RkLister
{
	const RkConfig *config;
	char	   *base;			/* first page's path and query */
	char	   *next_base;		/* later pages' */
	char	   *cursor;			/* id to continue after, or NULL */
	int			limit;			/* of the page being fetched */
	bool		with_attrs;
	bool		done;
	RkStats    *stats;
};

/*
 * The index of a column of routerkeys.created_key by name, or -1.
 */
int
rk_keys_column_index(const char *name)
{
	for (int i = 0; i <= RK_KEY_NCOLUMNS; i++)
	{
		if (strcmp(key_columns[i].name, name) == 0)
			return i;
	}
	return -1;
}

/*
 * The name and the type of column index.
 */
const char *
rk_keys_column_name(int index)
{
	return key_columns[index].name;
}

Oid
rk_keys_column_type(int index)
{
	return key_columns[index].type;
}

/*
 * Adds a finished request to the counters.
 */
static void
count_request(RkStats *stats, const RkRequest *request)
{
	if (stats == NULL)
		return;
	stats->requests += request->attempts;
	stats->retries += Max(request->attempts - 1, 0);
	stats->bytes += request->response_len;
}

/*
 * Performs requests concurrently (one when n is 1) and counts them.
 */
static void
perform(const RkConfig *config, RkRequest **requests, int n, RkStats *stats)
{
	rk_http_execute(config, requests, n);
	for (int i = 0; i < n; i++)
		count_request(stats, requests[i]);
}

/*
 * A new request.
 */
static RkRequest *
new_request(const char *method, char *path, char *body)
{
	RkRequest  *request = palloc0(sizeof(RkRequest));

	request->method = method;
	request->path = path;
	request->body = body;
	return request;
}

/*
 * Whether a request ended with 404 Not Found.
 */
static bool
is_not_found(const RkRequest *request)
{
	return request->transport == RK_TRANSPORT_OK && request->status == 404;
}

/*
 * Parses a single-key answer, raising the protocol error when it is invalid.
 */
static void
parse_key(const RkConfig *config, const RkRequest *request, RkKey *key, bool with_token)
{
	char	   *problem = NULL;

	if (!rk_contract_parse_key(request->response, request->response_len, key,
							   with_token, true, &problem))
		rk_error_invalid_response(config, request, problem);
}

/*
 * Checks a key id before it goes into a URL path: only RFC 3986 unreserved
 * characters, and not "." or "..", so that no id can reach another endpoint.
 */
void
rk_keys_check_id(const char *id)
{
	size_t		len = strlen(id);
	bool		ok = len > 0 && len <= MAX_KEY_ID_LEN &&
		strcmp(id, ".") != 0 && strcmp(id, "..") != 0;

	for (const char *p = id; ok && *p; p++)
		ok = isalnum((unsigned char) *p) || *p == '-' || *p == '_' || *p == '.' || *p == '~';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid key id \"%s\"", id),
				 errdetail("A key id is 1 to %d letters, digits, \"-\", \"_\", \".\" or \"~\".",
						   MAX_KEY_ID_LEN)));
}

/*
 * The path of one key.
 */
static char *
key_path(const char *id)
{
	StringInfoData path;

	rk_keys_check_id(id);
	initStringInfo(&path);
	appendStringInfoString(&path, KEYS_PATH "/");
	rk_http_append_escaped(&path, id);
	return path.data;
}

/*
 * Appends "&name=value" to a query string, escaped.
 */
static void
append_param(StringInfo query, const char *name, const char *value)
{
	if (value == NULL)
		return;
	appendStringInfo(query, "&%s=", name);
	rk_http_append_escaped(query, value);
}

/*
 * The path and query of a listing's first page.
 */
char *
rk_keys_list_path(const RkConfig *config, const RkListFilter *filter, int limit)
{
	StringInfoData path;

	initStringInfo(&path);
	appendStringInfo(&path, KEYS_PATH "?source=router&limit=%d", limit);
	append_param(&path, "status", filter->status);
	append_param(&path, "search", filter->search);
	append_param(&path, "project_id", filter->project_id);
	return path.data;
}

/*
 * Starts a listing.  Nothing is sent until the first rk_keys_list_next.
 */
RkLister *
rk_keys_list_start(const RkConfig *config, const RkListFilter *filter, RkStats *stats)
{
	RkLister   *lister = palloc0(sizeof(RkLister));

	lister->config = config;
	lister->with_attrs = !filter->skip_attrs;
	lister->next_base = rk_keys_list_path(config, filter, config->page_size);
	lister->base = lister->next_base;
	lister->limit = config->page_size;
	if (filter->first_limit > 0 && filter->first_limit < config->page_size)
	{
		lister->base = rk_keys_list_path(config, filter, filter->first_limit);
		lister->limit = filter->first_limit;
	}
	lister->stats = stats;
	return lister;
}

/*
 * Fetches the next page of a listing into *page (allocated in the current
 * memory context, which may be a short-lived one: the lister keeps its own
 * state in the context it was started in).  Returns false once the listing
 * is over.
 */
bool
rk_keys_list_next(RkLister *lister, MemoryContext lister_cxt, RkPage *page)
{
	const RkConfig *config = lister->config;
	StringInfoData path;
	RkRequest  *request;
	char	   *problem = NULL;
	bool		more;

	if (lister->done)
		return false;

	initStringInfo(&path);
	appendStringInfoString(&path, lister->base);
	append_param(&path, "starting_after", lister->cursor);
	request = new_request("GET", path.data, NULL);
	perform(config, &request, 1, lister->stats);
	if (!rk_error_is_success(request))
		rk_error_raise(config, request, NULL);
	if (!rk_contract_parse_page(request->response, request->response_len, page,
								lister->with_attrs, &problem))
		rk_error_invalid_response(config, request, problem);
	if (lister->stats != NULL)
		lister->stats->pages++;

	more = page->nkeys > 0 &&
		(page->has_more_known ? page->has_more : page->nkeys >= lister->limit);
	if (more && lister->cursor != NULL &&
		strcmp(lister->cursor, page->keys[page->nkeys - 1].id) == 0)
		rk_error_invalid_response(config, request,
								  "The listing did not advance past the key given in starting_after.");
	if (lister->cursor != NULL)
		pfree(lister->cursor);
	lister->cursor = more ? MemoryContextStrdup(lister_cxt, page->keys[page->nkeys - 1].id) : NULL;
	lister->done = !more;
	lister->base = lister->next_base;
	lister->limit = config->page_size;
	return true;
}

/*
 * Sends one request about a key and reads the key it answers with.  Returns
 * false when the key does not exist.
 */
static bool
key_request(const RkConfig *config, const char *method, const char *id, char *body,
			RkKey *key, RkStats *stats)
{
	RkRequest  *request = new_request(method, key_path(id), body);

	perform(config, &request, 1, stats);
	if (is_not_found(request))
		return false;
	if (!rk_error_is_success(request))
		rk_error_raise(config, request, id);
	parse_key(config, request, key, false);
	return true;
}

/*
 * Reads one key.  Returns false when it does not exist.
 */
bool
rk_keys_get(const RkConfig *config, const char *id, RkKey *key, RkStats *stats)
{
	return key_request(config, "GET", id, NULL, key, stats);
}

/*
 * Reads several keys concurrently.  Fills keys[] with those that exist, in
 * the order of ids, and returns how many there are.
 */
int
rk_keys_get_many(const RkConfig *config, char **ids, int n, RkKey *keys, RkStats *stats)
{
	RkRequest **requests = palloc(sizeof(RkRequest *) * Max(n, 1));
	int			found = 0;

	for (int i = 0; i < n; i++)
		requests[i] = new_request("GET", key_path(ids[i]), NULL);
	perform(config, requests, n, stats);
	for (int i = 0; i < n; i++)
	{
		if (is_not_found(requests[i]))
			continue;
		if (!rk_error_is_success(requests[i]))
			rk_error_raise(config, requests[i], ids[i]);
		parse_key(config, requests[i], &keys[found++], false);
	}
	return found;
}

/*
 * Whether a failed create may have made a key all the same: its answer was
 * lost or cut short, or a server or gateway error came back.  A 409 counts
 * too once an earlier attempt was ambiguous, since that attempt may be the
 * key the name now clashes with.
 */
static bool
create_was_ambiguous(const RkRequest *request, bool after_ambiguous)
{
	switch (request->transport)
	{
		case RK_TRANSPORT_TIMEOUT:
		case RK_TRANSPORT_LOST:
		case RK_TRANSPORT_OTHER:
		case RK_TRANSPORT_TOO_LARGE:
			return true;
		case RK_TRANSPORT_OK:
			return request->status >= 500 || (after_ambiguous && request->status == 409) ||
				rk_error_is_success(request);	/* a 2xx body we could not read */
		default:
			return false;
	}
}

/*
 * Error context of the look-up that follows an ambiguous create.
 */
static void
lost_create_context(void *arg)
{
	errcontext("while removing the key a create whose answer was lost may have made, named \"%s\"",
			   (const char *) arg);
}

/*
 * Deletes the key a lost create made, if it did: a key with exactly this
 * name, created since the request was sent (less a minute of clock skew).
 * Its token was never seen, so it could never be used; names are unique,
 * so there is at most one.
 */
static void
remove_lost_create(const RkConfig *config, const char *name, TimestampTz sent_at,
				   RkStats *stats)
{
	RkListFilter filter = {.search = name};
	TimestampTz since = sent_at - 60 * USECS_PER_SEC;
	ErrorContextCallback callback = {
		.callback = lost_create_context,
		.arg = (void *) name,
		.previous = error_context_stack
	};
	RkLister   *lister;
	RkPage		page;

	error_context_stack = &callback;
	lister = rk_keys_list_start(config, &filter, stats);
	while (rk_keys_list_next(lister, CurrentMemoryContext, &page))
	{
		for (int i = 0; i < page.nkeys; i++)
		{
			RkKey	   *key = &page.keys[i];

			if (key->name != NULL && strcmp(key->name, name) == 0 &&
				(key->created_at == NULL ||
				 DatumGetTimestampTz(time_datum(key->created_at)) >= since))
				(void) rk_keys_delete(config, key->id, stats);
		}
	}
	error_context_stack = callback.previous;
}

/*
 * Creates keys, concurrently when there are several; keys[i] receives the
 * answer to args[i], token included (and attrs with with_attrs).
 *
 * A create is never repeated blindly.  The HTTP layer repeats it only when
 * it certainly did not arrive (no connection, 429).  When it may have
 * arrived (see create_was_ambiguous), the key it may have made is looked up
 * by name and deleted, and only then is the create sent again, within
 * max_retries: so no key is created twice, and none is left behind whose
 * token nobody has.
 */
void
rk_keys_create_many(const RkConfig *config, const RkCreateArgs *args, int n, RkKey *keys,
					bool with_attrs, RkStats *stats)
{
	RkRequest **requests = palloc(sizeof(RkRequest *) * Max(n, 1));
	RkRequest **pending = palloc(sizeof(RkRequest *) * Max(n, 1));
	int		   *index = palloc(sizeof(int) * Max(n, 1));
	int			npending = n;
	bool		after_ambiguous = false;

	for (int i = 0; i < n; i++)
	{
		requests[i] = new_request("POST", KEYS_PATH, rk_contract_create_body(&args[i]));
		pending[i] = requests[i];
		index[i] = i;
	}

	for (int attempt = 0;; attempt++)
	{
		TimestampTz sent_at = GetCurrentTimestamp();
		RkRequest  *failed = NULL;
		char	   *failed_problem = NULL;
		int			nretry = 0;

		perform(config, pending, npending, stats);
		for (int j = 0; j < npending; j++)
		{
			RkRequest  *r = pending[j];
			int			i = index[j];
			char	   *problem = NULL;

			if (rk_error_is_success(r) &&
				rk_contract_parse_key(r->response, r->response_len, &keys[i], true, with_attrs,
									  &problem))
				continue;
			if (create_was_ambiguous(r, after_ambiguous))
				remove_lost_create(config, args[i].name, sent_at, stats);
			if (!create_was_ambiguous(r, after_ambiguous) || attempt >= config->max_retries)
			{
				if (failed == NULL)
				{
					failed = r;
					failed_problem = problem;
				}
				continue;
			}
			pending[nretry] = r;
			index[nretry++] = i;
		}
		if (failed != NULL && rk_error_is_success(failed))
			rk_error_invalid_response(config, failed, failed_problem);
		if (failed != NULL)
			rk_error_raise(config, failed, NULL);
		if (nretry == 0)
			break;
		npending = nretry;
		after_ambiguous = true;
	}
}

/*
 * Changes the given fields of a key (with none, reads it).  Returns false
 * when the key does not exist.
 */
bool
rk_keys_update(const RkConfig *config, const char *id, const RkUpdateArgs *args,
			   RkKey *key, RkStats *stats)
{
	if (args->name == NULL && args->active < 0 && args->expires_at == NULL &&
		!args->clear_expires_at)
		return rk_keys_get(config, id, key, stats);

	return key_request(config, "PATCH", id, rk_contract_update_body(args), key, stats);
}

/*
 * Deletes a key.  Returns false when it did not exist; a delete whose answer
 * was lost and whose retry then finds the key gone counts as done by us.
 */
bool
rk_keys_delete(const RkConfig *config, const char *id, RkStats *stats)
{
	RkRequest  *request = new_request("DELETE", key_path(id), NULL);
	char	   *problem = NULL;

	perform(config, &request, 1, stats);
	if (is_not_found(request))
		return request->maybe_applied;
	if (!rk_error_is_success(request))
		rk_error_raise(config, request, id);
	if (!rk_contract_parse_empty(request->response, request->response_len, &problem))
		rk_error_invalid_response(config, request, problem);
	return true;
}

/*
 * An RFC 3339 timestamp as a timestamptz datum.
 */
static Datum
time_datum(const char *text)
{
	return DirectFunctionCall3(timestamptz_in, CStringGetDatum(text),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/*
 * A timestamptz as RFC 3339 text in UTC, as the API expects.
 */
char *
rk_keys_rfc3339(TimestampTz ts, const char *what)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts) || timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s must be a finite timestamp", what)));
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
					tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

/*
 * Fills values/nulls, indexed like routerkeys.created_key's columns, with a
 * key.  wanted, when not NULL, says which columns are needed; the others are
 * left NULL without being computed.
 */
void
rk_keys_values(const RkKey *key, const bool *wanted, Datum *values, bool *nulls)
{
	const char *texts[RK_KEY_NCOLUMNS + 1] = {
		key->id, key->name, NULL, key->status, key->token_prefix, key->permission_mode,
		key->project_id, key->owner_type, NULL, NULL, NULL, NULL,
		key->created_by_id, key->updated_by_id, key->source, NULL, key->token
	};
	const char *times[RK_KEY_NCOLUMNS + 1] = {
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		key->expires_at, key->created_at, key->updated_at, key->last_used_at
	};

	for (int i = 0; i <= RK_KEY_NCOLUMNS; i++)
	{
		nulls[i] = true;
		values[i] = (Datum) 0;
		if (wanted != NULL && !wanted[i])
			continue;
		if (texts[i] != NULL)
			values[i] = CStringGetTextDatum(texts[i]);
		else if (times[i] != NULL)
			values[i] = time_datum(times[i]);
		else if (i == RK_COL_ACTIVE && key->active >= 0)
			values[i] = BoolGetDatum(key->active > 0);
		else if (i == RK_COL_ATTRS && key->attrs != NULL)
			values[i] = JsonbPGetDatum(key->attrs);
		else
			continue;
		nulls[i] = false;
	}
}

/*
 * Looks a label up in a list of labels and returns the API enum of the same
 * position; accepts the enum itself too.  NULL when it is neither.
 */
static const char *
enum_for_label(const char *value, const char *const *labels, const char *const *enums, int n)
{
	for (int i = 0; i < n; i++)
	{
		if (pg_strcasecmp(value, labels[i]) == 0 || strcmp(value, enums[i]) == 0)
			return enums[i];
	}
	return NULL;
}

/*
 * The API spelling of a status given as a column value.  An unrecognized
 * status is an error, or NULL with missing_ok.
 */
const char *
rk_keys_status_enum(const char *status, bool missing_ok)
{
	static const char *const labels[] = {"active", "disabled", "revoked"};
	static const char *const enums[] = {
		"API_KEY_STATUS_ACTIVE", "API_KEY_STATUS_DISABLED", "API_KEY_STATUS_REVOKED"
	};
	const char *value = enum_for_label(status, labels, enums, lengthof(labels));

	if (value == NULL && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid status \"%s\"", status),
				 errhint("Use active, disabled or revoked.")));
	return value;
}

/*
 * The API spelling of a permission mode given as a column value.
 */
const char *
rk_keys_permission_mode_enum(const char *mode)
{
	static const char *const labels[] = {"all", "read_only", "restricted"};
	static const char *const enums[] = {
		"PERMISSION_MODE_ALL", "PERMISSION_MODE_READ_ONLY", "PERMISSION_MODE_RESTRICTED"
	};
	const char *value = enum_for_label(mode, labels, enums, lengthof(labels));

	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid permission mode \"%s\"", mode),
				 errhint("Use all, read_only or restricted.")));
	return value;
}
