/*-------------------------------------------------------------------------
 *
 * reconcile.c
 *		routerkeys.reconcile(): comparing the router with the rows of a
 *		local table that hold key ids.
 *
 * The local ids are read into a hash table once; the router's keys are
 * listed page by page, each page in a context of its own, so memory grows
 * with the local table only, never with the account.  A remote key whose
 * name matches the pattern and whose id no row holds is an orphan; a row's
 * id that no remote key has is missing.
 *
 * Repair deletes orphans, at once (it is a repair, not a change to follow
 * the transaction), and only when nobody may be about to claim one: the
 * key's name lock (the advisory lock every create of that name holds to
 * the end of its transaction, keys.c) must be free, and the local table is
 * read again, with a new snapshot, after the lock is taken.  So a tenant
 * whose transaction is still creating its key, or committed after the
 * first read, keeps it.  That needs READ COMMITTED, where every query sees
 * what committed before it; repair refuses the other isolation levels.
 * Privileges on the table are checked before anything is sent.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(routerkeys_reconcile);

#define RK_MAX_KEY_ID_BYTES 128

/* A local key id, and whether the router has it. */
typedef struct RkLocalId
{
	char		id[RK_MAX_KEY_ID_BYTES + 1];
	bool		seen;
} RkLocalId;

/* What one call works with. */
typedef struct RkReconcile
{
	const RkConfig *config;
	char	   *table;			/* the table, quoted and qualified */
	char	   *column;			/* the column, quoted */
	text	   *pattern;
	bool		repair;
	HTAB	   *local;
	List	   *orphans;		/* RkKey copies (id, name), in call_cxt */
	MemoryContext call_cxt;
	ReturnSetInfo *rsinfo;
} RkReconcile;

/*
 * Errors unless the caller may read the column of the table.
 */
static void
check_privilege(Oid relid, const char *column, AttrNumber *attnum)
{
	*attnum = get_attnum(relid, column);
	if (*attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, get_rel_name(relid))));
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK &&
		pg_attribute_aclcheck(relid, *attnum, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}

/*
 * Reads the non-null key ids of the table into a hash table.
 */
static HTAB *
read_local_ids(const RkReconcile *r)
{
	HASHCTL		ctl;
	HTAB	   *ids;
	char	   *sql;

	ctl.keysize = RK_MAX_KEY_ID_BYTES + 1;
	ctl.entrysize = sizeof(RkLocalId);
	ctl.hcxt = CurrentMemoryContext;
	ids = hash_create("routerkeys reconcile", 1024, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	sql = psprintf("SELECT DISTINCT %s::text FROM %s WHERE %s IS NOT NULL",
				   r->column, r->table, r->column);
	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the key ids of %s", r->table);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *id = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char		key[RK_MAX_KEY_ID_BYTES + 1] = {0};
		RkLocalId  *entry;

		strlcpy(key, id, sizeof(key));
		entry = hash_search(ids, key, HASH_ENTER, NULL);
		entry->seen = false;
	}
	SPI_freetuptable(SPI_tuptable);
	return ids;
}

/*
 * Whether a row of the table holds the id now, with a new snapshot.
 */
static bool
claimed_now(const RkReconcile *r, const char *id)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(id)};
	char	   *sql = psprintf("SELECT 1 FROM %s WHERE %s::text = $1 LIMIT 1", r->table, r->column);
	int			rc;

	CommandCounterIncrement();
	rc = SPI_execute_with_args(sql, 1, argtypes, args, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the key ids of %s", r->table);
	return SPI_processed > 0;
}

/*
 * Adds a row to the result.
 */
static void
report(const RkReconcile *r, const char *id, const char *name, const char *problem,
	   bool repaired)
{
	Datum		values[4];
	bool		nulls[4] = {false, name == NULL, false, false};

	values[0] = CStringGetTextDatum(id);
	values[1] = name != NULL ? CStringGetTextDatum(name) : (Datum) 0;
	values[2] = CStringGetTextDatum(problem);
	values[3] = BoolGetDatum(repaired);
	tuplestore_putvalues(r->rsinfo->setResult, r->rsinfo->setDesc, values, nulls);
}

/*
 * Deletes an orphan when nobody may claim it: its name is not being
 * created by an open transaction, and no row holds it now.  Returns
 * whether it is gone.
 */
