/*-------------------------------------------------------------------------
 *
 * functions.c
 *		The SQL-callable functions: list_keys, get_key, create_key,
 *		update_key and delete_key.
 *
 * They only orchestrate: options.c says which server and key to use,
 * keys.c performs the operation, rows.c turns keys into columns, errors.c
 * raises what failed.  What is left here is argument handling and building
 * result rows.
 *
 * NULL arguments follow one rule: a NULL key id gives the NULL answer
 * (get_key no row, update_key and delete_key NULL), as a STRICT function
 * would (they cannot be STRICT: their server argument defaults to NULL); a
 * create has no NULL answer, so a NULL name is an error (22004).
 *
 * list_keys puts page after page into the result tuplestore; each page is
 * parsed in a memory context of its own, reset before the next, so memory
 * stays flat however many keys there are (the tuplestore spills to disk past
 * work_mem).
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

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
 * The configuration of this call, from its server argument (or the default),
 * for the current role.
 */
static RkConfig *
config_for(FunctionCallInfo fcinfo, int server_argno)
{
	const char *servername = PG_ARGISNULL(server_argno) ? NULL :
		NameStr(*PG_GETARG_NAME(server_argno));

	return rk_options_load(rk_options_resolve_server(servername), GetUserId());
}

/*
 * Errors unless a function returning a set was called where a set is taken,
 * and checks the row type it will fill.
 */
static void
start_set(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != RK_KEY_NCOLUMNS)
		elog(ERROR, "return type has %d columns, expected %d",
			 rsinfo->setDesc->natts, RK_KEY_NCOLUMNS);
}

/*
 * Adds a key to the result set.
 */
static void
put_key(FunctionCallInfo fcinfo, const RkKey *key)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[RK_KEY_NCOLUMNS + 1];
	bool		nulls[RK_KEY_NCOLUMNS + 1];

	rk_rows_values(key, NULL, values, nulls);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * A key as a composite datum of the function's result type: routerkeys.key,
 * or routerkeys.created_key, which has the token column too.
 */
static Datum
key_datum(FunctionCallInfo fcinfo, const RkKey *key)
{
	TupleDesc	desc;
	Datum		values[RK_KEY_NCOLUMNS + 1];
	bool		nulls[RK_KEY_NCOLUMNS + 1];

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (desc->natts != RK_KEY_NCOLUMNS && desc->natts != RK_KEY_NCOLUMNS + 1)
		elog(ERROR, "return type has %d columns, expected %d", desc->natts, RK_KEY_NCOLUMNS);
	rk_rows_values(key, NULL, values, nulls);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
}

/*
 * list_keys(status, search, project_id, server) returns setof routerkeys.key
 *
 * Every filter is sent to the API.
 */
Datum
routerkeys_list_keys(PG_FUNCTION_ARGS)
{
	RkListFilter filter = {0};
	RkConfig   *config = config_for(fcinfo, 3);
	RkBudget	budget = rk_keys_budget(config);
	RkLister   *lister;
	MemoryContext pagecxt;
	MemoryContext oldcxt;
	RkOutcome	outcome;
	RkPage		page;

	filter.status = text_arg(fcinfo, 0);
	if (filter.status != NULL)
		(void) rk_keys_status_value(config, filter.status, false);
	filter.search = text_arg(fcinfo, 1);
	filter.project_id = text_arg(fcinfo, 2);
	start_set(fcinfo);

	lister = rk_keys_list_start(config, &filter, &budget, NULL);
	pagecxt = AllocSetContextCreate(CurrentMemoryContext, "routerkeys page",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(pagecxt);
	while (rk_keys_list_next(lister, oldcxt, &page, &outcome))
	{
		for (int i = 0; i < page.nkeys; i++)
		{
			if (rk_xact_overlay(config, &page.keys[i]))
				put_key(fcinfo, &page.keys[i]);
		}
		MemoryContextReset(pagecxt);
		CHECK_FOR_INTERRUPTS();
	}
	rk_followup_check(config, &outcome);
	MemoryContextSwitchTo(oldcxt);
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
	char	   *id = text_arg(fcinfo, 0);
	RkConfig   *config;
	RkBudget	budget;
	RkOutcome	outcome;
	RkKey		key;

	start_set(fcinfo);
	if (id == NULL)
		return (Datum) 0;
	config = config_for(fcinfo, 1);
	budget = rk_keys_budget(config);
	rk_keys_get_many(config, &id, 1, &key, &outcome, &budget, NULL);
	if (outcome.kind == RK_OUTCOME_NOT_FOUND)
		return (Datum) 0;
	rk_followup_check(config, &outcome);
	if (rk_xact_overlay(config, &key))
		put_key(fcinfo, &key);
	return (Datum) 0;
}

/*
 * create_key(name, expires_at, project_id, permission_mode, server)
 * returns routerkeys.created_key: the new key and its one-time token.
 */
Datum
routerkeys_create_key(PG_FUNCTION_ARGS)
{
	RkCreateArgs args = {0};
	RkConfig   *config;
	RkBudget	budget;
	RkOutcome	outcome;
	RkKey		key;

	args.name = text_arg(fcinfo, 0);
	if (args.name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a key needs a name")));
	if (!PG_ARGISNULL(1))
		args.expires_at = rk_rows_rfc3339(PG_GETARG_TIMESTAMPTZ(1));
	args.project_id = text_arg(fcinfo, 2);
	args.permission_mode = text_arg(fcinfo, 3);
	config = config_for(fcinfo, 4);
	if (args.permission_mode != NULL)
		rk_keys_check_permission_mode(config, args.permission_mode);

	budget = rk_keys_budget(config);
	rk_keys_create_many(config, &args, 1, &key, true, &outcome, &budget, NULL);
	rk_followup_check(config, &outcome);
	rk_xact_created(config, key.id);
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
	RkBudget	budget;
	RkOutcome	outcome;
	RkKey		key;

	if (id == NULL)
		PG_RETURN_NULL();
	args.name = text_arg(fcinfo, 1);
	args.active = PG_ARGISNULL(2) ? -1 : PG_GETARG_BOOL(2) ? 1 : 0;
	if (!PG_ARGISNULL(3))
		args.expires_at = rk_rows_rfc3339(PG_GETARG_TIMESTAMPTZ(3));
	args.clear_expires_at = !PG_ARGISNULL(4) && PG_GETARG_BOOL(4);
	if (args.expires_at != NULL && args.clear_expires_at)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expires_at and clear_expires_at cannot be given together")));
	config = config_for(fcinfo, 5);
	budget = rk_keys_budget(config);

	rk_xact_update(config, id, &args, NULL, &key, &outcome, &budget, NULL);
	rk_followup_check(config, &outcome);
	PG_RETURN_DATUM(key_datum(fcinfo, &key));
}

/*
 * delete_key(id, server) returns boolean: true when the key was deleted,
 * false when it did not exist.
 */
Datum
routerkeys_delete_key(PG_FUNCTION_ARGS)
{
	char	   *id = text_arg(fcinfo, 0);
	RkConfig   *config;
	RkBudget	budget;
	RkOutcome	outcome;

	if (id == NULL)
		PG_RETURN_NULL();
	config = config_for(fcinfo, 1);
	budget = rk_keys_budget(config);
	rk_xact_delete(config, id, NULL, &outcome, &budget, NULL);
	if (outcome.kind == RK_OUTCOME_NOT_FOUND)
		PG_RETURN_BOOL(false);
	rk_followup_check(config, &outcome);
	PG_RETURN_BOOL(true);
}
