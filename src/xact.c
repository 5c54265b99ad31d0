/*-------------------------------------------------------------------------
 *
 * xact.c
 *		The router follows the database's transactions: the one transaction
 *		and subtransaction callback, and the list of remote effects of the
 *		current transaction.
 *
 * The router has no transactions, so this file gives the semantics users
 * assume (routerkeys.transactional, on by default):
 *	- a create reaches the router at once (its id and token are needed
 *	  inside the transaction) and is remembered; when the (sub)transaction
 *	  that made it aborts, the key is deleted;
 *	- an update or a delete is only remembered: the call reads the key and
 *	  returns it as it will be; at PRE_COMMIT the remembered changes of each
 *	  key are merged (a rename then a disable is one PATCH, any delete wins)
 *	  and sent, and a failure there is an ERROR, so the transaction aborts
 *	  and its creates are deleted;
 *	- reads inside the transaction show the keys as they will be;
 *	- effects of a subtransaction pass to its parent when it commits and
 *	  are dropped (creates: deleted) when it aborts;
 *	- PREPARE TRANSACTION with remembered effects is refused.
 *
 * Abort-time work never raises and never waits unboundedly: interrupts are
 * held, each delete has a short timeout of its own, all of them together
 * stop after RK_UNDO_TOTAL_MS, any error is caught and reported as a
 * WARNING naming the key, and what could not be done is recorded for the
 * follow-up check (followup.c).
 *
 * Memory: the effects and the configurations they need live in xact_cxt,
 * a child of TopMemoryContext reset at the end of every top-level
 * transaction, so that nothing an abort needs has to be allocated at abort
 * time but the requests themselves, which use undo_cxt.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define RK_UNDO_TIMEOUT_MS 2000		/* one abort-time delete, at most */
#define RK_UNDO_WAIT_MS 500			/* between its two attempts, at most */
#define RK_UNDO_TOTAL_MS 10000		/* all the deletes of one abort, at most */

/* routerkeys.transactional */
bool		rk_transactional = true;

typedef enum RkEffectKind
{
	RK_EFFECT_CREATED,			/* made in this transaction: delete on abort */
	RK_EFFECT_UPDATE,			/* to send at commit */
	RK_EFFECT_DELETE			/* to send at commit */
} RkEffectKind;

/* One remote effect of the current transaction. */
typedef struct RkEffect
{
	RkEffectKind kind;
	int			level;			/* the nest level of the subtransaction it belongs to */
	const RkConfig *config;		/* in xact_cxt */
	char	   *id;
	RkUpdateArgs args;			/* RK_EFFECT_UPDATE: the fields asked for */
} RkEffect;

static List *effects = NIL;		/* in registration order, in xact_cxt */
static List *configs = NIL;		/* the RkConfig copies effects use, in xact_cxt */
static bool wake_worker = false;	/* the transaction wrote intents */
static MemoryContext xact_cxt = NULL;
static MemoryContext undo_cxt = NULL;
static bool callbacks_registered = false;

static void xact_callback(XactEvent event, void *arg);
static void subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg);

/*
 * Whether effects are to follow the transaction now.
 */
static bool
deferring(void)
{
	return rk_transactional && IsTransactionState();
}

/*
 * A string copied into xact_cxt, or NULL.
 */
static char *
keep_string(const char *s)
{
	return s != NULL ? MemoryContextStrdup(xact_cxt, s) : NULL;
}

/*
 * The configuration an effect needs at commit or abort, in xact_cxt: one
 * copy per (server, role) and transaction.
 */
static const RkConfig *
keep_config(const RkConfig *config)
{
	ListCell   *lc;
	MemoryContext oldcxt;
	RkConfig   *kept;

	foreach(lc, configs)
	{
		const RkConfig *c = (const RkConfig *) lfirst(lc);

		if (c->serverid == config->serverid && c->userid == config->userid)
			return c;
	}
	oldcxt = MemoryContextSwitchTo(xact_cxt);
	kept = rk_options_copy(config);
	configs = lappend(configs, kept);
	MemoryContextSwitchTo(oldcxt);
	return kept;
}

