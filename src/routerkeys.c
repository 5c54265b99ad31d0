/*-------------------------------------------------------------------------
 *
 * routerkeys.c
 *		Module start: the GUCs and the one-time set-up of the HTTP layer.
 *
 * Nothing here talks to a server.  The GUC prefix "routerkeys" is reserved,
 * so no setting can be invented under it: in particular no GUC can carry a
 * provisioning key, which lives only in a user mapping.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include <limits.h>

#include "utils/guc.h"

PG_MODULE_MAGIC;

/* routerkeys.default_server: the server used when a call names none. */
char	   *rk_default_server = NULL;

void		_PG_init(void);

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
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("routerkeys");

	rk_http_init();
	rk_worker_register_launcher();
}
