/*-------------------------------------------------------------------------
 *
 * errors.c
 *		The only place that turns an RkOutcome into an ERROR, or into a
 *		WARNING for a cleanup path that must not throw: SQLSTATE, a
 *		lower-case primary message naming the server, the remote message in
 *		DETAIL, a HINT when the user can act, and a CONTEXT line naming the
 *		request.
 *
 * What each failure becomes is one table (failure_reports); README.md
 * ("Errors") mirrors it.  Remote text goes through errdetail_internal (it is
 * not ours to translate) after the provisioning key has been redacted from
 * it, should the service ever echo it.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include "miscadmin.h"
#include "utils/builtins.h"

/* How a failure reads.  Messages take the server's name; see arguments. */
typedef enum RkMessageArgs
{
	RK_ARGS_SERVER,				/* "…%s…": the server */
	RK_ARGS_SERVER_STATUS,		/* "…%s…%ld…": the server, the HTTP status */
	RK_ARGS_KEY_SERVER			/* "…%s…%s…": the key id, the server */
} RkMessageArgs;

typedef struct RkFailureReport
{
	RkFailure	failure;
	int			sqlstate;
	RkMessageArgs args;
	const char *message;
} RkFailureReport;

static const RkFailureReport failure_reports[] = {
	{RK_FAIL_INVALID_REQUEST, ERRCODE_INVALID_PARAMETER_VALUE, RK_ARGS_SERVER,
	"server \"%s\" rejected the request as invalid"},
	{RK_FAIL_AUTHENTICATION, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, RK_ARGS_SERVER,
	"server \"%s\" rejected the provisioning key"},
	{RK_FAIL_FORBIDDEN, ERRCODE_INSUFFICIENT_PRIVILEGE, RK_ARGS_SERVER,
	"server \"%s\" refused the request"},
	{RK_FAIL_NO_SUCH_KEY, ERRCODE_UNDEFINED_OBJECT, RK_ARGS_KEY_SERVER,
	"key \"%s\" does not exist on server \"%s\""},
	{RK_FAIL_NO_ENDPOINT, ERRCODE_FDW_ERROR, RK_ARGS_SERVER,
	"server \"%s\" has no such endpoint"},
	{RK_FAIL_CONFLICT, ERRCODE_UNIQUE_VIOLATION, RK_ARGS_SERVER,
	"server \"%s\" reported a conflict"},
	{RK_FAIL_RATE_LIMITED, ERRCODE_CONFIGURATION_LIMIT_EXCEEDED, RK_ARGS_SERVER,
	"server \"%s\" is rate limiting requests"},
	{RK_FAIL_UNAVAILABLE, ERRCODE_CONNECTION_FAILURE, RK_ARGS_SERVER_STATUS,
	"server \"%s\" is unavailable (HTTP status %ld)"},
	{RK_FAIL_SERVER_ERROR, ERRCODE_FDW_ERROR, RK_ARGS_SERVER_STATUS,
	"server \"%s\" answered with HTTP status %ld"},
	{RK_FAIL_OTHER_STATUS, ERRCODE_FDW_ERROR, RK_ARGS_SERVER_STATUS,
	"server \"%s\" answered with HTTP status %ld"},
	{RK_FAIL_CONNECT, ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION, RK_ARGS_SERVER,
	"could not connect to server \"%s\""},
	{RK_FAIL_TLS, ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION, RK_ARGS_SERVER,
	"could not establish a secure connection to server \"%s\""},
	{RK_FAIL_TIMEOUT, ERRCODE_CONNECTION_FAILURE, RK_ARGS_SERVER,
	"request to server \"%s\" timed out"},
	{RK_FAIL_LOST, ERRCODE_CONNECTION_FAILURE, RK_ARGS_SERVER,
	"connection to server \"%s\" was lost during a request"},
	{RK_FAIL_TOO_LARGE, ERRCODE_PROGRAM_LIMIT_EXCEEDED, RK_ARGS_SERVER,
	"response from server \"%s\" is larger than max_response_bytes"},
	{RK_FAIL_INTERNAL, ERRCODE_FDW_ERROR, RK_ARGS_SERVER,
	"could not send a request to server \"%s\""},
	{RK_FAIL_BROKEN_ANSWER, ERRCODE_PROTOCOL_VIOLATION, RK_ARGS_SERVER,
	"server \"%s\" sent an invalid response"},
	{RK_FAIL_MAY_APPEAR, ERRCODE_CONNECTION_FAILURE, RK_ARGS_SERVER,
	"request to server \"%s\" timed out"},
};

/*
 * The report of a failure.
 */
static const RkFailureReport *
report_of(RkFailure failure)
{
	for (int i = 0; i < (int) lengthof(failure_reports); i++)
	{
		if (failure_reports[i].failure == failure)
			return &failure_reports[i];
	}
	elog(ERROR, "unrecognized routerkeys failure %d", (int) failure);
	return NULL;				/* keep compiler quiet */
}

/*
 * Returns text (palloc'd) with every occurrence of a secret replaced by a
 * mark; NULL for NULL.
 */
char *
rk_error_without(const char *text, const char *secret, const char *mark)
{
	size_t		len = secret != NULL ? strlen(secret) : 0;
	StringInfoData buf;
	const char *hit;

	if (text == NULL)
		return NULL;
	initStringInfo(&buf);
	while (len > 0 && (hit = strstr(text, secret)) != NULL)
	{
		appendBinaryStringInfo(&buf, text, hit - text);
		appendStringInfoString(&buf, mark);
		text = hit + len;
	}
	appendStringInfoString(&buf, text);
	return buf.data;
}

