/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The background worker of durable provisioning: it applies the
 *		committed intents of one database's outbox, and the launcher that
 *		starts one such worker per database at server start.
 *
 * Modes:
 *	- with routerkeys in shared_preload_libraries, a launcher starts at
 *	  server start (and after a crash restart) and starts a worker for
 *	  every database that allows connections; a worker in a database
 *	  without the outbox exits at once;
 *	- in any case, a transaction that wrote intents wakes its database's
 *	  worker when it commits, and starts one (a dynamic background worker)
 *	  when none runs.
 *
 * One worker per database: a worker holds a session advisory lock on its
 * database for its life and writes its pid to pg_routerkeys/worker.<oid>;
 * a committing backend reads that file and sets the worker's latch when
 * the pid is a routerkeys worker of its database; a second worker that
 * finds the lock taken wakes the first and exits.
 *
 * The loop: claim due intents and commit (they are "sending"), apply them
 * with no transaction open (HTTP), record what came of each in one more
 * transaction (and, for a create that is done, write its key id back and
 * deliver its token in that same transaction); while intents were found,
 * go on at once; else sleep on the latch until the next intent is due, or,
 * when none is, for routerkeys.worker_idle_timeout and then exit: an idle
 * worker makes no queries, and the next commit that writes intents starts
 * it again.  DROP DATABASE (and renaming a database) first stops the
 * database's worker, when this library is loaded in the backend that runs
 * it (always when preloaded); otherwise the worker's connection makes
 * PostgreSQL refuse it until the worker has gone idle and exited.
 *
 * The worker never raises out of its loop: an error is logged, the
 * transaction aborted, the intents it had claimed put back (uncertain
 * when they were creates), and the loop goes on after a pause.  It acts as
 * each intent's enqueuing role: that role's user mapping, USAGE on the
 * server, and its privileges for the write-back and the delivery.
 *
 * Memory: everything of one round lives in a context reset each round.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include <fcntl.h>
#include <unistd.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "common/pg_prng.h"
#include "common/file_perm.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#define RK_WORKER_TYPE "routerkeys worker"
#define RK_LAUNCHER_TYPE "routerkeys launcher"
#define RK_WORKER_DIR "pg_routerkeys"
#define RK_CLAIM_LIMIT 256			/* intents claimed at once */
#define RK_ERROR_PAUSE_MS 5000		/* after an error in the loop */
#define RK_LAUNCH_WAIT_MS 30000		/* the launcher's wait for a free worker slot */
#define RK_WORKER_LOCK_CLASS 4		/* advisory lock field4: the worker of a database */

PGDLLEXPORT void routerkeys_launcher_main(Datum arg);
PGDLLEXPORT void routerkeys_worker_main(Datum arg);

/* routerkeys.settle_delay */
int			rk_worker_settle_ms = 600000;

/* routerkeys.worker_idle_timeout */
int			rk_worker_idle_ms = 600000;

/* A server whose requests wait: it answered 429. */
typedef struct RkPause
{
	char	   *server;
	TimestampTz until;
} RkPause;

static List *pauses = NIL;		/* in TopMemoryContext */
static RkFollowupFile followups = {.fd = -1};	/* the record, while taking from it */

/*
 * Fills in what every routerkeys background worker has.
 */
static void
init_worker(BackgroundWorker *worker, const char *type, const char *function)
{
	memset(worker, 0, sizeof(BackgroundWorker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "routerkeys");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker->bgw_type, BGW_MAXLEN, "%s", type);
}

/*
 * At module load in the postmaster, when preloaded: the launcher, started
 * at server start and again after a crash restart.
 */
