/*-------------------------------------------------------------------------
 *
 * functions.c
 *		The SQL-callable functions: list_keys, get_key, create_key,
 *		update_key and delete_key.
 *
 * They only orchestrate: options.c says which server and key to use,
 * contract.c writes and reads the JSON, http.c moves the bytes, errors.c
 * reports failures.  What is left here is argument checking, paths and
 * query strings, pagination, and turning RkKey records into rows.
 *
 * list_keys fetches page after page into the result tuplestore; each page
 * is parsed in a memory context of its own, reset before the next, so memory
 * stays flat however many keys there are (the tuplestore spills to disk past
 * work_mem).
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include "access/htup_details.h"
#include "datatype/timestamp.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* Columns of routerkeys.key, in order; routerkeys.created_key adds token. */
enum
{
	COL_ID,
	COL_NAME,
	COL_ACTIVE,
	COL_STATUS,
	COL_TOKEN_PREFIX,
	COL_PERMISSION_MODE,
	COL_PROJECT_ID,
	COL_OWNER_TYPE,
	COL_EXPIRES_AT,
	COL_CREATED_AT,
	COL_UPDATED_AT,
	COL_LAST_USED_AT,
	COL_CREATED_BY_ID,
	COL_UPDATED_BY_ID,
	COL_SOURCE,
	COL_ATTRS,
	KEY_NCOLUMNS,
	COL_TOKEN = KEY_NCOLUMNS	/* routerkeys.created_key only */
};

#define KEYS_PATH "/v2/api-keys"
#define MAX_KEY_ID_LEN 128

PG_FUNCTION_INFO_V1(routerkeys_list_keys);
PG_FUNCTION_INFO_V1(routerkeys_get_key);
PG_FUNCTION_INFO_V1(routerkeys_create_key);
PG_FUNCTION_INFO_V1(routerkeys_update_key);
PG_FUNCTION_INFO_V1(routerkeys_delete_key);

/*
 * A text argument as a C string, or NULL.
 */
static char *
text_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * The configuration of this call, from its server argument (or the default).
 */
static RkConfig *
config_for(FunctionCallInfo fcinfo, int server_argno)
{
	const char *servername = PG_ARGISNULL(server_argno) ? NULL :
		NameStr(*PG_GETARG_NAME(server_argno));

	return rk_options_load(rk_options_resolve_server(servername));
}

/*
 * Checks a key id before it goes into a URL path: only RFC 3986 unreserved
 * characters, and not "." or "..", so that no id can reach another endpoint.
 */
static void
check_key_id(const char *id)
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

	check_key_id(id);
	initStringInfo(&path);
	appendStringInfoString(&path, KEYS_PATH "/");
	rk_http_append_escaped(&path, id);
	return path.data;
}

/*
 * Performs one request.
 */
static RkRequest *
perform(const RkConfig *config, const char *method, char *path, char *body)
{
	RkRequest  *request = palloc0(sizeof(RkRequest));

	request->method = method;
	request->path = path;
	request->body = body;
	rk_http_execute(config, &request, 1);
	return request;
}

/*
 * Parses a single-key answer, raising the protocol error when it is invalid.
 */
