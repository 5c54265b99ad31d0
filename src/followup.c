/*-------------------------------------------------------------------------
 *
 * followup.c
 *		The durable record of remote effects left unsettled: a create that
 *		timed out, which the service may still carry out, one whose lost
 *		answer could not be looked up, and a key an aborted transaction
 *		could not delete.  A later check (the background worker
 *		of durable provisioning) looks such names up and removes a key that
 *		nobody holds the token of.
 *
 * The record must outlive the transaction that made it, which is about to
 * fail: so it is not a table but a file of the data directory,
 * pg_routerkeys/followups, one line per entry, appended with a single
 * write() (O_APPEND) and flushed to disk before the caller goes on:
 *
 *	create <database oid> <server oid> <role oid> <since> <name>
 *	delete <database oid> <server oid> <role oid> 0 <key id>
 *
 * with since the service's time from which a key the create made would
 * date, in microseconds since the Unix epoch, and the name percent-encoded:
 * a create that may have left a key, and a key an aborted transaction
 * created and could not delete.  Nothing here raises an error: a record
 * that cannot be written is a WARNING.  rk_followup_check is how the SQL
 * surfaces end a failed operation: record, then raise.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "miscadmin.h"
#include "storage/fd.h"

#define RK_FOLLOWUP_DIR "pg_routerkeys"
#define RK_FOLLOWUP_FILE RK_FOLLOWUP_DIR "/followups"

/*
 * Appends one line to the record and flushes it.  Returns false with errno
 * set when that failed.
 */
static bool
append_line(const char *line, size_t len)
{
	int			fd;
	bool		ok;

	if (MakePGDirectory(RK_FOLLOWUP_DIR) != 0 && errno != EEXIST)
		return false;
	fd = open(RK_FOLLOWUP_FILE, O_WRONLY | O_APPEND | O_CREAT | PG_BINARY, pg_file_create_mode);
	if (fd < 0)
		return false;
	ok = write(fd, line, len) == (ssize_t) len && pg_fsync(fd) == 0;
	if (!ok)
	{
		int			save_errno = errno;

		close(fd);
		errno = save_errno;
		return false;
	}
	return close(fd) == 0;
}

/*
 * Appends one entry: what to check (kind), where, since when on the
 * service's clock (microseconds since the Unix epoch; 0: not needed), and
 * the name or id it is about.  A failure is a WARNING.
 */
static void
record(const char *kind, const RkConfig *config, TimestampTz service_since, const char *what)
{
	StringInfoData line;
	int64		since = service_since == 0 ? 0 :
		(int64) service_since + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;

	initStringInfo(&line);
	appendStringInfo(&line, "%s %u %u %u " INT64_FORMAT " ", kind, MyDatabaseId,
					 config->serverid, config->userid, since);
	rk_dialect_append_escaped(&line, what);
	appendStringInfoChar(&line, '\n');
	if (!append_line(line.data, line.len))
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not record a follow-up check of \"%s\" in file \"%s\": %m",
						what, RK_FOLLOWUP_FILE)));
	pfree(line.data);
}

/*
 * Records the follow-up an outcome asks for, if any: a create that may
 * have left a key behind.
 */
void
rk_followup_note(const RkConfig *config, const RkOutcome *outcome)
{
	if (outcome->followup_name != NULL)
		record("create", config, outcome->service_since, outcome->followup_name);
}

/*
 * Records that a key a transaction created and then undid could not be
 * deleted: the check is to delete it.  Never raises but for memory.
 */
void
rk_followup_note_delete(const RkConfig *config, const char *id)
{
	record("delete", config, 0, id);
}

/*
 * Raises the error of an outcome that is not done, after recording the
 * follow-up check it may ask for: the SQL surfaces' way to end an
 * operation that failed.
 */
void
rk_followup_check(const RkConfig *config, const RkOutcome *outcome)
{
	if (outcome->kind == RK_OUTCOME_DONE)
		return;
	rk_followup_note(config, outcome);
	rk_error_raise(config, outcome);
}
