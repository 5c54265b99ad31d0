/*-------------------------------------------------------------------------
 *
 * outbox.c
 *		The outbox of durable provisioning: the SQL functions that write
 *		intents in the caller's transaction (enqueue_create, enqueue_update,
 *		enqueue_delete, the provision() trigger, retry, cancel), and the
 *		reads and writes of routerkeys.intent that the worker makes.
 *
 * Nothing here talks to a server.  An intent is a row of routerkeys.intent,
 * which no role but the extension's owner may touch: the SQL functions
 * check what the calling role may do (USAGE on the server, its user
 * mapping, EXECUTE on a delivery function), then write the row as the
 * table's owner, with a safe search_path, recording the calling role as
 * enqueued_by.  The worker acts as that role and with nothing more.
 *
 * The intents of one key (one server and key name, or key id) are applied
 * in the order they were enqueued: an intent is due only when no earlier
 * intent of its key is still open.  An intent is "sending" from the
 * transaction that claims it until the one that records what came of it;
 * one found sending when a worker starts was cut short, and a create cut
 * short is uncertain: a key of its name may exist, whose token nobody
 * holds, so its name is looked up and such keys deleted before it is sent
 * again.
 *
 * Memory: what the worker reads is palloc'd in the caller's context.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(routerkeys_enqueue_create);
PG_FUNCTION_INFO_V1(routerkeys_enqueue_update);
PG_FUNCTION_INFO_V1(routerkeys_enqueue_delete);
PG_FUNCTION_INFO_V1(routerkeys_provision);
PG_FUNCTION_INFO_V1(routerkeys_retry);
PG_FUNCTION_INFO_V1(routerkeys_cancel);

#define RK_MAX_NAME_LEN 128		/* the API's limit on a key's name */

/* The spelling of the operations in routerkeys.intent, indexed by RkIntentOp. */
static const char *const operation_names[] = {"create", "update", "delete", "check"};

/* A new intent, as the SQL functions fill it; NULL fields are NULL columns. */
typedef struct RkNewIntent
{
	RkIntentOp	op;
	const char *server;
	const char *key_name;
	const char *key_id;
	StringInfoData arguments;	/* a JSON object */
	Oid			target;
	const char *target_key;		/* JSON */
	const char *key_column;
	const char *deliver_to;
} RkNewIntent;

/* The user and GUC state saved while acting as the outbox's owner. */
typedef struct RkAsOwner
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} RkAsOwner;

/*
 * The owner of routerkeys.intent.
 */
static Oid
outbox_owner(void)
{
	Oid			nsp = get_namespace_oid("routerkeys", false);
	Oid			relid = get_relname_relid("intent", nsp);
	HeapTuple	tuple;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the routerkeys outbox does not exist"),
				 errhint("Update the extension: ALTER EXTENSION routerkeys UPDATE.")));
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * Starts acting as the outbox's owner, with search_path pg_catalog and
 * enable_seqscan off, and connects SPI.  An error on the way is undone by the transaction's abort.
 */