/*
 * Registers the transaction callbacks, once per backend.
 */
static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
	callbacks_registered = true;
}

/*
 * Remembers an effect of the current subtransaction.
 */
static void
remember(RkEffectKind kind, const RkConfig *config, const char *id, const RkUpdateArgs *args)
{
	RkEffect   *effect;
	MemoryContext oldcxt;

	register_callbacks();
	if (xact_cxt == NULL)
		xact_cxt = AllocSetContextCreate(TopMemoryContext, "routerkeys transaction",
										 ALLOCSET_SMALL_SIZES);
	config = keep_config(config);
	oldcxt = MemoryContextSwitchTo(xact_cxt);
	effect = palloc0(sizeof(RkEffect));
	effect->kind = kind;
	effect->level = GetCurrentTransactionNestLevel();
	effect->config = config;
	effect->id = pstrdup(id);
	if (args != NULL)
	{
		effect->args = *args;
		effect->args.name = keep_string(args->name);
		effect->args.expires_at = keep_string(args->expires_at);
	}
	effects = lappend(effects, effect);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Whether an effect is about this key of this server and role.
 */
static bool
is_about(const RkEffect *effect, const RkConfig *config, const char *id)
{
	return effect->config->serverid == config->serverid &&
		effect->config->userid == config->userid && strcmp(effect->id, id) == 0;
}

/*
 * Merges the remembered changes of one key, in order, into *args; returns
 * false when the key is to be deleted.
 */
static bool
merged_changes(const RkConfig *config, const char *id, RkUpdateArgs *args)
{
	ListCell   *lc;

	memset(args, 0, sizeof(RkUpdateArgs));
	args->active = -1;
	foreach(lc, effects)
	{
		RkEffect   *e = (RkEffect *) lfirst(lc);

		if (!is_about(e, config, id))
			continue;
		if (e->kind == RK_EFFECT_DELETE)
			return false;
		if (e->kind != RK_EFFECT_UPDATE)
			continue;
		if (e->args.name != NULL)
			args->name = e->args.name;
		if (e->args.active >= 0)
			args->active = e->args.active;
		if (e->args.expires_at != NULL || e->args.clear_expires_at)
		{
			args->expires_at = e->args.expires_at;
			args->clear_expires_at = e->args.clear_expires_at;
		}
	}
	return true;
}

/*
 * Remembers a key the current subtransaction created, to delete it should
 * the subtransaction abort.  A no-op when effects do not follow the
 * transaction.
 */
void
rk_xact_created(const RkConfig *config, const char *id)
{
	if (deferring())
		remember(RK_EFFECT_CREATED, config, id, NULL);
}

/*
 * Has the worker of this database woken when the transaction commits: it
 * wrote intents.  (Should the subtransaction that wrote them abort, the
 * worker merely finds nothing new.)
 */
void
rk_xact_wake_worker(void)
{
	register_callbacks();
	wake_worker = true;
}

/*
 * Shows a key read inside the transaction as it will be after commit.
 * Returns false when the transaction deletes it.  Only the columns change;
 * attrs stays the object as the service sent it.
 */
bool
rk_xact_overlay(const RkConfig *config, RkKey *key)
{
	RkUpdateArgs args;

	if (effects == NIL || key->id == NULL)
		return true;
	if (!merged_changes(config, key->id, &args))
		return false;
	if (args.name != NULL)
		key->name = pstrdup(args.name);
	if (args.active >= 0)
	{
		key->active = args.active;
		key->status = args.active ? "active" : "disabled";
	}
	if (args.expires_at != NULL || args.clear_expires_at)
		key->expires_at = args.expires_at != NULL ? pstrdup(args.expires_at) : NULL;
	return true;
}

/*
 * Reads a key for an update or a delete that is to wait for the commit,
 * unless the caller has it (current).  Returns false, with *outcome, when
 * it cannot go on: the key does not exist, or will not after commit, or
 * could not be read.
 */
static bool
read_current(const RkConfig *config, const char *id, const RkKey *current, RkKey *key,
			 RkOutcome *outcome, RkBudget *budget, RkStats *stats)
{
	char	   *ids[1] = {(char *) id};
	RkUpdateArgs args;

	if (current != NULL)
	{
		*key = *current;
		memset(outcome, 0, sizeof(RkOutcome));
		outcome->kind = RK_OUTCOME_DONE;
	}
	else
		rk_keys_get_many(config, ids, 1, key, outcome, budget, stats);
	if (outcome->kind == RK_OUTCOME_DONE && !merged_changes(config, id, &args))
	{
		outcome->kind = RK_OUTCOME_NOT_FOUND;
		outcome->failure = RK_FAIL_NO_SUCH_KEY;
		outcome->key_id = pstrdup(id);
	}
	return outcome->kind == RK_OUTCOME_DONE;
}

/*
 * Updates a key: at once when effects do not follow the transaction, else
 * at commit, returning the key as it will be (current, when given, is the
 * key as just read, which saves reading it again).
 */
void
rk_xact_update(const RkConfig *config, const char *id, const RkUpdateArgs *args,
			   const RkKey *current, RkKey *key, RkOutcome *outcome, RkBudget *budget,
			   RkStats *stats)
{
	bool		changes = args->name != NULL || args->active >= 0 ||
		args->expires_at != NULL || args->clear_expires_at;

	if (!deferring())
	{
		rk_keys_update(config, id, args, key, outcome, budget, stats);
		return;
	}
	rk_keys_check_id(id);
	if (!read_current(config, id, current, key, outcome, budget, stats))
		return;
	if (changes)
		remember(RK_EFFECT_UPDATE, config, id, args);
	(void) rk_xact_overlay(config, key);
}

/*
 * Deletes a key: at once when effects do not follow the transaction, else
 * at commit, after checking that it exists (current, when given, is the key
 * as just read).
 */
void
rk_xact_delete(const RkConfig *config, const char *id, const RkKey *current,
			   RkOutcome *outcome, RkBudget *budget, RkStats *stats)
{
	RkKey		key;

	if (!deferring())
	{
		rk_keys_delete(config, id, outcome, budget, stats);
		return;
	}
	rk_keys_check_id(id);
	if (read_current(config, id, current, &key, outcome, budget, stats))
		remember(RK_EFFECT_DELETE, config, id, NULL);
}

/*
 * Whether effects[index] is the first change (update or delete) of its key.
 */
static bool
first_change_of_key(int index)
{
	RkEffect   *e = (RkEffect *) list_nth(effects, index);

	for (int i = 0; i < index; i++)
	{
		RkEffect   *before = (RkEffect *) list_nth(effects, i);

		if (before->kind != RK_EFFECT_CREATED && is_about(before, e->config, e->id))
			return false;
	}
	return true;
}

/*
 * PRE_COMMIT: sends the merged changes of every key, one request each.
 * Raises the first failure, which aborts the transaction.
 */
static void
send_changes(void)
{
	for (int i = 0; i < list_length(effects); i++)
	{
		RkEffect   *e = (RkEffect *) list_nth(effects, i);
		RkBudget	budget = rk_keys_budget(e->config);
		RkUpdateArgs args;
		RkOutcome	outcome;
		RkKey		key;

		if (e->kind == RK_EFFECT_CREATED || !first_change_of_key(i))
			continue;
		if (!merged_changes(e->config, e->id, &args))
		{
			rk_keys_delete(e->config, e->id, &outcome, &budget, NULL);
			if (outcome.kind == RK_OUTCOME_NOT_FOUND)
				continue;
		}
		else
			rk_keys_update(e->config, e->id, &args, &key, &outcome, &budget, NULL);
		rk_followup_check(e->config, &outcome);
	}
}

/*
 * Says that a key an aborted transaction made is still there, and records
 * it for the follow-up check.
 */
static void
report_leftover(const RkConfig *config, const char *id)
{
	rk_followup_note_delete(config, id);
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg("key \"%s\" made in the aborted transaction could not be deleted on server \"%s\"",
					id, config->servername),
			 errdetail("It is recorded for a follow-up check.")));
}