static bool
repair_orphan(const RkReconcile *r, const RkKey *key)
{
	RkBudget	budget = rk_keys_budget(r->config);
	RkOutcome	outcome;

	if (!rk_keys_try_lock_name(r->config, key->name) || claimed_now(r, key->id))
		return false;
	rk_keys_delete(r->config, key->id, &outcome, &budget, NULL);
	if (outcome.kind == RK_OUTCOME_NOT_FOUND)
		return true;
	rk_followup_check(r->config, &outcome);
	return true;
}

/*
 * Looks at one remote key: marks it seen, and notes it when it is an
 * orphan.
 */
static void
check_remote_key(RkReconcile *r, const RkKey *key)
{
	RkLocalId  *local = NULL;
	char		lookup[RK_MAX_KEY_ID_BYTES + 1] = {0};

	if (strlen(key->id) <= RK_MAX_KEY_ID_BYTES)
	{
		strlcpy(lookup, key->id, sizeof(lookup));
		local = hash_search(r->local, lookup, HASH_FIND, NULL);
	}
	if (local != NULL)
	{
		local->seen = true;
		return;
	}
	if (key->name == NULL ||
		!DatumGetBool(DirectFunctionCall2Coll(textlike, DEFAULT_COLLATION_OID,
											  CStringGetTextDatum(key->name),
											  PointerGetDatum(r->pattern))))
		return;
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(r->call_cxt);
		RkKey	   *orphan = palloc0(sizeof(RkKey));

		orphan->id = pstrdup(key->id);
		orphan->name = pstrdup(key->name);
		r->orphans = lappend(r->orphans, orphan);
		MemoryContextSwitchTo(oldcxt);
	}
}

/*
 * reconcile(local regclass, key_column name, name_like text, repair boolean,
 * server name) returns table (key_id text, name text, problem text,
 * repaired boolean)
 */
Datum
routerkeys_reconcile(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	const char *column = NameStr(*PG_GETARG_NAME(1));
	RkReconcile r = {0};
	AttrNumber	attnum;
	RkListFilter filter = {.skip_attrs = true};
	RkBudget	budget;
	RkLister   *lister;
	RkOutcome	outcome;
	RkPage		page;
	MemoryContext pagecxt;
	MemoryContext oldcxt;
	HASH_SEQ_STATUS scan;
	RkLocalId  *local;
	ListCell   *lc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("reconcile needs a table, a key column, a name pattern and whether to repair")));
	r.pattern = PG_GETARG_TEXT_PP(2);
	r.repair = PG_GETARG_BOOL(3);
	check_privilege(relid, column, &attnum);
	if (r.repair && IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("reconcile with repair needs the READ COMMITTED isolation level"),
				 errdetail("Before it deletes an orphan it reads the table again, to see a tenant that committed meanwhile.")));
	r.config = rk_options_load(rk_options_resolve_server(PG_ARGISNULL(4) ? NULL :
														 NameStr(*PG_GETARG_NAME(4))),
							   GetUserId());
	r.table = psprintf("%s.%s", quote_identifier(get_namespace_name(get_rel_namespace(relid))),
					   quote_identifier(get_rel_name(relid)));
	r.column = pstrdup(quote_identifier(column));
	InitMaterializedSRF(fcinfo, 0);
	r.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "could not connect to SPI");
	r.local = read_local_ids(&r);
	r.call_cxt = CurrentMemoryContext;

	budget = rk_keys_budget(r.config);
	lister = rk_keys_list_start(r.config, &filter, &budget, NULL);
	pagecxt = AllocSetContextCreate(CurrentMemoryContext, "routerkeys reconcile page",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(pagecxt);
	while (rk_keys_list_next(lister, oldcxt, &page, &outcome))
	{
		for (int i = 0; i < page.nkeys; i++)
			check_remote_key(&r, &page.keys[i]);
		MemoryContextReset(pagecxt);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextSwitchTo(oldcxt);
	rk_followup_check(r.config, &outcome);
	MemoryContextDelete(pagecxt);

	/* repairs only after the listing, which deleting would disturb */
	foreach(lc, r.orphans)
	{
		RkKey	   *orphan = (RkKey *) lfirst(lc);

		report(&r, orphan->id, orphan->name, "orphan", r.repair && repair_orphan(&r, orphan));
	}

	hash_seq_init(&scan, r.local);
	while ((local = (RkLocalId *) hash_seq_search(&scan)) != NULL)
	{
		if (!local->seen)
			report(&r, local->id, NULL, "missing", false);
	}
	SPI_finish();
	return (Datum) 0;
}