static void
begin_as_owner(RkAsOwner *saved)
{
	Oid			owner = outbox_owner();

	GetUserIdAndSecContext(&saved->save_userid, &saved->save_sec_context);
	SetUserIdAndSecContext(owner, saved->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	saved->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	/* the outbox's statements are index look-ups, however small it looked to ANALYZE */
	(void) set_config_option("enable_seqscan", "off", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/*
 * Ends what begin_as_owner started.
 */
static void
end_as_owner(RkAsOwner *saved)
{
	SPI_finish();
	AtEOXact_GUC(false, saved->save_nestlevel);
	SetUserIdAndSecContext(saved->save_userid, saved->save_sec_context);
}

/*
 * A text datum, or a NULL one.
 */
static Datum
text_or_null(const char *s, char *nulls, int i)
{
	nulls[i] = s != NULL ? ' ' : 'n';
	return s != NULL ? CStringGetTextDatum(s) : (Datum) 0;
}

/* A statement over the outbox, prepared once (SPI_keepplan). */
typedef struct RkPlan
{
	char	   *sql;			/* in TopMemoryContext */
	SPIPlanPtr	plan;
} RkPlan;

#define RK_MAX_PLANS 64			/* the outbox's statements, write-backs and deliveries */

static RkPlan plans[RK_MAX_PLANS];
static int	nplans = 0;

/*
 * Runs one statement over the outbox (or, for the worker, a write-back or a
 * delivery), with parameters.  Its plan is kept for the life of the process
 * (the plan cache revalidates it after DDL): the same few statements run for
 * every intent.
 * Beyond RK_MAX_PLANS distinct statements they are planned each time.
 */
static void
run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expected)
{
	SPIPlanPtr	plan = NULL;
	int			rc;

	for (int i = 0; i < nplans && plan == NULL; i++)
	{
		if (strcmp(plans[i].sql, sql) == 0)
			plan = plans[i].plan;
	}
	if (plan == NULL)
	{
		plan = SPI_prepare(sql, nargs, types);
		if (plan == NULL)
			elog(ERROR, "could not prepare a routerkeys outbox statement: %s",
				 SPI_result_code_string(SPI_result));
		if (nplans < RK_MAX_PLANS && SPI_keepplan(plan) == 0)
		{
			plans[nplans].sql = MemoryContextStrdup(TopMemoryContext, sql);
			plans[nplans++].plan = plan;
		}
	}
	rc = SPI_execute_plan(plan, values, nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "routerkeys outbox statement failed: %s", SPI_result_code_string(rc));
}

/*
 * Writes a new intent and returns its id.  The caller has checked what the
 * current role may do; the commit of the transaction wakes the worker.
 */
static int64
insert_intent(RkNewIntent *intent)
{
	static const char *const sql =
		"INSERT INTO routerkeys.intent (enqueued_by, server, operation, key_name, key_id,"
		" arguments, target, target_key, key_column, deliver_to)"
		" VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8::jsonb, $9, $10) RETURNING id";
	Oid			types[10] = {REGROLEOID, NAMEOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	REGCLASSOID, TEXTOID, NAMEOID, TEXTOID};
	Datum		values[10];
	char		nulls[10];
	Oid			role = GetUserId();
	RkAsOwner	saved;
	bool		isnull;
	int64		id;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = ObjectIdGetDatum(role);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(intent->server));
	values[2] = CStringGetTextDatum(operation_names[intent->op]);
	values[3] = text_or_null(intent->key_name, nulls, 3);
	values[4] = text_or_null(intent->key_id, nulls, 4);
	appendStringInfoChar(&intent->arguments, '}');
	values[5] = CStringGetTextDatum(intent->arguments.data);
	values[6] = ObjectIdGetDatum(intent->target);
	nulls[6] = OidIsValid(intent->target) ? ' ' : 'n';
	values[7] = text_or_null(intent->target_key, nulls, 7);
	values[8] = intent->key_column != NULL ?
		DirectFunctionCall1(namein, CStringGetDatum(intent->key_column)) : (Datum) 0;
	nulls[8] = intent->key_column != NULL ? ' ' : 'n';
	values[9] = text_or_null(intent->deliver_to, nulls, 9);

	begin_as_owner(&saved);
	run(sql, 10, types, values, nulls, SPI_OK_INSERT_RETURNING);
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	end_as_owner(&saved);

	rk_xact_wake_worker();
	return id;
}

/*
 * Starts a new intent of the given operation on a server (NULL: the
 * default), after checking that the current role can use it: USAGE on the
 * server and a user mapping with a provisioning key.
 */
static void
new_intent(RkNewIntent *intent, RkIntentOp op, const char *servername, RkConfig **config)
{
	memset(intent, 0, sizeof(RkNewIntent));
	intent->op = op;
	*config = rk_options_load(rk_options_resolve_server(servername), GetUserId());
	intent->server = (*config)->servername;
	initStringInfo(&intent->arguments);
	appendStringInfoChar(&intent->arguments, '{');
}

/*
 * Adds a member to the intent's arguments: a string, or JSON as is.
 */
static void
add_argument(RkNewIntent *intent, const char *name, const char *value, bool quote)
{
	if (value == NULL)
		return;
	if (intent->arguments.len > 1)
		appendStringInfoChar(&intent->arguments, ',');
	escape_json(&intent->arguments, name);
	appendStringInfoChar(&intent->arguments, ':');
	if (quote)
		escape_json(&intent->arguments, value);
	else
		appendStringInfoString(&intent->arguments, value);
}

/*
 * Errors unless a name can be a key's name.
 */
static void
check_key_name(const char *name)
{
	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a key needs a name")));
	if (name[0] == '\0' || pg_mbstrlen(name) > RK_MAX_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid key name \"%s\"", name),
				 errdetail("A key's name is 1 to %d characters.", RK_MAX_NAME_LEN)));
}

/*
 * Errors unless the current role may call a function.
 */
static void
check_execute(Oid fn)
{
#if PG_VERSION_NUM >= 160000
	if (object_aclcheck(ProcedureRelationId, fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
#else
	if (pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
#endif
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_FUNCTION, get_func_name(fn));
}

/*
 * The delivery function deliver_to as stored in an intent, after checking
 * that it takes (jsonb, text, text) and that the current role may call it.
 */
static char *
delivery_name(Oid fn)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	bool		fits;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for function %u", fn);
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	fits = proc->pronargs == 3 && proc->prokind == PROKIND_FUNCTION &&
		proc->proargtypes.values[0] == JSONBOID && proc->proargtypes.values[1] == TEXTOID &&
		proc->proargtypes.values[2] == TEXTOID;
	ReleaseSysCache(tuple);
	if (!fits)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("function %s cannot receive tokens", format_procedure(fn)),
				 errdetail("A token delivery function takes (context jsonb, key_id text, token text).")));
	check_execute(fn);
	return format_procedure_qualified(fn);
}

/*
 * A text argument as a C string, or NULL.
 */
static char *
text_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * A server name argument, or NULL.
 */
static const char *
server_arg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : NameStr(*PG_GETARG_NAME(argno));
}

/*
 * Adds a create's optional fields to its arguments.
 */
static void
add_create_arguments(RkNewIntent *intent, const RkConfig *config, const char *expires_at,
					 const char *project_id, const char *permission_mode)
{
	if (permission_mode != NULL)
		rk_keys_check_permission_mode(config, permission_mode);
	add_argument(intent, "expires_at", expires_at, true);
	add_argument(intent, "project_id", project_id, true);
	add_argument(intent, "permission_mode", permission_mode, true);
}

/*
 * enqueue_create(name, expires_at, project_id, permission_mode, deliver_to,
 * context, server) returns bigint: the intent's id.
 */
Datum
routerkeys_enqueue_create(PG_FUNCTION_ARGS)
{
	RkNewIntent intent;
	RkConfig   *config;
	char	   *name = text_arg(fcinfo, 0);

	check_key_name(name);
	new_intent(&intent, RK_INTENT_CREATE, server_arg(fcinfo, 6), &config);
	intent.key_name = name;
	add_create_arguments(&intent, config,
						 PG_ARGISNULL(1) ? NULL : rk_rows_rfc3339(PG_GETARG_TIMESTAMPTZ(1)),
						 text_arg(fcinfo, 2), text_arg(fcinfo, 3));
	if (!PG_ARGISNULL(4))
		intent.deliver_to = delivery_name(PG_GETARG_OID(4));
	if (!PG_ARGISNULL(5))
		intent.target_key = text_to_cstring(DatumGetTextPP(DirectFunctionCall1(jsonb_out,
																			  PG_GETARG_DATUM(5))));
	PG_RETURN_INT64(insert_intent(&intent));
}