void
rk_worker_register_launcher(void)
{
	BackgroundWorker worker;

	if (!process_shared_preload_libraries_in_progress)
		return;
	init_worker(&worker, RK_LAUNCHER_TYPE, "routerkeys_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, RK_LAUNCHER_TYPE);
	worker.bgw_restart_time = 5;
	RegisterBackgroundWorker(&worker);
}

/*
 * Starts the worker of a database.  Returns false when no background
 * worker slot was free.
 */
static bool
start_worker(Oid dboid)
{
	BackgroundWorker worker;

	init_worker(&worker, RK_WORKER_TYPE, "routerkeys_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, RK_WORKER_TYPE " for database %u", dboid);
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	return RegisterDynamicBackgroundWorker(&worker, NULL);
}

/*
 * The launcher: starts a worker for every database that allows
 * connections, then stays (so that a crash restart starts it, and it them,
 * again), asleep.
 */
void
routerkeys_launcher_main(Datum arg)
{
	List	   *databases = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	ListCell   *lc;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	StartTransactionCommand();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);

		if (db->datallowconn && !db->datistemplate)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			databases = lappend_oid(databases, db->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();

	/*
	 * Workers of databases without the outbox exit at once and free their
	 * slot: when none is free, wait for one, a while.
	 */
	foreach(lc, databases)
	{
		int			waited = 0;

		while (!start_worker(lfirst_oid(lc)) && waited < RK_LAUNCH_WAIT_MS)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100,
							 PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
			waited += 100;
		}
		if (waited >= RK_LAUNCH_WAIT_MS)
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("could not start the routerkeys worker of database %u",
							lfirst_oid(lc)),
					 errdetail("No background worker slot was free for %d s; the database's intents wait for its next commit that writes intents.",
							   RK_LAUNCH_WAIT_MS / 1000),
					 errhint("Raise max_worker_processes.")));
	}
	for (;;)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The file the worker of a database writes its pid to.
 */
static char *
pid_file(Oid dboid)
{
	return psprintf(RK_WORKER_DIR "/worker.%u", dboid);
}

/*
 * The pid the worker of a database wrote, or 0.
 */
static int
worker_pid(Oid dboid)
{
	char		buf[32];
	char	   *path = pid_file(dboid);
	int			fd = open(path, O_RDONLY | PG_BINARY, 0);
	ssize_t		len;

	pfree(path);
	if (fd < 0)
		return 0;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	return atoi(buf);
}

/*
 * Whether a pid is the routerkeys worker of a database (then *proc is its
 * PGPROC): a pid file may be left from an earlier life.
 */
static bool
is_worker(int pid, Oid dboid, PGPROC **proc)
{
	const char *type;

	if (pid == MyProcPid)
		return false;
	*proc = BackendPidGetProc(pid);
	type = GetBackgroundWorkerTypeByPid(pid);
	return *proc != NULL && (*proc)->databaseId == dboid && type != NULL &&
		strcmp(type, RK_WORKER_TYPE) == 0;
}

/*
 * Sets the latch of this database's worker, if one runs; returns false
 * when none does.
 */
static bool
set_worker_latch(void)
{
	PGPROC	   *proc;
	int			pid = worker_pid(MyDatabaseId);

	if (pid <= 0 || !is_worker(pid, MyDatabaseId, &proc))
		return false;
	SetLatch(&proc->procLatch);
	return true;
}

/*
 * Wakes this database's worker, starting one if none runs: called when a
 * transaction that wrote intents has committed.  Never raises but for
 * memory; a worker that cannot be started is a WARNING.
 */
void
rk_worker_wake(void)
{
	if (set_worker_latch())
		return;
	if (!start_worker(MyDatabaseId))
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start the routerkeys worker"),
				 errdetail("The committed intents wait in routerkeys.outbox until a worker starts."),
				 errhint("Raise max_worker_processes.")));
}

/*
 * Stops the worker of a database, if one runs: before DROP DATABASE or a
 * rename, which refuse to run while any session is connected to it.  Only
 * for a role that may drop the database.
 */
