/*-------------------------------------------------------------------------
 *
 * errors.c
 *		Turns a failed request into an ERROR: SQLSTATE, a lower-case primary
 *		message naming the server, the remote message in DETAIL, a HINT when
 *		the user can act, and a CONTEXT line naming the request.
 *
 * Remote text goes through errdetail_internal (it is not ours to translate)
 * after the provisioning key has been redacted from it, should the service
 * ever echo it.  A non-JSON body is described by its type and size, never
 * quoted.  The table in README.md ("Errors") mirrors report_status().
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include "miscadmin.h"
#include "utils/builtins.h"

/*
 * Whether a request ended with a 2xx answer.
 */
bool
rk_error_is_success(const RkRequest *request)
{
	return request->transport == RK_TRANSPORT_OK &&
		request->status >= 200 && request->status < 300;
}

/*
 * Returns text with every occurrence of the provisioning key replaced.
 */
static char *
redact(const RkConfig *config, const char *text)
{
	const char *key = config->provisioning_key;
	size_t		keylen = key != NULL ? strlen(key) : 0;
	StringInfoData buf;
	const char *hit;

	if (text == NULL || keylen == 0 || strstr(text, key) == NULL)
		return (char *) text;
	initStringInfo(&buf);
	while ((hit = strstr(text, key)) != NULL)
	{
		appendBinaryStringInfo(&buf, text, hit - text);
		appendStringInfoString(&buf, "[redacted]");
		text = hit + keylen;
	}
	appendStringInfoString(&buf, text);
	return buf.data;
}

/*
 * The DETAIL of a failed request: the remote message, or a description of
 * a body that has none, plus the number of attempts when there were several.
 */
static char *
describe_failure(const RkConfig *config, const RkRequest *request)
{
	StringInfoData buf;
	char	   *message = NULL;

	initStringInfo(&buf);
	if (request->transport != RK_TRANSPORT_OK)
		appendStringInfo(&buf, "%s.", redact(config, request->transport_detail));
	else if (request->response_len == 0)
		appendStringInfo(&buf, "The answer was HTTP status %ld with an empty body.", request->status);
	else if ((message = rk_contract_error_message(request->response, request->response_len)) != NULL)
	{
		for (char *p = message; *p; p++)
		{
			if ((unsigned char) *p < 0x20 || *p == 0x7f)
				*p = ' ';		/* no control characters from afar in a message */
		}
		appendStringInfo(&buf, "The server said: %s", redact(config, message));
		if (strchr(".!?", buf.data[buf.len - 1]) == NULL)
			appendStringInfoChar(&buf, '.');
	}
	else
		appendStringInfo(&buf, "The answer was HTTP status %ld with a %zu-byte %s body that carries no error message.",
						 request->status, request->response_len,
						 request->content_type != NULL ? request->content_type : "untyped");
	if (request->attempts > 1)
		appendStringInfo(&buf, " The request was tried %d times.", request->attempts);
	return buf.data;
}

/*
 * Adds "request METHOD path on server" as the error context.
 */
static void
request_context(const RkConfig *config, const RkRequest *request)
{
	errcontext("routerkeys request %s %s on server \"%s\"",
			   request->method, request->path, config->servername);
}

/*
 * Reports a transfer that produced no usable HTTP answer.
 */
static void
report_transport(const RkConfig *config, const RkRequest *request, const char *detail)
{
	switch (request->transport)
	{
		case RK_TRANSPORT_CONNECT:
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("could not connect to server \"%s\"", config->servername),
					 errdetail_internal("%s", detail),
					 errhint("Check the server's url option and that the service is reachable."),
					 request_context(config, request)));
			break;
		case RK_TRANSPORT_TLS:
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("could not establish a secure connection to server \"%s\"", config->servername),
					 errdetail_internal("%s", detail),
					 errhint("Check the service's certificate, or name a private certificate authority in the server's ca_file option."),
					 request_context(config, request)));
			break;
		case RK_TRANSPORT_TIMEOUT:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("request to server \"%s\" timed out", config->servername),
					 errdetail_internal("%s", detail),
					 errhint("The limit is the server's timeout_ms option, now %d ms.", config->timeout_ms),
					 request_context(config, request)));
			break;
		case RK_TRANSPORT_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("response from server \"%s\" is larger than max_response_bytes", config->servername),
					 errdetail("The limit is %lld bytes.", (long long) config->max_response_bytes),
					 errhint("Raise the server's max_response_bytes option, or lower its page_size."),
					 request_context(config, request)));
			break;
		case RK_TRANSPORT_LOST:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("connection to server \"%s\" was lost during a request", config->servername),
					 errdetail_internal("%s", detail),
					 request_context(config, request)));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("request to server \"%s\" failed", config->servername),
					 errdetail_internal("%s", detail),
					 request_context(config, request)));
			break;
	}
}