/*
 * Checks that exactly one of a key's id and name is given, and the id.
 */
static void
check_key_reference(const char *key_id, const char *key_name)
{
	if ((key_id == NULL) == (key_name == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("give either key_id or key_name")));
	if (key_id != NULL)
		rk_keys_check_id(key_id);
	else
		check_key_name(key_name);
}

/*
 * enqueue_update(key_id, key_name, active, new_name, expires_at, server)
 * returns bigint: the intent's id.
 */
Datum
routerkeys_enqueue_update(PG_FUNCTION_ARGS)
{
	RkNewIntent intent;
	RkConfig   *config;
	char	   *new_name = text_arg(fcinfo, 3);

	check_key_reference(text_arg(fcinfo, 0), text_arg(fcinfo, 1));
	if (PG_ARGISNULL(2) && new_name == NULL && PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an update needs active, new_name or expires_at")));
	if (new_name != NULL)
		check_key_name(new_name);
	new_intent(&intent, RK_INTENT_UPDATE, server_arg(fcinfo, 5), &config);
	intent.key_id = text_arg(fcinfo, 0);
	intent.key_name = text_arg(fcinfo, 1);
	if (!PG_ARGISNULL(2))
		add_argument(&intent, "active", PG_GETARG_BOOL(2) ? "true" : "false", false);
	add_argument(&intent, "name", new_name, true);
	if (!PG_ARGISNULL(4))
		add_argument(&intent, "expires_at", rk_rows_rfc3339(PG_GETARG_TIMESTAMPTZ(4)), true);
	PG_RETURN_INT64(insert_intent(&intent));
}

/*
 * enqueue_delete(key_id, key_name, server) returns bigint: the intent's id.
 */
Datum
routerkeys_enqueue_delete(PG_FUNCTION_ARGS)
{
	RkNewIntent intent;
	RkConfig   *config;

	check_key_reference(text_arg(fcinfo, 0), text_arg(fcinfo, 1));
	new_intent(&intent, RK_INTENT_DELETE, server_arg(fcinfo, 2), &config);
	intent.key_id = text_arg(fcinfo, 0);
	intent.key_name = text_arg(fcinfo, 1);
	PG_RETURN_INT64(insert_intent(&intent));
}

/* The trigger arguments of routerkeys.provision(). */
typedef struct RkProvision
{
	const char *name;			/* the template of the key's name */
	const char *key_column;
	const char *suspend_column;
	bool		column_means_active;	/* given as active=… rather than suspended=… */
	const char *server;
	const char *deliver_to;
	const char *permission_mode;
	const char *project_id;
} RkProvision;

/*
 * Reads the trigger's arguments, each name=value.
 */
static void
provision_arguments(Trigger *trigger, RkProvision *p)
{
	memset(p, 0, sizeof(RkProvision));
	for (int i = 0; i < trigger->tgnargs; i++)
	{
		const char *arg = trigger->tgargs[i];
		const char *eq = strchr(arg, '=');
		char	   *name = eq != NULL ? pnstrdup(arg, eq - arg) : NULL;
		const char *value = eq != NULL ? eq + 1 : NULL;

		if (name == NULL)
			;
		else if (strcmp(name, "name") == 0)
			p->name = value;
		else if (strcmp(name, "key_column") == 0)
			p->key_column = value;
		else if (strcmp(name, "suspended") == 0 || strcmp(name, "active") == 0)
		{
			p->suspend_column = value;
			p->column_means_active = strcmp(name, "active") == 0;
		}
		else if (strcmp(name, "server") == 0)
			p->server = value;
		else if (strcmp(name, "deliver_to") == 0)
			p->deliver_to = value;
		else if (strcmp(name, "permission_mode") == 0)
			p->permission_mode = value;
		else if (strcmp(name, "project_id") == 0)
			p->project_id = value;
		else
			name = NULL;
		if (name == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid argument \"%s\" of trigger \"%s\"", arg, trigger->tgname),
					 errhint("Arguments are name=<template>, key_column=…, suspended=… or active=…, server=…, deliver_to=…, permission_mode=…, project_id=….")));
	}
	if (p->name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trigger \"%s\" needs a name=<template> argument", trigger->tgname),
				 errhint("For example name=tenant-{id}: {column} stands for the row's value of that column.")));
}

/*
 * The attribute number of a column the trigger names, or an error.
 */
static int
named_column(Relation rel, const char *column, const char *trigger)
{
	int			attnum = SPI_fnumber(RelationGetDescr(rel), column);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, RelationGetRelationName(rel)),
				 errcontext("trigger \"%s\"", trigger)));
	return attnum;
}

/*
 * The key's name for a row: the template with every {column} replaced by
 * the row's value of that column.
 */
static char *
expand_name(const char *template, Relation rel, HeapTuple row, const char *trigger)
{
	StringInfoData buf;
	const char *p = template;

	initStringInfo(&buf);
	while (*p)
	{
		const char *close;
		char	   *column;
		char	   *value;

		if (*p != '{' || (close = strchr(p, '}')) == NULL)
		{
			appendStringInfoChar(&buf, *p++);
			continue;
		}
		column = pnstrdup(p + 1, close - p - 1);
		value = SPI_getvalue(row, RelationGetDescr(rel), named_column(rel, column, trigger));
		if (value == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("column \"%s\" of the key's name is null", column),
					 errcontext("trigger \"%s\"", trigger)));
		appendStringInfoString(&buf, value);
		p = close + 1;
	}
	check_key_name(buf.data);
	return buf.data;
}