void
rk_worker_stop(Oid dboid)
{
	PGPROC	   *proc;
	int			pid = worker_pid(dboid);

	if (pid <= 0 || !is_worker(pid, dboid, &proc))
		return;
#if PG_VERSION_NUM >= 160000
	if (!object_ownercheck(DatabaseRelationId, dboid, GetUserId()))
#else
	if (!pg_database_ownercheck(dboid, GetUserId()))
#endif
		return;
	(void) kill(pid, SIGTERM);
}

/*
 * Takes the lock that makes this worker the only one of its database, and
 * records its pid.  Returns false when another worker holds the lock.
 */
static bool
become_the_worker(void)
{
	LOCKTAG		tag;
	char	   *path = pid_file(MyDatabaseId);
	char	   *tmp = psprintf("%s.tmp", path);
	char		buf[32];
	int			fd;
	int			len;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0, 0, RK_WORKER_LOCK_CLASS);
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		return false;
	if (MakePGDirectory(RK_WORKER_DIR) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", RK_WORKER_DIR)));
	len = snprintf(buf, sizeof(buf), "%d\n", MyProcPid);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY, pg_file_create_mode);
	if (fd < 0 || write(fd, buf, len) != len || close(fd) != 0 || rename(tmp, path) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", path)));
	return true;
}

/*
 * Pauses a server's requests until a time (a 429's Retry-After).
 */