/*
 * Returns text with every occurrence of the provisioning key replaced, and
 * control characters from afar made spaces.
 */
static char *
redact(const RkConfig *config, const char *text)
{
	char	   *buf = rk_error_without(text, config->provisioning_key, "[redacted]");

	for (char *p = buf; p != NULL && *p; p++)
	{
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = ' ';
	}
	return buf;
}

/*
 * The DETAIL: the remote message or the problem, and the attempts made.
 */
static char *
detail_of(const RkConfig *config, const RkOutcome *outcome)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (outcome->failure == RK_FAIL_TOO_LARGE)
		appendStringInfo(&buf, "The limit is %lld bytes.", (long long) config->max_response_bytes);
	else if (outcome->problem != NULL)
		appendStringInfoString(&buf, redact(config, outcome->problem));
	else if (outcome->remote_message != NULL)
		appendStringInfoString(&buf, redact(config, outcome->remote_message));
	if (outcome->failure == RK_FAIL_MAY_APPEAR)
		appendStringInfo(&buf, " The service may still carry the create out, so a key named \"%s\" may still appear; it is recorded for a follow-up check.",
						 outcome->followup_name);
	else if (outcome->followup_name != NULL)
		appendStringInfo(&buf, " A key named \"%s\" may have been made, and could not be looked up; it is recorded for a follow-up check.",
						 outcome->followup_name);
	if (outcome->attempts > 1)
		appendStringInfo(&buf, " The request was tried %d times.", outcome->attempts);
	return buf.len > 0 ? buf.data : NULL;
}

/*
 * The HINT: what the user can do about a failure, or NULL.
 */
static char *
hint_of(const RkConfig *config, const RkOutcome *outcome)
{
	switch (outcome->failure)
	{
		case RK_FAIL_AUTHENTICATION:
			return psprintf("Check the %s option of the user mapping for role \"%s\": the key may be wrong, disabled or revoked.",
							config->key_option, GetUserNameFromId(config->userid, false));
		case RK_FAIL_RATE_LIMITED:
			if (outcome->wait_refused)
				return psprintf("The server asked to wait %.0f seconds, more than is left of the server's retry_max_wait_ms option (%d ms); try again later.",
								outcome->retry_after, config->retry_max_wait_ms);
			return psprintf("The server's max_retries (%d) and retry_max_wait_ms (%d ms) options bound the retries.",
							config->max_retries, config->retry_max_wait_ms);
		case RK_FAIL_TIMEOUT:
		case RK_FAIL_MAY_APPEAR:
			return psprintf("The limit is the server's timeout_ms option, now %d ms.",
							config->timeout_ms);
		case RK_FAIL_CONNECT:
			return pstrdup("Check the server's url option and that the service is reachable.");
		case RK_FAIL_TLS:
			return pstrdup("Check the service's certificate, or name a private certificate authority in the server's ca_file option.");
		case RK_FAIL_NO_ENDPOINT:
			return pstrdup("Check the server's url option.");
		case RK_FAIL_TOO_LARGE:
			return pstrdup("Raise the server's max_response_bytes option, or lower its page_size.");
		default:
			return outcome->hint != NULL ? pstrdup(outcome->hint) : NULL;
	}
}

/*
 * The primary message of an outcome.
 */
static char *
message_of(const RkConfig *config, const RkOutcome *outcome)
{
	const RkFailureReport *r = report_of(outcome->failure);

	if (r->args == RK_ARGS_SERVER_STATUS)
		return psprintf(r->message, config->servername, outcome->status);
	if (r->args == RK_ARGS_KEY_SERVER)
		return psprintf(r->message, outcome->key_id != NULL ? outcome->key_id : "",
						config->servername);
	return psprintf(r->message, config->servername);
}

/*
 * Reports an outcome at elevel (ERROR or WARNING).
 */
static void
report(const RkConfig *config, const RkOutcome *outcome, int elevel)
{
	const RkFailureReport *r = report_of(outcome->failure);
	char	   *detail = detail_of(config, outcome);
	char	   *hint = hint_of(config, outcome);

	ereport(elevel,
			(errcode(r->sqlstate),
			 errmsg_internal("%s", message_of(config, outcome)),
			 detail != NULL ? errdetail_internal("%s", detail) : 0,
			 hint != NULL ? errhint("%s", hint) : 0,
			 outcome->path != NULL ?
			 errcontext("routerkeys request %s %s on server \"%s\"",
						outcome->method, outcome->path, config->servername) : 0));
}

/*
 * Raises the ERROR of an outcome that is not RK_OUTCOME_DONE.
 */
void
rk_error_raise(const RkConfig *config, const RkOutcome *outcome)
{
	report(config, outcome, ERROR);
	pg_unreachable();
}

/*
 * Reports an outcome as a WARNING, for a cleanup path that must go on.
 */
void
rk_error_warn(const RkConfig *config, const RkOutcome *outcome)
{
	report(config, outcome, WARNING);
}

/*
 * An outcome as data, for the worker to record: its SQLSTATE and its
 * message followed by its detail, redacted as a report would be.
 */
void
rk_error_describe(const RkConfig *config, const RkOutcome *outcome, char **sqlstate,
				  char **message)
{
	char	   *detail = detail_of(config, outcome);

	*sqlstate = pstrdup(unpack_sql_state(report_of(outcome->failure)->sqlstate));
	*message = detail != NULL ? psprintf("%s: %s", message_of(config, outcome), detail) :
		message_of(config, outcome);
}