/*
 * The row's primary key as a JSON object of column name to text value, or
 * an error when the table has none.
 */
static char *
row_key(Relation rel, HeapTuple row, const char *trigger)
{
#if PG_VERSION_NUM >= 180000
	Oid			index = RelationGetPrimaryKeyIndex(rel, false);
#else
	Oid			index = RelationGetPrimaryKeyIndex(rel);
#endif
	HeapTuple	tuple;
	Form_pg_index form;
	StringInfoData buf;

	if (!OidIsValid(index))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s\" has no primary key", RelationGetRelationName(rel)),
				 errdetail("Trigger \"%s\" writes the key's id back to the row, or hands the row's key to a token delivery function, by the primary key.",
						   trigger)));
	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for index %u", index);
	form = (Form_pg_index) GETSTRUCT(tuple);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < form->indnkeyatts; i++)
	{
		int			attnum = form->indkey.values[i];

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		escape_json(&buf, SPI_fname(RelationGetDescr(rel), attnum));
		appendStringInfoChar(&buf, ':');
		escape_json(&buf, SPI_getvalue(row, RelationGetDescr(rel), attnum));
	}
	appendStringInfoChar(&buf, '}');
	ReleaseSysCache(tuple);
	return buf.data;
}

/*
 * Whether a row is active by the trigger's suspend column: a NULL counts
 * as active.
 */
static bool
row_active(const RkProvision *p, Relation rel, HeapTuple row, const char *trigger)
{
	bool		isnull;
	Datum		value;
	int			attnum;

	if (p->suspend_column == NULL)
		return true;
	attnum = named_column(rel, p->suspend_column, trigger);
	if (TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid != BOOLOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" is not boolean",
						p->suspend_column, RelationGetRelationName(rel)),
				 errcontext("trigger \"%s\"", trigger)));
	value = heap_getattr(row, attnum, RelationGetDescr(rel), &isnull);
	if (isnull)
		return true;
	return DatumGetBool(value) == p->column_means_active;
}

/*
 * The key id the row holds in the key column, or NULL.
 */
static char *
row_key_id(const RkProvision *p, Relation rel, HeapTuple row, const char *trigger)
{
	if (p->key_column == NULL)
		return NULL;
	return SPI_getvalue(row, RelationGetDescr(rel), named_column(rel, p->key_column, trigger));
}

/*
 * Enqueues an enable or a disable of a row's key.
 */
static void
enqueue_activity(const RkProvision *p, const char *name, const char *key_id, bool active)
{
	RkNewIntent intent;
	RkConfig   *config;

	new_intent(&intent, RK_INTENT_UPDATE, p->server, &config);
	intent.key_name = name;
	intent.key_id = key_id;
	add_argument(&intent, "active", active ? "true" : "false", false);
	(void) insert_intent(&intent);
}

/*
 * Enqueues the create of a new row's key (and its disable, for a row that
 * starts suspended).
 */
static void
provision_insert(const RkProvision *p, Relation rel, HeapTuple row, const char *trigger)
{
	RkNewIntent intent;
	RkConfig   *config;

	new_intent(&intent, RK_INTENT_CREATE, p->server, &config);
	intent.key_name = expand_name(p->name, rel, row, trigger);
	add_create_arguments(&intent, config, NULL, p->project_id, p->permission_mode);
	if (p->key_column != NULL || p->deliver_to != NULL)
		intent.target_key = row_key(rel, row, trigger);
	if (p->key_column != NULL)
	{
		(void) named_column(rel, p->key_column, trigger);
		intent.target = RelationGetRelid(rel);
		intent.key_column = p->key_column;
	}
	if (p->deliver_to != NULL)
		intent.deliver_to = delivery_name(DatumGetObjectId(
														   DirectFunctionCall1(regprocedurein, CStringGetDatum(p->deliver_to))));
	(void) insert_intent(&intent);
	if (!row_active(p, rel, row, trigger))
		enqueue_activity(p, intent.key_name, NULL, false);
}

/*
 * routerkeys.provision(): an AFTER … FOR EACH ROW trigger for tenant
 * tables.  INSERT enqueues a create, a change of the suspend column a
 * disable or an enable, DELETE a delete; nothing is sent.
 */
Datum
routerkeys_provision(PG_FUNCTION_ARGS)
{
	TriggerData *data = (TriggerData *) fcinfo->context;
	Relation	rel;
	const char *tgname;
	RkProvision p;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(data->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(data->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("routerkeys.provision() must be an AFTER … FOR EACH ROW trigger")));
	rel = data->tg_relation;
	tgname = data->tg_trigger->tgname;
	provision_arguments(data->tg_trigger, &p);

	if (TRIGGER_FIRED_BY_INSERT(data->tg_event))
		provision_insert(&p, rel, data->tg_trigtuple, tgname);
	else if (TRIGGER_FIRED_BY_UPDATE(data->tg_event))
	{
		bool		was = row_active(&p, rel, data->tg_trigtuple, tgname);
		bool		is = row_active(&p, rel, data->tg_newtuple, tgname);

		if (was != is)
			enqueue_activity(&p, expand_name(p.name, rel, data->tg_trigtuple, tgname),
							 row_key_id(&p, rel, data->tg_trigtuple, tgname), is);
	}
	else if (TRIGGER_FIRED_BY_DELETE(data->tg_event))
	{
		RkNewIntent intent;
		RkConfig   *config;

		new_intent(&intent, RK_INTENT_DELETE, p.server, &config);
		intent.key_name = expand_name(p.name, rel, data->tg_trigtuple, tgname);
		intent.key_id = row_key_id(&p, rel, data->tg_trigtuple, tgname);
		(void) insert_intent(&intent);
	}
	return PointerGetDatum(NULL);
}