static void
parse_key_or_error(const RkConfig *config, const RkRequest *request, RkKey *key,
				   bool with_token)
{
	char	   *problem = NULL;

	if (!rk_contract_parse_key(request->response, request->response_len, key,
							   with_token, &problem))
		rk_error_invalid_response(config, request, problem);
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
static char *
rfc3339(TimestampTz ts, const char *what)
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
 * Fills the values of a routerkeys.key row (and the token column, when the
 * row type has it).
 */
static void
key_values(const RkKey *key, Datum *values, bool *nulls, int natts)
{
	const char *texts[KEY_NCOLUMNS] = {0};
	const char *times[KEY_NCOLUMNS] = {0};

	texts[COL_ID] = key->id;
	texts[COL_NAME] = key->name;
	texts[COL_STATUS] = key->status;
	texts[COL_TOKEN_PREFIX] = key->token_prefix;
	texts[COL_PERMISSION_MODE] = key->permission_mode;
	texts[COL_PROJECT_ID] = key->project_id;
	texts[COL_OWNER_TYPE] = key->owner_type;
	texts[COL_CREATED_BY_ID] = key->created_by_id;
	texts[COL_UPDATED_BY_ID] = key->updated_by_id;
	texts[COL_SOURCE] = key->source;
	times[COL_EXPIRES_AT] = key->expires_at;
	times[COL_CREATED_AT] = key->created_at;
	times[COL_UPDATED_AT] = key->updated_at;
	times[COL_LAST_USED_AT] = key->last_used_at;

	for (int i = 0; i < KEY_NCOLUMNS; i++)
	{
		nulls[i] = true;
		if (texts[i] != NULL)
			values[i] = CStringGetTextDatum(texts[i]);
		else if (times[i] != NULL)
			values[i] = time_datum(times[i]);
		else
			continue;
		nulls[i] = false;
	}
	nulls[COL_ACTIVE] = key->active < 0;
	values[COL_ACTIVE] = BoolGetDatum(key->active > 0);
	nulls[COL_ATTRS] = key->attrs == NULL;
	if (key->attrs != NULL)
		values[COL_ATTRS] = DirectFunctionCall1(jsonb_in, CStringGetDatum(key->attrs));
	if (natts > COL_TOKEN)
	{
		nulls[COL_TOKEN] = key->token == NULL;
		if (key->token != NULL)
			values[COL_TOKEN] = CStringGetTextDatum(key->token);
	}
}

/*
 * The result row type of a function returning routerkeys.key or
 * routerkeys.created_key, checked against the columns we fill.
 */
static TupleDesc
result_desc(FunctionCallInfo fcinfo)
{
	TupleDesc	desc;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (desc->natts != KEY_NCOLUMNS && desc->natts != KEY_NCOLUMNS + 1)
		elog(ERROR, "return type has %d columns, expected %d", desc->natts, KEY_NCOLUMNS);
	return BlessTupleDesc(desc);
}

/*
 * A key as a composite datum of the function's result type.
 */
static Datum
key_datum(FunctionCallInfo fcinfo, const RkKey *key)
{
	TupleDesc	desc = result_desc(fcinfo);
	Datum		values[KEY_NCOLUMNS + 1];
	bool		nulls[KEY_NCOLUMNS + 1];

	key_values(key, values, nulls, desc->natts);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * The API spelling of a status filter given as a column value.
 */
static const char *
status_filter(const char *status)
{
	static const char *const labels[] = {"active", "disabled", "revoked"};
	static const char *const enums[] = {
		"API_KEY_STATUS_ACTIVE", "API_KEY_STATUS_DISABLED", "API_KEY_STATUS_REVOKED"
	};

	for (int i = 0; i < lengthof(labels); i++)
	{
		if (pg_strcasecmp(status, labels[i]) == 0 || strcmp(status, enums[i]) == 0)
			return enums[i];
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid status \"%s\"", status),
			 errhint("Use active, disabled or revoked.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * The API spelling of a permission mode given as a column value.
 */
static const char *
permission_mode_value(const char *mode)
{
	static const char *const labels[] = {"all", "read_only", "restricted"};
	static const char *const enums[] = {
		"PERMISSION_MODE_ALL", "PERMISSION_MODE_READ_ONLY", "PERMISSION_MODE_RESTRICTED"
	};

	for (int i = 0; i < lengthof(labels); i++)
	{
		if (pg_strcasecmp(mode, labels[i]) == 0 || strcmp(mode, enums[i]) == 0)
			return enums[i];
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid permission mode \"%s\"", mode),
			 errhint("Use all, read_only or restricted.")));
	return NULL;				/* keep compiler quiet */
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
 * list_keys(status, search, project_id, server) returns setof routerkeys.key
 *
 * Every filter is sent to the API.  Pages are fetched until one says it is
 * the last (has_more false, or fewer keys than asked for).
 */
Datum
routerkeys_list_keys(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *status = text_arg(fcinfo, 0);
	char	   *search = text_arg(fcinfo, 1);
	char	   *project_id = text_arg(fcinfo, 2);
	RkConfig   *config = config_for(fcinfo, 3);
	StringInfoData base;
	MemoryContext pagecxt;
	char	   *cursor = NULL;

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != KEY_NCOLUMNS)
		elog(ERROR, "return type has %d columns, expected %d", rsinfo->setDesc->natts, KEY_NCOLUMNS);

	initStringInfo(&base);
	appendStringInfo(&base, KEYS_PATH "?source=router&limit=%d", config->page_size);
	append_param(&base, "status", status != NULL ? status_filter(status) : NULL);
	append_param(&base, "search", search);
	append_param(&base, "project_id", project_id);

	pagecxt = AllocSetContextCreate(CurrentMemoryContext, "routerkeys page",
									ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(pagecxt);
		StringInfoData path;
		RkRequest  *request;
		RkPage		page;
		char	   *problem = NULL;
		bool		more;

		initStringInfo(&path);
		appendStringInfoString(&path, base.data);
		append_param(&path, "starting_after", cursor);
		request = perform(config, "GET", path.data, NULL);
		if (!rk_error_is_success(request))
			rk_error_raise(config, request, NULL);
		if (!rk_contract_parse_page(request->response, request->response_len, &page, &problem))
			rk_error_invalid_response(config, request, problem);

		for (int i = 0; i < page.nkeys; i++)
		{
			Datum		values[KEY_NCOLUMNS];
			bool		nulls[KEY_NCOLUMNS];

			key_values(&page.keys[i], values, nulls, KEY_NCOLUMNS);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}

		more = page.nkeys > 0 &&
			(page.has_more_known ? page.has_more : page.nkeys >= config->page_size);
		if (more && cursor != NULL && strcmp(cursor, page.keys[page.nkeys - 1].id) == 0)
			rk_error_invalid_response(config, request,
									  "The listing did not advance past the key given in starting_after.");
		MemoryContextSwitchTo(oldcxt);
		if (more)
		{
			char	   *next = pstrdup(page.keys[page.nkeys - 1].id);

			if (cursor != NULL)
				pfree(cursor);
			cursor = next;
		}
		MemoryContextReset(pagecxt);
		CHECK_FOR_INTERRUPTS();
		if (!more)
			break;
	}
	MemoryContextDelete(pagecxt);
	return (Datum) 0;
}

/*
 * get_key(id, server) returns setof routerkeys.key: one row, or none when
 * the key does not exist.
 */
Datum
routerkeys_get_key(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *id = text_arg(fcinfo, 0);
	RkConfig   *config;
	RkRequest  *request;
	RkKey		key;
	Datum		values[KEY_NCOLUMNS];
	bool		nulls[KEY_NCOLUMNS];

	InitMaterializedSRF(fcinfo, 0);
	if (id == NULL)
		return (Datum) 0;
	config = config_for(fcinfo, 1);
	request = perform(config, "GET", key_path(id), NULL);
	if (request->transport == RK_TRANSPORT_OK && request->status == 404)
		return (Datum) 0;
	if (!rk_error_is_success(request))
		rk_error_raise(config, request, id);
	parse_key_or_error(config, request, &key, false);
	key_values(&key, values, nulls, KEY_NCOLUMNS);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/*
 * create_key(name, expires_at, project_id, permission_mode, server)
 * returns routerkeys.created_key: the new key and its one-time token.
 *
 * A create is never retried once it may have reached the server.
 */
Datum
routerkeys_create_key(PG_FUNCTION_ARGS)
{
	RkCreateArgs args = {0};
	RkConfig   *config;
	RkRequest  *request;
	RkKey		key;

	args.name = text_arg(fcinfo, 0);
	if (args.name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a key needs a name")));
	if (!PG_ARGISNULL(1))
		args.expires_at = rfc3339(PG_GETARG_TIMESTAMPTZ(1), "expires_at");
	args.project_id = text_arg(fcinfo, 2);
	if (!PG_ARGISNULL(3))
		args.permission_mode = permission_mode_value(text_arg(fcinfo, 3));
	config = config_for(fcinfo, 4);

	request = perform(config, "POST", KEYS_PATH, rk_contract_create_body(&args));
	if (!rk_error_is_success(request))
		rk_error_raise(config, request, NULL);
	parse_key_or_error(config, request, &key, true);
	PG_RETURN_DATUM(key_datum(fcinfo, &key));
}

/*
 * update_key(id, name, active, expires_at, clear_expires_at, server)
 * returns routerkeys.key after the change.
 *
 * Only the arguments given are sent (a sparse PATCH); with none, the key is
 * read.  A key that does not exist is an error.
 */
Datum
routerkeys_update_key(PG_FUNCTION_ARGS)
{
	RkUpdateArgs args = {0};
	char	   *id = text_arg(fcinfo, 0);
	RkConfig   *config;
	RkRequest  *request;
	RkKey		key;

	if (id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key id must not be null")));
	args.name = text_arg(fcinfo, 1);
	args.active = PG_ARGISNULL(2) ? -1 : PG_GETARG_BOOL(2) ? 1 : 0;
	if (!PG_ARGISNULL(3))
		args.expires_at = rfc3339(PG_GETARG_TIMESTAMPTZ(3), "expires_at");
	args.clear_expires_at = !PG_ARGISNULL(4) && PG_GETARG_BOOL(4);
	if (args.expires_at != NULL && args.clear_expires_at)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expires_at and clear_expires_at cannot be given together")));
	config = config_for(fcinfo, 5);

	if (args.name == NULL && args.active < 0 && args.expires_at == NULL && !args.clear_expires_at)
		request = perform(config, "GET", key_path(id), NULL);
	else
		request = perform(config, "PATCH", key_path(id), rk_contract_update_body(&args));
	if (!rk_error_is_success(request))
		rk_error_raise(config, request, id);
	parse_key_or_error(config, request, &key, false);
	PG_RETURN_DATUM(key_datum(fcinfo, &key));
}

/*
 * delete_key(id, server) returns boolean: true when the key was deleted,
 * false when it did not exist.  A delete whose answer was lost and that then
 * finds the key gone counts as done by us.
 */
Datum
routerkeys_delete_key(PG_FUNCTION_ARGS)
{
	char	   *id = text_arg(fcinfo, 0);
	RkConfig   *config;
	RkRequest  *request;

	if (id == NULL)
		PG_RETURN_NULL();
	config = config_for(fcinfo, 1);
	request = perform(config, "DELETE", key_path(id), NULL);
	if (request->transport == RK_TRANSPORT_OK && request->status == 404)
		PG_RETURN_BOOL(request->maybe_applied);
	if (!rk_error_is_success(request))
		rk_error_raise(config, request, id);
	PG_RETURN_BOOL(true);
}
