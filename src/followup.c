/*-------------------------------------------------------------------------
 *
 * followup.c
 *		The durable record of remote effects left unsettled: a create that
 *		timed out, which the service may still carry out, one whose lost
 *		answer could not be looked up, and a key an aborted transaction
 *		could not delete.  The worker of the database takes the entries into
 *		the outbox as "check" intents, which look such names up and remove
 *		keys that nobody holds the token of.
 *
 * The record must outlive the transaction that made it, which is about to
 * fail: so it is not a table but a file of the data directory,
 * pg_routerkeys/followups, one line per entry, appended with a single
 * write() (O_APPEND) under an exclusive flock() and flushed to disk before
 * the caller goes on (and wakes the worker):
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
 * The worker reads its database's entries under the same lock
 * (rk_followup_take), writes them to the outbox and commits, and only then
 * removes them from the file, rewritten in place (rk_followup_release):
 * a crash in between takes an entry twice, and a check is harmless twice.
 * Appenders wait for the lock at most RK_FOLLOWUP_LOCK_MS, then write
 * anyway: a cleanup path never waits unboundedly.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "miscadmin.h"
#include "storage/fd.h"

#define RK_FOLLOWUP_DIR "pg_routerkeys"
#define RK_FOLLOWUP_FILE RK_FOLLOWUP_DIR "/followups"
#define RK_FOLLOWUP_LOCK_MS 2000	/* an appender's wait for the worker's lock, at most */

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
	for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) != 0 && waited < RK_FOLLOWUP_LOCK_MS;
		 waited += 10)
		pg_usleep(10000L);
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
	rk_worker_wake();
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

/*
 * Decodes the percent-encoding of rk_dialect_append_escaped.
 */
static char *
unescape(const char *text)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (const char *p = text; *p; p++)
	{
		unsigned int c;

		if (*p == '%' && sscanf(p + 1, "%2x", &c) == 1)
		{
			appendStringInfoChar(&buf, (char) c);
			p += 2;
		}
		else
			appendStringInfoChar(&buf, *p);
	}
	return buf.data;
}

/*
 * Parses one line of the record into *f; false when it is not one of this
 * database's (or not a line at all).
 */
static bool
parse_line(const char *line, RkFollowup *f)
{
	char		kind[8];
	char		what[1024];
	unsigned int db;
	unsigned int server;
	unsigned int role;
	long long	since;

	if (sscanf(line, "%7s %u %u %u %lld %1023s", kind, &db, &server, &role, &since, what) != 6 ||
		db != MyDatabaseId || (strcmp(kind, "create") != 0 && strcmp(kind, "delete") != 0))
		return false;
	f->is_create = strcmp(kind, "create") == 0;
	f->serverid = server;
	f->roleid = role;
	f->since = since == 0 ? 0 :
		(TimestampTz) since - (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	f->what = unescape(what);
	return true;
}

/*
 * The worker's side: takes this database's entries (a list of RkFollowup,
 * palloc'd) and holds the record's lock until rk_followup_release.  NIL
 * (and no lock) when there are none.  Errors are raised.
 */
List *
rk_followup_take(RkFollowupFile *file)
{
	List	   *entries = NIL;
	StringInfoData all;
	char		buf[8192];
	ssize_t		got;
	char	   *line;
	char	   *next;

	file->fd = open(RK_FOLLOWUP_FILE, O_RDWR | PG_BINARY, 0);
	file->others = NULL;
	if (file->fd < 0)
	{
		if (errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", RK_FOLLOWUP_FILE)));
		return NIL;
	}
	if (flock(file->fd, LOCK_EX) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not lock file \"%s\": %m", RK_FOLLOWUP_FILE)));
	initStringInfo(&all);
	while ((got = read(file->fd, buf, sizeof(buf))) > 0)
		appendBinaryStringInfo(&all, buf, (int) got);
	file->others = makeStringInfo();
	for (line = all.data; line != NULL && *line != '\0'; line = next)
	{
		RkFollowup *f = palloc0(sizeof(RkFollowup));

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (parse_line(line, f))
			entries = lappend(entries, f);
		else if (*line != '\0')
			appendStringInfo(file->others, "%s\n", line);
	}
	if (entries == NIL)
		rk_followup_release(file, false);
	return entries;
}

/*
 * Ends what rk_followup_take began: with taken, after the entries are
 * committed to the outbox, they are removed from the record (the other
 * databases' entries are kept); then the lock is released.  Never raises:
 * an entry that could not be removed is taken again later.
 */
void
rk_followup_release(RkFollowupFile *file, bool taken)
{
	if (file->fd < 0)
		return;
	if (taken && file->others != NULL &&
		(ftruncate(file->fd, 0) != 0 ||
		 pwrite(file->fd, file->others->data, file->others->len, 0) != file->others->len ||
		 pg_fsync(file->fd) != 0))
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not rewrite file \"%s\": %m", RK_FOLLOWUP_FILE)));
	close(file->fd);
	file->fd = -1;
}