/*
 * Moves one of the current role's intents from one of the given states to
 * a new one, waking the worker at commit; returns whether it did.  An
 * intent of another role, or none, is an error, as is one being sent.
 */
static bool
change_state(int64 id, const char *from_states, const char *to_sql)
{
	static const char *const find =
		"SELECT state, pg_catalog.pg_has_role($2, enqueued_by, 'MEMBER')"
		" FROM routerkeys.intent WHERE id = $1 FOR UPDATE";
	Oid			types[2] = {INT8OID, OIDOID};
	Datum		values[2] = {Int64GetDatum(id), ObjectIdGetDatum(GetUserId())};
	RkAsOwner	saved;
	char	   *state = NULL;
	bool		visible = false;
	bool		isnull;
	bool		changed = false;

	begin_as_owner(&saved);
	if (SPI_execute_with_args(find, 2, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read routerkeys.intent");
	if (SPI_processed == 1)
	{
		state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		visible = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
											 &isnull));
	}
	if (!visible)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("intent " INT64_FORMAT " does not exist", id)));
	if (strcmp(state, "sending") == 0)
	{
		/* stuck, if no worker runs (a crash without preloading): start one */
		rk_worker_wake();
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("intent " INT64_FORMAT " is being applied", id),
				 errhint("Wait for the worker to record what came of it, then look at routerkeys.outbox; a worker has been started if none ran, and it puts back what a stopped one left.")));
	}
	if (strstr(from_states, state) != NULL)
	{
		char	   *sql = psprintf("UPDATE routerkeys.intent SET %s WHERE id = $1", to_sql);

		if (SPI_execute_with_args(sql, 1, types, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update routerkeys.intent");
		changed = true;
	}
	end_as_owner(&saved);
	if (changed)
		rk_xact_wake_worker();
	return changed;
}

/*
 * retry(intent) returns boolean: a dead or cancelled intent becomes pending
 * again, with its attempts reset.
 */
Datum
routerkeys_retry(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(change_state(PG_GETARG_INT64(0), "dead cancelled",
								"state = 'pending', attempts = 0, next_attempt_at = now(),"
								" last_sqlstate = NULL, last_message = NULL"));
}

/*
 * cancel(intent) returns boolean: a pending or dead intent is cancelled; an
 * uncertain create among them is settled (its name looked up) at once.
 */
Datum
routerkeys_cancel(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(change_state(PG_GETARG_INT64(0), "pending dead",
								"state = 'cancelled', done_at = now(),"
								" settle_at = CASE WHEN uncertain THEN now() END"));
}

/*
 * Whether this database has the outbox (the extension is installed at a
 * version that has it).  For the worker, in a transaction.
 */
bool
rk_outbox_exists(void)
{
	Oid			nsp = get_namespace_oid("routerkeys", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("intent", nsp));
}

/*
 * At the worker's start: intents a worker was sending when it stopped go
 * back to pending, a create among them uncertain.  In a transaction.
 */
void
rk_outbox_recover(void)
{
	RkAsOwner	saved;

	begin_as_owner(&saved);
	run("UPDATE routerkeys.intent SET state = 'pending',"
		" uncertain = uncertain OR operation IN ('create', 'check')"
		" WHERE state = 'sending'", 0, NULL, NULL, NULL, SPI_OK_UPDATE);
	end_as_owner(&saved);
}

/*
 * A column of the current SPI result row as a C string, or NULL.
 */
static char *
column(int row, const char *name)
{
	SPITupleTable *t = SPI_tuptable;

	return SPI_getvalue(t->vals[row], t->tupdesc, SPI_fnumber(t->tupdesc, name));
}

/*
 * A boolean or timestamp column of the current SPI result row.
 */
static Datum
binary_column(int row, const char *name, bool *isnull)
{
	SPITupleTable *t = SPI_tuptable;

	return SPI_getbinval(t->vals[row], t->tupdesc, SPI_fnumber(t->tupdesc, name), isnull);
}

/*
 * A string member of a JSON object's text, or NULL.
 */
static char *
json_member(const char *json, const char *name)
{
	Datum		value = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
	Jsonb	   *jb = DatumGetJsonbP(value);
	JsonbValue	key;
	JsonbValue *v;

	key.type = jbvString;
	key.val.string.val = (char *) name;
	key.val.string.len = strlen(name);
	v = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &key);
	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type == jbvBool)
		return pstrdup(v->val.boolean ? "true" : "false");
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	return NULL;
}

/*
 * An intent read from a claimed row.
 */
static RkIntent *
read_intent(int row, bool settling)
{
	RkIntent   *intent = palloc0(sizeof(RkIntent));
	char	   *op = column(row, "operation");
	char	   *arguments = column(row, "arguments");
	char	   *active;
	char	   *since;
	bool		isnull;

	intent->id = DatumGetInt64(binary_column(row, "id", &isnull));
	for (int i = 0; i < (int) lengthof(operation_names); i++)
	{
		if (strcmp(op, operation_names[i]) == 0)
			intent->op = (RkIntentOp) i;
	}
	intent->role = DatumGetObjectId(binary_column(row, "enqueued_by", &isnull));
	intent->server = column(row, "server");
	intent->key_name = column(row, "key_name");
	intent->key_id = column(row, "key_id");
	if (intent->key_id == NULL)
		intent->key_id = column(row, "known_key_id");
	intent->enqueued_at = DatumGetTimestampTz(binary_column(row, "enqueued_at", &isnull));
	intent->uncertain = DatumGetBool(binary_column(row, "uncertain", &isnull));
	intent->attempts = DatumGetInt32(binary_column(row, "attempts", &isnull));
	intent->settling = settling;
	intent->target = DatumGetObjectId(binary_column(row, "target", &isnull));
	intent->target_key = column(row, "target_key");
	intent->key_column = column(row, "key_column");
	intent->deliver_to = column(row, "deliver_to");

	intent->create.name = intent->key_name;
	intent->create.expires_at = json_member(arguments, "expires_at");
	intent->create.project_id = json_member(arguments, "project_id");
	intent->create.permission_mode = json_member(arguments, "permission_mode");
	intent->update.name = json_member(arguments, "name");
	intent->update.expires_at = intent->create.expires_at;
	active = json_member(arguments, "active");
	intent->update.active = active == NULL ? -1 : strcmp(active, "true") == 0;
	since = json_member(arguments, "since");
	if (since != NULL)
		intent->since = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
																CStringGetDatum(since),
																ObjectIdGetDatum(InvalidOid),
																Int32GetDatum(-1)));
	return intent;
}