/*
 * Deletes a key a transaction that aborts created, never raising: a failure
 * is a WARNING naming the key, and a follow-up record.  Caller holds
 * interrupts and is in undo_cxt.
 */
static void
undo_create(const RkEffect *effect, TimestampTz deadline)
{
	RkConfig	config = *effect->config;
	RkBudget	budget;
	RkOutcome	outcome;
	MemoryContext cxt = CurrentMemoryContext;

	config.timeout_ms = Min(config.timeout_ms, RK_UNDO_TIMEOUT_MS);
	config.connect_timeout_ms = Min(config.connect_timeout_ms, RK_UNDO_TIMEOUT_MS);
	config.max_retries = Min(config.max_retries, 1);
	config.retry_max_wait_ms = Min(config.retry_max_wait_ms, RK_UNDO_WAIT_MS);
	budget = rk_keys_budget(&config);
	if (GetCurrentTimestamp() >= deadline)
	{
		report_leftover(&config, effect->id);
		return;
	}
	PG_TRY();
	{
		rk_keys_delete(&config, effect->id, &outcome, &budget, NULL);
		if (outcome.kind != RK_OUTCOME_DONE && outcome.kind != RK_OUTCOME_NOT_FOUND)
		{
			rk_error_warn(&config, &outcome);
			report_leftover(&config, effect->id);
		}
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		report_leftover(&config, effect->id);
	}
	PG_END_TRY();
}

