/*-------------------------------------------------------------------------
 *
 * routerkeys.c
 *		Module start: the GUCs, the one-time set-up of the HTTP layer, the
 *		worker's launcher (when preloaded), and the utility hook that stops
 *		a database's worker before DROP DATABASE.
 *
 * Nothing here talks to a server.  The GUC prefix "routerkeys" is reserved,
 * so no setting can be invented under it: in particular no GUC can carry a
 * provisioning key, which lives only in a user mapping.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include <limits.h>

#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "tcop/utility.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

/* routerkeys.default_server: the server used when a call names none. */
char	   *rk_default_server = NULL;

void		_PG_init(void);

static ProcessUtility_hook_type prev_utility_hook = NULL;

/*
 * DROP DATABASE and renaming a database refuse to run while a session is
 * connected to it: the routerkeys worker of that database is stopped first.
 */
static void
utility_hook(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			 ProcessUtilityContext context, ParamListInfo params,
			 QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;
	const char *dbname = NULL;

	if (IsA(stmt, DropdbStmt))
		dbname = ((DropdbStmt *) stmt)->dbname;
	else if (IsA(stmt, RenameStmt) && ((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
		dbname = ((RenameStmt *) stmt)->subname;
	if (dbname != NULL && OidIsValid(get_database_oid(dbname, true)))
		rk_worker_stop(get_database_oid(dbname, true));

	if (prev_utility_hook != NULL)
		prev_utility_hook(pstmt, queryString, readOnlyTree, context, params, queryEnv,
						  dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

/*
 * Module load: define the GUCs and set up libcurl and the connection cache.
 */
void
_PG_init(void)
{
	DefineCustomStringVariable("routerkeys.default_server",
							   "Server used by routerkeys functions that are not given one.",
							   "Empty means: the only routerkeys server, if there is exactly one.",
							   &rk_default_server,
							   "",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("routerkeys.transactional",
							 "Makes changes to router keys follow the transaction.",
							 "On: a create is undone when its transaction or savepoint rolls back, and updates and deletes are sent at commit. Off: every call acts at once.",
							 &rk_transactional,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("routerkeys.settle_delay",
							"Time after which the worker looks up the name of a create that timed out.",
							"The service may carry a create out after the client gave up; a key of that name that no intent made is deleted when this has passed.",
							&rk_worker_settle_ms,
							600000, 0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("routerkeys.worker_idle_timeout",
							"Time after which a worker with nothing to do exits.",
							"The next commit that writes intents starts it again; 0 keeps it running.",
							&rk_worker_idle_ms,
							600000, 0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("routerkeys");

	rk_http_init();
	rk_worker_register_launcher();
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = utility_hook;
}