/* The columns a claim returns. */
#define CLAIMED_COLUMNS \
	"i.id, i.operation, i.enqueued_by::oid AS enqueued_by, i.server, i.key_name, i.key_id," \
	" i.arguments::text AS arguments, i.enqueued_at, i.uncertain, i.attempts, i.target::oid AS target," \
	" i.target_key::text AS target_key, i.key_column, i.deliver_to," \
	" (SELECT r.result_key_id FROM routerkeys.intent r WHERE r.server = i.server" \
	"  AND r.key_name = i.key_name AND r.operation = 'create' AND r.state = 'done'" \
	"  AND r.id < i.id ORDER BY r.id DESC LIMIT 1) AS known_key_id"

/*
 * The open intents, each with its place among the open intents of its key
 * (its name, and its id): an intent is due only when it is the first of
 * both.  One pass over the open intents, whatever the statistics say: an
 * outbox analyzed while nearly empty must not turn a burst of intents into
 * a quadratic plan.
 */
#define OPEN_IN_ORDER \
	"(SELECT o.*," \
	"   row_number() OVER (PARTITION BY o.server, o.key_name ORDER BY o.id) AS by_name," \
	"   row_number() OVER (PARTITION BY o.server, o.key_id ORDER BY o.id) AS by_id" \
	" FROM routerkeys.intent o WHERE o.state IN ('pending', 'sending'))"

/*
 * Claims up to limit due intents, oldest first, and marks them sending
 * (an attempt more), skipping servers that are paused; also returns the
 * intents that are over and due to be settled (looked up by name).  In a
 * transaction, whose commit makes the claim durable.  The list is
 * palloc'd in the current memory context.
 */
List *
rk_outbox_claim(int limit, List *paused_servers)
{
	static const char *const claim =
		"UPDATE routerkeys.intent i SET state = 'sending', attempts = i.attempts + 1"
		" FROM (SELECT c.id FROM " OPEN_IN_ORDER " c"
		"       WHERE c.state = 'pending' AND c.next_attempt_at <= now()"
		"         AND c.server <> ALL ($2)"
		"         AND (c.key_name IS NULL OR c.by_name = 1) AND (c.key_id IS NULL OR c.by_id = 1)"
		"       ORDER BY c.id LIMIT $1) d"
		" WHERE i.id = d.id AND i.state = 'pending'"	/* rechecked should cancel() win */
		" RETURNING " CLAIMED_COLUMNS;
	static const char *const settle =
		"SELECT " CLAIMED_COLUMNS " FROM routerkeys.intent i"
		" WHERE i.settle_at <= now() AND i.state IN ('done', 'dead', 'cancelled')"
		"   AND i.server <> ALL ($2)"
		"   AND (i.server, i.key_name) NOT IN (SELECT o.server, o.key_name FROM routerkeys.intent o"
		"       WHERE o.state IN ('pending', 'sending') AND o.key_name IS NOT NULL)"
		" ORDER BY i.settle_at LIMIT $1";
	Oid			types[2] = {INT4OID, NAMEARRAYOID};
	Datum		values[2];
	Datum	   *names = palloc(sizeof(Datum) * Max(list_length(paused_servers), 1));
	MemoryContext cxt = CurrentMemoryContext;
	RkAsOwner	saved;
	List	   *intents = NIL;
	ListCell   *lc;
	int			n = 0;

	foreach(lc, paused_servers)
		names[n++] = DirectFunctionCall1(namein, CStringGetDatum((char *) lfirst(lc)));
	values[0] = Int32GetDatum(limit);
	values[1] = PointerGetDatum(construct_array(names, n, NAMEOID, NAMEDATALEN, false,
												TYPALIGN_CHAR));

	begin_as_owner(&saved);
	for (int pass = 0; pass < 2; pass++)
	{
		MemoryContext spicxt;

		run(pass == 0 ? claim : settle, 2, types, values, NULL,
			pass == 0 ? SPI_OK_UPDATE_RETURNING : SPI_OK_SELECT);
		spicxt = MemoryContextSwitchTo(cxt);
		for (uint64 row = 0; row < SPI_processed; row++)
			intents = lappend(intents, read_intent((int) row, pass == 1));
		MemoryContextSwitchTo(spicxt);
	}
	end_as_owner(&saved);
	return intents;
}

/*
 * The ids the done creates of the outbox made under a name: keys of that
 * name that a look-up must leave alone.  In a transaction.
 */
List *
rk_outbox_known_ids(const char *server, const char *key_name)
{
	static const char *const sql =
		"SELECT result_key_id FROM routerkeys.intent WHERE server = $1 AND key_name = $2"
		" AND operation = 'create' AND state = 'done' AND result_key_id IS NOT NULL";
	Oid			types[2] = {NAMEOID, TEXTOID};
	Datum		values[2] = {DirectFunctionCall1(namein, CStringGetDatum(server)),
	CStringGetTextDatum(key_name)};
	MemoryContext cxt = CurrentMemoryContext;
	RkAsOwner	saved;
	List	   *ids = NIL;

	begin_as_owner(&saved);
	run(sql, 2, types, values, NULL, SPI_OK_SELECT);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		MemoryContext spicxt = MemoryContextSwitchTo(cxt);

		ids = lappend(ids, column((int) row, "result_key_id"));
		MemoryContextSwitchTo(spicxt);
	}
	end_as_owner(&saved);
	return ids;
}