/*
 * Reports an HTTP answer with an error status.
 */
static void
report_status(const RkConfig *config, const RkRequest *request, const char *key_id,
			  const char *detail)
{
	long		status = request->status;

	switch (status)
	{
		case 400:
		case 422:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("server \"%s\" rejected the request as invalid", config->servername),
					 errdetail_internal("%s", detail),
					 request_context(config, request)));
			break;
		case 401:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("server \"%s\" rejected the provisioning key", config->servername),
					 errdetail_internal("%s", detail),
					 errhint("Check the provisioning_key option of the user mapping for role \"%s\": the key may be wrong, disabled or revoked.",
							 GetUserNameFromId(config->userid, false)),
					 request_context(config, request)));
			break;
		case 403:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("server \"%s\" refused the request", config->servername),
					 errdetail_internal("%s", detail),
					 errhint("A provisioning key manages router keys only, not workspace keys; a revoked provisioning key is refused too."),
					 request_context(config, request)));
			break;
		case 404:
			if (key_id != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("key \"%s\" does not exist on server \"%s\"", key_id, config->servername),
						 errdetail_internal("%s", detail),
						 request_context(config, request)));
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("server \"%s\" has no such endpoint", config->servername),
					 errdetail_internal("%s", detail),
					 errhint("Check the server's url option."),
					 request_context(config, request)));
			break;
		case 409:
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("server \"%s\" reported a conflict", config->servername),
					 errdetail_internal("%s", detail),
					 errhint("Key names are unique within a workspace."),
					 request_context(config, request)));
			break;
		case 429:
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("server \"%s\" is rate limiting requests", config->servername),
					 errdetail_internal("%s", detail),
					 request->retry_after >= 0 ?
					 errhint_plural("Tried %d time; the last Retry-After was %g seconds. The server's max_retries and retry_max_wait_ms options bound the waiting.",
									"Tried %d times; the last Retry-After was %g seconds. The server's max_retries and retry_max_wait_ms options bound the waiting.",
									request->attempts, request->attempts, request->retry_after) :
					 errhint_plural("Tried %d time. The server's max_retries and retry_max_wait_ms options bound the waiting.",
									"Tried %d times. The server's max_retries and retry_max_wait_ms options bound the waiting.",
									request->attempts, request->attempts),
					 request_context(config, request)));
			break;
		case 502:
		case 503:
		case 504:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("server \"%s\" is unavailable (HTTP status %ld)", config->servername, status),
					 errdetail_internal("%s", detail),
					 request_context(config, request)));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("server \"%s\" answered with HTTP status %ld", config->servername, status),
					 errdetail_internal("%s", detail),
					 request_context(config, request)));
			break;
	}
}

/*
 * Raises the ERROR for a request that did not succeed.  key_id names the key
 * the request was about, or is NULL.
 */
void
rk_error_raise(const RkConfig *config, const RkRequest *request, const char *key_id)
{
	char	   *detail = describe_failure(config, request);

	if (request->transport != RK_TRANSPORT_OK)
		report_transport(config, request, detail);
	else
		report_status(config, request, key_id, detail);
	pg_unreachable();
}

/*
 * Raises the ERROR for a 2xx answer whose body breaks the contract.
 */
void
rk_error_invalid_response(const RkConfig *config, const RkRequest *request,
						  const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("server \"%s\" sent an invalid response", config->servername),
			 errdetail_internal("%s", redact(config, problem)),
			 request_context(config, request)));
	pg_unreachable();
}