/*
 * Deletes the keys created at nest level `level` or deeper, newest first,
 * and forgets every effect of those levels.
 */
static void
undo_levels(int level)
{
	List	   *kept = NIL;
	MemoryContext oldcxt;
	TimestampTz deadline;

	if (effects == NIL)
		return;
	deadline = GetCurrentTimestamp() + (int64) RK_UNDO_TOTAL_MS * 1000;
	if (undo_cxt == NULL)
		undo_cxt = AllocSetContextCreate(TopMemoryContext, "routerkeys undo",
										 ALLOCSET_DEFAULT_SIZES);
	HOLD_INTERRUPTS();
	oldcxt = MemoryContextSwitchTo(undo_cxt);
	for (int i = list_length(effects) - 1; i >= 0; i--)
	{
		RkEffect   *e = (RkEffect *) list_nth(effects, i);

		if (e->level >= level && e->kind == RK_EFFECT_CREATED)
		{
			undo_create(e, deadline);
			MemoryContextReset(undo_cxt);
		}
	}
	MemoryContextSwitchTo(oldcxt);
	RESUME_INTERRUPTS();

	oldcxt = MemoryContextSwitchTo(xact_cxt);
	for (int i = 0; i < list_length(effects); i++)
	{
		RkEffect   *e = (RkEffect *) list_nth(effects, i);

		if (e->level < level)
			kept = lappend(kept, e);
	}
	MemoryContextSwitchTo(oldcxt);
	effects = kept;
}

/*
 * Forgets everything at the end of a top-level transaction.
 */
static void
forget_all(void)
{
	wake_worker = false;
	effects = NIL;
	configs = NIL;
	if (xact_cxt != NULL)
		MemoryContextReset(xact_cxt);
}

/*
 * The transaction callback: PRE_COMMIT sends (and may raise), PRE_PREPARE
 * refuses, ABORT undoes creates (and never raises).
 */
static void
xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_COMMIT:
			send_changes();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (effects != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that has changed router keys"),
						 errdetail("The router has no two-phase commit: its keys cannot wait for COMMIT PREPARED."),
						 errhint("Commit the key changes in a transaction of their own, or SET routerkeys.transactional = off.")));
			break;
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_ABORT:
			undo_levels(1);
			forget_all();
			break;
		case XACT_EVENT_COMMIT:
			if (wake_worker)
				rk_worker_wake();
			forget_all();
			break;
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			forget_all();
			break;
		default:
			break;
	}
}

/*
 * The subtransaction callback: a committing subtransaction's effects pass
 * to its parent; an aborting one's are undone.
 */
static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;

	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, effects)
		{
			RkEffect   *e = (RkEffect *) lfirst(lc);

			if (e->level >= level)
				e->level = level - 1;
		}
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		undo_levels(level);
}