/*
 * When the worker has something to do next without being woken: the
 * earliest next attempt or settle time, or 0 when there is none.  In a
 * transaction.
 */
TimestampTz
rk_outbox_next_due(void)
{
	RkAsOwner	saved;
	TimestampTz due = 0;
	bool		isnull;
	Datum		value;

	begin_as_owner(&saved);
	run("SELECT least((SELECT min(next_attempt_at) FROM routerkeys.intent"
		"              WHERE state IN ('pending', 'sending')),"
		"             (SELECT min(settle_at) FROM routerkeys.intent WHERE settle_at IS NOT NULL))",
		0, NULL, NULL, NULL, SPI_OK_SELECT);
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		due = DatumGetTimestampTz(value);
	end_as_owner(&saved);
	return due;
}

/*
 * Writes the follow-up checks the record holds (a list of RkFollowup) as
 * check intents of their roles: a create's is due once
 * routerkeys.settle_delay has passed, a delete's at once.  Entries whose
 * server or role is gone are dropped.  In a transaction.
 */
void
rk_outbox_add_checks(List *followups)
{
	static const char *const sql =
		"INSERT INTO routerkeys.intent (enqueued_by, server, operation, key_name, key_id,"
		" arguments, next_attempt_at)"
		" VALUES ($1, $2, 'check', $3, $4, $5::jsonb, now() + $6 * interval '1 millisecond')";
	Oid			types[6] = {REGROLEOID, NAMEOID, TEXTOID, TEXTOID, TEXTOID, INT4OID};
	RkAsOwner	saved;
	ListCell   *lc;

	begin_as_owner(&saved);
	foreach(lc, followups)
	{
		RkFollowup *f = (RkFollowup *) lfirst(lc);
		ForeignServer *server = GetForeignServerExtended(f->serverid, FSV_MISSING_OK);
		Datum		values[6];
		char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
		StringInfoData arguments;

		if (server == NULL || !SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(f->roleid)))
			continue;
		initStringInfo(&arguments);
		appendStringInfoChar(&arguments, '{');
		if (f->is_create)
		{
			appendStringInfoString(&arguments, "\"since\":");
			escape_json(&arguments, DatumGetCString(DirectFunctionCall1(timestamptz_out,
																	   TimestampTzGetDatum(f->since))));
		}
		appendStringInfoChar(&arguments, '}');
		values[0] = ObjectIdGetDatum(f->roleid);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(server->servername));
		values[2] = text_or_null(f->is_create ? f->what : NULL, nulls, 2);
		values[3] = text_or_null(f->is_create ? NULL : f->what, nulls, 3);
		values[4] = CStringGetTextDatum(arguments.data);
		values[5] = Int32GetDatum(f->is_create ? rk_worker_settle_ms : 0);
		run(sql, 6, types, values, nulls, SPI_OK_INSERT);
	}
	end_as_owner(&saved);
}

/*
 * Writes the key id into the intent's row and hands the token to the
 * delivery function, as the enqueuing role.  Our statements name every
 * object with its schema; the user's function runs with the session's
 * search_path, as it would for the role.  Raises what fails.
 */
static void
deliver(RkIntent *intent)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = CStringGetTextDatum(intent->result_key_id);
	values[1] = intent->target_key != NULL ? CStringGetTextDatum(intent->target_key) : (Datum) 0;
	nulls[1] = intent->target_key != NULL ? ' ' : 'n';
	if (OidIsValid(intent->target) && intent->key_column != NULL && intent->target_key != NULL)
	{
		StringInfoData sql;
		Relation	rel = table_open(intent->target, RowExclusiveLock);
		char	   *relname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
														 RelationGetRelationName(rel));
		Jsonb	   *key = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
															 CStringGetDatum(intent->target_key)));
		JsonbIterator *it = JsonbIteratorInit(&key->root);
		JsonbValue	v;
		JsonbIteratorToken tok;
		bool		first = true;

		initStringInfo(&sql);
		appendStringInfo(&sql, "UPDATE %s SET %s = $1 WHERE ", relname,
						 quote_identifier(intent->key_column));
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			char	   *col;
			int			attnum;

			if (tok != WJB_KEY)
				continue;
			col = pnstrdup(v.val.string.val, v.val.string.len);
			attnum = SPI_fnumber(RelationGetDescr(rel), col);
			if (attnum <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of relation \"%s\" does not exist",
								col, RelationGetRelationName(rel))));
			appendStringInfo(&sql, "%s%s = ($2::pg_catalog.jsonb OPERATOR(pg_catalog.->>) %s)::%s",
							 first ? "" : " AND ", quote_identifier(col), quote_literal_cstr(col),
							 format_type_be_qualified(TupleDescAttr(RelationGetDescr(rel),
																	attnum - 1)->atttypid));
			first = false;
		}
		table_close(rel, NoLock);
		run(sql.data, 2, types, values, nulls, SPI_OK_UPDATE);
	}
	if (intent->deliver_to != NULL && intent->token != NULL)
	{
		Oid			fn = DatumGetObjectId(DirectFunctionCall1(regprocedurein,
															  CStringGetDatum(intent->deliver_to)));
		char	   *sql = psprintf("SELECT %s($2::pg_catalog.jsonb, $1, $3)",
								   quote_qualified_identifier(get_namespace_name(get_func_namespace(fn)),
															  get_func_name(fn)));

		check_execute(fn);
		values[2] = CStringGetTextDatum(intent->token);
		run(sql, 3, types, values, nulls, SPI_OK_SELECT);
	}
}