static void
pause_server(const char *server, TimestampTz until)
{
	ListCell   *lc;
	RkPause    *p;
	MemoryContext old;

	foreach(lc, pauses)
	{
		p = (RkPause *) lfirst(lc);
		if (strcmp(p->server, server) == 0)
		{
			p->until = Max(p->until, until);
			return;
		}
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	p = palloc(sizeof(RkPause));
	p->server = pstrdup(server);
	p->until = until;
	pauses = lappend(pauses, p);
	MemoryContextSwitchTo(old);
}

/*
 * Until when a server's requests are paused, or 0 when they are not.
 */
static TimestampTz
paused_until(const char *server)
{
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;

	foreach(lc, pauses)
	{
		RkPause    *p = (RkPause *) lfirst(lc);

		if (strcmp(p->server, server) == 0)
			return p->until > now ? p->until : 0;
	}
	return 0;
}

/*
 * Holds back an intent of a server that a 429 paused meanwhile: it is not
 * sent, and the attempt does not count.  Returns whether it was held.
 */
static bool
held_back(RkIntent *intent)
{
	TimestampTz until = paused_until(intent->config->servername);

	if (until == 0)
		return false;
	intent->end = RK_INTENT_AGAIN;
	intent->retry_at = until;
	intent->uncounted = true;
	return true;
}

/*
 * The servers paused now (for the claim to skip), and when the first pause
 * ends (0: none).
 */
static List *
paused_servers(TimestampTz now, TimestampTz *first_end)
{
	List	   *names = NIL;
	ListCell   *lc;

	*first_end = 0;
	foreach(lc, pauses)
	{
		RkPause    *p = (RkPause *) lfirst(lc);

		if (p->until <= now)
			continue;
		names = lappend(names, p->server);
		if (*first_end == 0 || p->until < *first_end)
			*first_end = p->until;
	}
	return names;
}

/*
 * Loads the configuration an intent is applied with, its server's as its
 * enqueuing role, and what a look-up of its name must leave alone; for
 * rk_outbox_try.
 */
static void
load_config(RkIntent *intent)
{
	RkConfig   *config = rk_options_load(rk_options_resolve_server(intent->server),
										 intent->role);

	rk_http_prepare(config);
	if (intent->key_name != NULL &&
		(intent->uncertain || intent->settling || intent->op == RK_INTENT_CHECK))
		intent->keep_ids = rk_outbox_known_ids(intent->server, intent->key_name);
	intent->config = config;
}

/*
 * The retry budget of the worker's requests: none.  The worker retries an
 * intent itself, later, rather than waiting inside a call.
 */
static RkBudget
no_waiting(void)
{
	RkBudget	budget = {.wait_left_ms = 0};

	return budget;
}

/*
 * When to attempt an intent again after the attempts made: doubling from
 * a second up to a minute, less up to half of it at random.
 */
TimestampTz
rk_worker_backoff(int attempts)
{
	int64		base = Min((int64) USECS_PER_SEC << Min(Max(attempts - 1, 0), 6),
						   60 * USECS_PER_SEC);

	return GetCurrentTimestamp() + base -
		(int64) (pg_prng_double(&pg_global_prng_state) * (base / 2));
}

/*
 * Sets what an intent came to from the outcome of its operation: done; to
 * be tried again (after a backoff, or after Retry-After, which pauses the
 * whole server); or dead when retrying will not help.
 */
static void
judge(RkIntent *intent, RkOutcome *outcome)
{
	const RkConfig *config = intent->config;

	switch (outcome->kind)
	{
		case RK_OUTCOME_DONE:
			intent->end = RK_INTENT_DONE;
			return;
		case RK_OUTCOME_NOT_FOUND:
			if (intent->op != RK_INTENT_UPDATE)
			{
				intent->end = RK_INTENT_DONE;
				return;
			}
			intent->end = RK_INTENT_DEAD;
			break;
		case RK_OUTCOME_RETRY_LATER:
			intent->end = RK_INTENT_AGAIN;
			intent->retry_at = rk_worker_backoff(intent->attempts);
			if (outcome->failure == RK_FAIL_RATE_LIMITED)
			{
				intent->retry_at = outcome->retry_at;
				intent->uncounted = true;
				pause_server(config->servername, outcome->retry_at);
			}
			break;
		case RK_OUTCOME_MAYBE_APPLIED:
			intent->end = RK_INTENT_AGAIN;
			intent->retry_at = rk_worker_backoff(intent->attempts);
			if (intent->op == RK_INTENT_CREATE)
				intent->uncertain = true;
			if (outcome->failure == RK_FAIL_MAY_APPEAR)
				intent->may_appear = true;
			break;
		case RK_OUTCOME_REJECTED:
		case RK_OUTCOME_BROKEN_ANSWER:
			intent->end = RK_INTENT_DEAD;
			if (intent->op == RK_INTENT_CREATE && outcome->failure == RK_FAIL_CONFLICT)
			{
				/* a key of the name exists that no intent made: remove it, then create */
				intent->end = RK_INTENT_AGAIN;
				intent->uncertain = true;
				intent->retry_at = rk_worker_backoff(intent->attempts);
			}
			break;
	}
	outcome->followup_name = NULL;	/* the outbox follows it up itself */
	rk_error_describe(config, outcome, &intent->sqlstate, &intent->message);
}

/*
 * Deletes the keys of an intent's name that no done create of the outbox
 * made and nobody holds the token of (made since intent->since, for a
 * follow-up check).  Returns false, with the intent judged, when that
 * could not be done.
 */
static bool
remove_unheld(RkIntent *intent)
{
	RkBudget	budget = no_waiting();
	RkOutcome	outcome;
	List	   *named;
	ListCell   *lc;

	if (intent->key_name == NULL)
	{
		/* a key an aborted transaction made and could not delete */
		rk_keys_delete(intent->config, intent->key_id, &outcome, &budget, NULL);
		if (outcome.kind == RK_OUTCOME_DONE || outcome.kind == RK_OUTCOME_NOT_FOUND)
			return true;
		judge(intent, &outcome);
		return false;
	}
	named = rk_keys_named(intent->config, intent->key_name, intent->since, &outcome, &budget);
	if (outcome.kind != RK_OUTCOME_DONE)
	{
		judge(intent, &outcome);
		return false;
	}
	foreach(lc, named)
	{
		RkKey	   *key = (RkKey *) lfirst(lc);
		ListCell   *kc;
		bool		kept = false;

		foreach(kc, intent->keep_ids)
			kept = kept || strcmp((char *) lfirst(kc), key->id) == 0;
		if (kept)
			continue;
		rk_keys_delete(intent->config, key->id, &outcome, &budget, NULL);
		if (outcome.kind != RK_OUTCOME_DONE && outcome.kind != RK_OUTCOME_NOT_FOUND)
		{
			judge(intent, &outcome);
			return false;
		}
	}
	return true;
}

/*
 * Applies an update or a delete: to the key id the intent knows, or to
 * every key of its name when it knows none (a create of that name whose
 * id was not recorded, or none).
 */
static void
apply_change(RkIntent *intent)
{
	RkBudget	budget = no_waiting();
	RkOutcome	outcome = {.kind = RK_OUTCOME_DONE};
	List	   *ids = NIL;
	ListCell   *lc;

	if (intent->key_id != NULL)
		ids = list_make1(intent->key_id);
	else
	{
		List	   *named = rk_keys_named(intent->config, intent->key_name, 0, &outcome,
										  &budget);

		if (outcome.kind != RK_OUTCOME_DONE)
		{
			judge(intent, &outcome);
			return;
		}
		foreach(lc, named)
			ids = lappend(ids, ((RkKey *) lfirst(lc))->id);
		if (ids == NIL && intent->op == RK_INTENT_UPDATE)
			outcome.kind = RK_OUTCOME_NOT_FOUND;
	}
	foreach(lc, ids)
	{
		RkKey		key;

		if (intent->op == RK_INTENT_DELETE)
			rk_keys_delete(intent->config, (char *) lfirst(lc), &outcome, &budget, NULL);
		else
			rk_keys_update(intent->config, (char *) lfirst(lc), &intent->update, &key, &outcome,
						   &budget, NULL);
		if (outcome.kind != RK_OUTCOME_DONE &&
			!(outcome.kind == RK_OUTCOME_NOT_FOUND && intent->op == RK_INTENT_DELETE))
			break;
	}
	judge(intent, &outcome);
}

/*
 * Applies updates or deletes (op) of one configuration that know their key
 * id, up to max_concurrency in flight at once; a 429 holds back the waves
 * not yet sent.
 */
static void
apply_changes(RkIntent **changes, int n, RkIntentOp op)
{
	const RkConfig *config = changes[0]->config;
	char	  **ids = palloc(sizeof(char *) * n);
	RkUpdateArgs *args = palloc(sizeof(RkUpdateArgs) * n);
	RkKey	   *keys = palloc0(sizeof(RkKey) * n);
	RkOutcome  *outcomes = palloc0(sizeof(RkOutcome) * n);
	RkBudget	budget = no_waiting();

	for (int i = 0; i < n; i++)
	{
		ids[i] = changes[i]->key_id;
		args[i] = changes[i]->update;
	}
	for (int start = 0; start < n; start += config->max_concurrency)
	{
		int			count = Min(config->max_concurrency, n - start);

		if (held_back(changes[start]))
		{
			for (int i = start + 1; i < n; i++)
				(void) held_back(changes[i]);
			break;
		}
		if (op == RK_INTENT_DELETE)
			rk_keys_delete_many(config, &ids[start], count, &outcomes[start], &budget, NULL);
		else
			rk_keys_update_many(config, &ids[start], &args[start], count, &keys[start],
								&outcomes[start], &budget, NULL);
		for (int i = start; i < start + count; i++)
			judge(changes[i], &outcomes[i]);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Applies the creates of one configuration, up to its max_concurrency in
 * flight at once.  An uncertain create first has the keys of its name
 * that nobody holds deleted.
 */
static void
apply_creates(RkIntent **creates, int n)
{
	const RkConfig *config = creates[0]->config;
	RkCreateArgs *args = palloc(sizeof(RkCreateArgs) * n);
	RkKey	   *keys = palloc0(sizeof(RkKey) * n);
	RkOutcome  *outcomes = palloc0(sizeof(RkOutcome) * n);
	RkIntent  **sending = palloc(sizeof(RkIntent *) * n);
	int			nsending = 0;
	RkBudget	budget = no_waiting();

	for (int i = 0; i < n; i++)
	{
		if (creates[i]->uncertain && !remove_unheld(creates[i]))
			continue;
		args[nsending] = creates[i]->create;
		sending[nsending++] = creates[i];
	}
	for (int start = 0; start < nsending; start += config->max_concurrency)
	{
		int			count = Min(config->max_concurrency, nsending - start);

		if (held_back(sending[start]))
		{
			for (int i = start + 1; i < nsending; i++)
				(void) held_back(sending[i]);
			nsending = start;
			break;
		}
		rk_keys_create_many(config, &args[start], count, &keys[start], false,
							&outcomes[start], &budget, NULL);
		/* a 429 in this wave holds back the next ones at once */
		for (int i = start; i < start + count; i++)
		{
			if (outcomes[i].kind == RK_OUTCOME_RETRY_LATER &&
				outcomes[i].failure == RK_FAIL_RATE_LIMITED)
				pause_server(config->servername, outcomes[i].retry_at);
		}
		CHECK_FOR_INTERRUPTS();
	}
	for (int i = 0; i < nsending; i++)
	{
		judge(sending[i], &outcomes[i]);
		if (sending[i]->end == RK_INTENT_DONE)
		{
			sending[i]->result_key_id = keys[i].id;
			sending[i]->token = keys[i].token;
		}
	}
}

/*
 * Applies the claimed intents: the creates of each configuration together,
 * its updates and its deletes that know their key id likewise, the rest one
 * by one.  No transaction is open.
 */
static void
apply(List *intents)
{
	int			n = list_length(intents);
	RkIntent  **batch = palloc(sizeof(RkIntent *) * Max(n, 1));
	bool	   *taken = palloc0(sizeof(bool) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		RkIntent   *intent = (RkIntent *) list_nth(intents, i);
		int			nbatch = 0;

		if (taken[i] || intent->config == NULL || held_back(intent))
			continue;
		if (intent->settling || intent->op == RK_INTENT_CHECK)
		{
			if (remove_unheld(intent))
				intent->end = RK_INTENT_DONE;
			else if (intent->settling)
				intent->retry_at = rk_worker_backoff(intent->attempts + 1);
			continue;
		}
		if (intent->op != RK_INTENT_CREATE && intent->key_id == NULL)
		{
			apply_change(intent);
			continue;
		}

		/* the intents like this one (same operation and configuration) go together */
		for (int j = i; j < n; j++)
		{
			RkIntent   *other = (RkIntent *) list_nth(intents, j);

			if (!taken[j] && other->config != NULL && other->op == intent->op &&
				!other->settling && (other->op == RK_INTENT_CREATE || other->key_id != NULL) &&
				other->config->serverid == intent->config->serverid &&
				other->config->userid == intent->config->userid)
			{
				batch[nbatch++] = other;
				taken[j] = true;
			}
		}
		if (intent->op == RK_INTENT_CREATE)
			apply_creates(batch, nbatch);
		else
			apply_changes(batch, nbatch, intent->op);
	}
}

/*
 * Starts a transaction of the worker's, in which its memory stays cxt.
 */
static void
begin(MemoryContext cxt)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	MemoryContextSwitchTo(cxt);
}

/*
 * Commits a transaction of the worker's.
 */
static void
commit(MemoryContext cxt)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	pgstat_report_stat(false);
}

/*
 * One round: claim, apply, record.  Returns whether any intent was
 * claimed; else sets *next_due to when one is (0: none).  Sets *gone when
 * the database no longer has the outbox.
 */
static bool
work_round(MemoryContext cxt, TimestampTz *next_due, bool *gone)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz pause_end;
	List	   *taken;
	List	   *intents;
	ListCell   *lc;

	begin(cxt);
	*gone = !rk_outbox_exists();
	if (*gone)
	{
		commit(cxt);
		return false;
	}
	taken = rk_followup_take(&followups);
	if (taken != NIL)
		rk_outbox_add_checks(taken);
	intents = rk_outbox_claim(RK_CLAIM_LIMIT, paused_servers(now, &pause_end));
	/* What fails here (the role lost USAGE, its mapping is gone) makes it dead. */
	foreach(lc, intents)
	{
		RkIntent   *intent = (RkIntent *) lfirst(lc);

		if (!rk_outbox_try(load_config, intent, ""))
			intent->end = RK_INTENT_DEAD;
	}
	if (intents == NIL)
	{
		*next_due = rk_outbox_next_due();
		if (pause_end != 0 && (*next_due == 0 || pause_end < *next_due))
			*next_due = pause_end;
	}
	commit(cxt);
	rk_followup_release(&followups, true);
	if (intents == NIL)
		return false;

	pgstat_report_activity(STATE_RUNNING, "applying intents");
	apply(intents);

	begin(cxt);
	rk_outbox_record(intents);
	commit(cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	return true;
}

/*
 * After an error in the loop: log it, abort, and put back the intents
 * that were claimed.
 */
static void
recover_from_error(MemoryContext cxt)
{
	HOLD_INTERRUPTS();
	EmitErrorReport();
	AbortOutOfAnyTransaction();
	FlushErrorState();
	rk_followup_release(&followups, false);
	RESUME_INTERRUPTS();
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		begin(cxt);
		rk_outbox_recover();
		commit(cxt);
	}
	PG_CATCH();
	{
		EmitErrorReport();
		AbortOutOfAnyTransaction();
		FlushErrorState();
	}
	PG_END_TRY();
}

/*
 * A round, from which an error does not escape: it is logged, and the
 * next round comes after a pause.
 */
static bool
guarded_round(MemoryContext cxt, TimestampTz *next_due, bool *gone)
{
	volatile bool worked = false;

	PG_TRY();
	{
		worked = work_round(cxt, next_due, gone);
	}
	PG_CATCH();
	{
		recover_from_error(cxt);
		*next_due = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), RK_ERROR_PAUSE_MS);
	}
	PG_END_TRY();
	return worked;
}

/*
 * The worker of one database (bgw_main_arg).
 */
void
routerkeys_worker_main(Datum arg)
{
	MemoryContext cxt;
	bool		gone = false;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(arg), InvalidOid, 0);

	if (!become_the_worker())
	{
		(void) set_worker_latch();
		proc_exit(0);
	}
	cxt = AllocSetContextCreate(TopMemoryContext, "routerkeys worker", ALLOCSET_DEFAULT_SIZES);
	begin(cxt);
	gone = !rk_outbox_exists();
	if (!gone)
		rk_outbox_recover();
	commit(cxt);

	while (!gone)
	{
		TimestampTz next_due = 0;
		bool		worked;
		long		timeout = -1;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(cxt);
		MemoryContextSwitchTo(cxt);
		worked = guarded_round(cxt, &next_due, &gone);
		if (worked || gone)
			continue;
		if (next_due != 0)
		{
			TimestampTz now = GetCurrentTimestamp();

			timeout = next_due <= now ? 0 : (long) ((next_due - now + 999) / 1000);
		}
		else if (rk_worker_idle_ms > 0)
			timeout = rk_worker_idle_ms;
		if (WaitLatch(MyLatch,
					  WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (timeout >= 0 ? WL_TIMEOUT : 0),
					  timeout, PG_WAIT_EXTENSION) == WL_TIMEOUT && next_due == 0)
			break;				/* idle for routerkeys.worker_idle_timeout */
		ResetLatch(MyLatch);
	}
	proc_exit(0);
}