/*
 * Runs fn(intent) in a subtransaction of the current transaction.  Returns
 * false when it raised: the subtransaction is rolled back (the user id it
 * may have changed with it) and the error becomes the intent's, its message
 * after what, with the token, should it be in it, replaced.  The memory
 * context and the resource owner are as they were.
 */
bool
rk_outbox_try(void (*fn) (RkIntent *intent), RkIntent *intent, const char *what)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(intent);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		intent->sqlstate = pstrdup(unpack_sql_state(edata->sqlerrcode));
		intent->message = psprintf("%s%s", what,
								   rk_error_without(edata->message, intent->token, "[token]"));
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

/*
 * Delivers as the enqueuing role, SPI connected; for rk_outbox_try.
 */
static void
deliver_as_role(RkIntent *intent)
{
	Oid			save_userid;
	int			save_sec_context;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(intent->role, save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	deliver(intent);
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/*
 * What a done create still needs before it is recorded: its key id written
 * back and its token delivered, as the enqueuing role, in a subtransaction;
 * when that fails, the key is not delivered and the intent is uncertain (its
 * key will be deleted and made anew).  Then the token is wiped.
 */
static void
finish_create(RkIntent *intent)
{
	if (intent->op == RK_INTENT_CREATE && intent->end == RK_INTENT_DONE && !intent->settling &&
		(intent->deliver_to != NULL || OidIsValid(intent->target)) &&
		!rk_outbox_try(deliver_as_role, intent, "could not deliver the key: "))
	{
		intent->end = RK_INTENT_AGAIN;
		intent->uncertain = true;
		intent->retry_at = rk_worker_backoff(intent->attempts);
	}
	if (intent->token != NULL)
		explicit_bzero(intent->token, strlen(intent->token));
}

/*
 * Writes what came of an attempt at one intent.  An intent that is to be
 * tried again after max_attempts is dead; an attempt that was not made, or
 * that the service answered with 429, does not count.  As the outbox's
 * owner.
 */
static void
record_one(RkIntent *intent, TimestampTz now)
{
	static const char *const sql =
		"UPDATE routerkeys.intent SET state = $2, next_attempt_at = coalesce($3, next_attempt_at),"
		" uncertain = $4, settle_at = greatest(settle_at, $5), last_sqlstate = $6, last_message = $7,"
		" result_key_id = coalesce($8, result_key_id), attempts = $9,"
		" done_at = CASE WHEN $2 IN ('done', 'dead') THEN now() END"
		" WHERE id = $1";
	static const char *const settled =
		"UPDATE routerkeys.intent SET settle_at = $2, last_message = coalesce($3, last_message)"
		" WHERE id = $1";
	Oid			types[9] = {INT8OID, TEXTOID, TIMESTAMPTZOID, BOOLOID, TIMESTAMPTZOID, TEXTOID,
	TEXTOID, TEXTOID, INT4OID};
	Oid			settled_types[3] = {INT8OID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[9];
	char		nulls[9];
	bool		settle;

	if (intent->uncounted)
		intent->attempts--;
	if (intent->end == RK_INTENT_AGAIN && !intent->settling &&
		(intent->config == NULL || intent->attempts >= intent->config->max_attempts))
		intent->end = RK_INTENT_DEAD;

	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int64GetDatum(intent->id);
	if (intent->settling)
	{
		values[1] = TimestampTzGetDatum(intent->retry_at);
		nulls[1] = intent->end == RK_INTENT_DONE ? 'n' : ' ';
		values[2] = text_or_null(intent->message, nulls, 2);
		run(settled, 3, settled_types, values, nulls, SPI_OK_UPDATE);
		return;
	}

	/*
	 * A create that may yet leave a key (it timed out) is looked up by name
	 * once it is over and the settle delay has passed; one that dies
	 * uncertain, at once.
	 */
	settle = intent->op == RK_INTENT_CREATE &&
		(intent->may_appear || (intent->end == RK_INTENT_DEAD && intent->uncertain));
	values[1] = CStringGetTextDatum(intent->end == RK_INTENT_DONE ? "done" :
									intent->end == RK_INTENT_DEAD ? "dead" : "pending");
	values[2] = TimestampTzGetDatum(intent->retry_at);
	nulls[2] = intent->end == RK_INTENT_AGAIN ? ' ' : 'n';
	values[3] = BoolGetDatum(intent->uncertain && intent->end != RK_INTENT_DONE);
	values[4] = TimestampTzGetDatum(now + (intent->may_appear ? rk_worker_settle_ms * (int64) 1000 : 0));
	nulls[4] = settle ? ' ' : 'n';
	values[5] = text_or_null(intent->sqlstate, nulls, 5);
	values[6] = text_or_null(intent->message, nulls, 6);
	values[7] = text_or_null(intent->end == RK_INTENT_DONE ? intent->result_key_id : NULL,
							 nulls, 7);
	values[8] = Int32GetDatum(intent->attempts);
	run(sql, 9, types, values, nulls, SPI_OK_UPDATE);
}

/*
 * Records what came of the attempts at intents (a list of RkIntent, each's
 * end set), in the current transaction: a done create also has its key id
 * written back and its token delivered, in the same transaction.
 */
void
rk_outbox_record(List *intents)
{
	TimestampTz now = GetCurrentTimestamp();
	RkAsOwner	saved;
	ListCell   *lc;

	foreach(lc, intents)
		finish_create((RkIntent *) lfirst(lc));
	begin_as_owner(&saved);
	foreach(lc, intents)
		record_one((RkIntent *) lfirst(lc), now);
	end_as_owner(&saved);
}
