/*-------------------------------------------------------------------------
 *
 * http.c
 *		The HTTP layer: the only file that includes libcurl.
 *
 * Transfers run on curl's multi interface.  The backend waits in a
 * WaitEventSet on the sockets curl reports and on its own latch, so a
 * cancel or statement_timeout is noticed at once (CHECK_FOR_INTERRUPTS right
 * after the latch wakes us) and a batch of requests runs concurrently.
 *
 * Connections: one multi handle per user mapping (the key of the cache, as in
 * postgres_fdw), holding curl's pool of keep-alive connections, with idle
 * easy handles to reuse and the WaitEventSet of its sockets, which is built
 * again only when the sockets change.  A change to the server or the
 * mapping marks the entry invalid through a syscache callback; it is
 * dropped, connections and all, the next time it is looked up.
 *
 * Rules: no ereport, palloc or longjmp inside a libcurl callback (callbacks
 * only fill malloc'd buffers and fixed arrays and set flags).  Easy handles
 * and their buffers are handed back on every path by the PG_FINALLY of
 * perform_batch; the WaitEventSet lives in TopMemoryContext with its entry.  Response data is copied into palloc'd memory
 * of the caller's context only after the transfer has ended.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/pg_prng.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#define RK_MAX_SOCKETS 128		/* more than CURLMOPT_MAX_TOTAL_CONNECTIONS */
#define RK_MAX_CONNECTIONS 64
#define RK_BACKOFF_BASE_MS 100
#define RK_BACKOFF_CAP_MS 5000

/* A socket curl asked us to watch. */
typedef struct RkSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN, _OUT or _INOUT */
} RkSocket;

/* The connection cache entry of one user mapping. */
typedef struct RkConnection
{
	Oid			umid;			/* hash key: the user mapping */
	CURLM	   *multi;
	uint32		server_hashvalue;
	uint32		mapping_hashvalue;
	bool		invalidated;

	/* Filled by the socket, close and timer callbacks, read by the wait loop. */
	RkSocket	sockets[RK_MAX_SOCKETS];
	int			nsockets;
	bool		sockets_renewed;	/* a socket was opened or closed: fd numbers
									 * may have been reused */
	bool		timer_set;
	TimestampTz timer_deadline;

	/* What wait_set was built from. */
	WaitEventSet *wait_set;
	RkSocket	registered[RK_MAX_SOCKETS];
	int			nregistered;

	CURL	   *idle[RK_MAX_CONNECTIONS];	/* easy handles to reuse */
	int			nidle;
} RkConnection;

/* One transfer in flight: what the callbacks write to. */
typedef struct RkTransfer
{
	CURL	   *easy;
	RkRequest  *request;
	char	   *url;
	char	   *data;			/* malloc'd response body */
	size_t		len;
	size_t		cap;
	size_t		limit;
	bool		too_large;
	bool		out_of_memory;
	double		retry_after;
	bool		done;
	CURLcode	result;
	char		errbuf[CURL_ERROR_SIZE];
} RkTransfer;

static HTAB *ConnectionHash = NULL;
static struct curl_slist *rk_headers = NULL;

/*
 * Sets up libcurl for the life of the process.  Called once from _PG_init.
 */
void
rk_http_init(void)
{
	struct curl_slist *h = NULL;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialize libcurl")));

	h = curl_slist_append(h, "Accept: application/json");
	if (h != NULL)
		h = curl_slist_append(h, "Content-Type: application/json");
	if (h != NULL)
		h = curl_slist_append(h, "Expect:");	/* no 100-continue round trip */
	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	rk_headers = h;
}

/*
 * Syscache callback: marks the connections of a changed server or user
 * mapping invalid.  hashvalue 0 means "everything may have changed".
 */
static void
invalidate_connections(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS scan;
	RkConnection *entry;

	hash_seq_init(&scan, ConnectionHash);
	while ((entry = (RkConnection *) hash_seq_search(&scan)) != NULL)
	{
		if (hashvalue == 0 ||
			(cacheid == FOREIGNSERVEROID && entry->server_hashvalue == hashvalue) ||
			(cacheid == USERMAPPINGOID && entry->mapping_hashvalue == hashvalue))
			entry->invalidated = true;
	}
}

/*
 * libcurl socket callback: records which sockets to wait on, and for what.
 */
static int
socket_callback(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	RkConnection *conn = (RkConnection *) userp;
	int			i;

	for (i = 0; i < conn->nsockets; i++)
		if (conn->sockets[i].fd == fd)
			break;

	if (what == CURL_POLL_REMOVE)
	{
		if (i < conn->nsockets)
			conn->sockets[i] = conn->sockets[--conn->nsockets];
	}
	else if (i < conn->nsockets)
		conn->sockets[i].what = what;
	else
	{
		if (conn->nsockets >= RK_MAX_SOCKETS)
			return -1;
		conn->sockets[conn->nsockets].fd = fd;
		conn->sockets[conn->nsockets].what = what;
		conn->nsockets++;
	}
	return 0;
}

/*
 * libcurl open-socket callback: opens the socket and notes that the wait
 * set must be built again, since the new socket may have the number of one
 * closed behind curl's back (its resolver's, for instance).
 */
static curl_socket_t
open_socket_callback(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	RkConnection *conn = (RkConnection *) clientp;

	conn->sockets_renewed = true;
	return socket(address->family, address->socktype, address->protocol);
}

/*
 * libcurl close-socket callback: closes the socket and notes that the wait
 * set must be built again, since the number may come back for another one.
 */
static int
close_socket_callback(void *clientp, curl_socket_t fd)
{
	RkConnection *conn = (RkConnection *) clientp;

	conn->sockets_renewed = true;
	return close(fd);
}

/*
 * libcurl timer callback: records when curl next wants to be called.
 */
static int
timer_callback(CURLM *multi, long timeout_ms, void *userp)
{
	RkConnection *conn = (RkConnection *) userp;

	conn->timer_set = timeout_ms >= 0;
	if (conn->timer_set)
		conn->timer_deadline = GetCurrentTimestamp() + (TimestampTz) timeout_ms * 1000;
	return 0;
}

/*
 * Releases a connection cache entry's libcurl state (and so its sockets).
 */
static void
drop_connection(RkConnection *conn)
{
	while (conn->nidle > 0)
		curl_easy_cleanup(conn->idle[--conn->nidle]);
	if (conn->multi != NULL)
		curl_multi_cleanup(conn->multi);
	conn->multi = NULL;
	conn->nsockets = 0;
	if (conn->wait_set != NULL)
		FreeWaitEventSet(conn->wait_set);
	conn->wait_set = NULL;
}

/*
 * An easy handle for a transfer: an idle one of the connection, reset, or a
 * new one.
 */
static CURL *
take_easy(RkConnection *conn)
{
	CURL	   *easy;

	if (conn->nidle == 0)
		return curl_easy_init();
	easy = conn->idle[--conn->nidle];
	curl_easy_reset(easy);
	return easy;
}

/*
 * Hands an easy handle, removed from the multi handle, back for reuse.
 */
static void
give_back_easy(RkConnection *conn, CURL *easy)
{
	if (conn->nidle < RK_MAX_CONNECTIONS)
		conn->idle[conn->nidle++] = easy;
	else
		curl_easy_cleanup(easy);
}

/*
 * Returns the connection cache entry for the config's user mapping, making
 * a new one when there is none or the old one was invalidated.
 */
static RkConnection *
get_connection(const RkConfig *config)
{
	RkConnection *conn;
	bool		found;

	if (ConnectionHash == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RkConnection);
		ConnectionHash = hash_create("routerkeys connections", 8, &ctl,
									 HASH_ELEM | HASH_BLOBS);
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID, invalidate_connections, (Datum) 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID, invalidate_connections, (Datum) 0);
	}

	conn = hash_search(ConnectionHash, &config->umid, HASH_ENTER, &found);
	if (found && conn->invalidated)
	{
		drop_connection(conn);
		found = false;
	}
	if (found && conn->multi != NULL)
		return conn;

	memset(((char *) conn) + sizeof(Oid), 0, sizeof(RkConnection) - sizeof(Oid));
	conn->server_hashvalue = GetSysCacheHashValue1(FOREIGNSERVEROID,
												   ObjectIdGetDatum(config->serverid));
	conn->mapping_hashvalue = GetSysCacheHashValue1(USERMAPPINGOID,
													ObjectIdGetDatum(config->umid));
	conn->multi = curl_multi_init();
	if (conn->multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	curl_multi_setopt(conn->multi, CURLMOPT_SOCKETFUNCTION, socket_callback);
	curl_multi_setopt(conn->multi, CURLMOPT_SOCKETDATA, conn);
	curl_multi_setopt(conn->multi, CURLMOPT_TIMERFUNCTION, timer_callback);
	curl_multi_setopt(conn->multi, CURLMOPT_TIMERDATA, conn);
	curl_multi_setopt(conn->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long) RK_MAX_CONNECTIONS);
	curl_multi_setopt(conn->multi, CURLMOPT_MAXCONNECTS, (long) RK_MAX_CONNECTIONS);
	return conn;
}

/*
 * libcurl write callback: appends to the transfer's malloc'd buffer, and
 * stops the transfer (by returning 0) once it would exceed the size cap.
 */
static size_t
write_callback(char *data, size_t size, size_t nmemb, void *userp)
{
	RkTransfer *t = (RkTransfer *) userp;
	size_t		n = size * nmemb;

	if (t->len + n > t->limit)
	{
		t->too_large = true;
		return 0;
	}
	if (t->len + n + 1 > t->cap)
	{
		size_t		cap = Max(t->cap * 2, t->len + n + 1);
		char	   *grown;

		cap = Max(cap, 8192);
		grown = realloc(t->data, cap);
		if (grown == NULL)
		{
			t->out_of_memory = true;
			return 0;
		}
		t->data = grown;
		t->cap = cap;
	}
	memcpy(t->data + t->len, data, n);
	t->len += n;
	return n;
}

/*
 * libcurl header callback: picks up Retry-After, in seconds or as an HTTP date.
 */
static size_t
header_callback(char *data, size_t size, size_t nmemb, void *userp)
{
	RkTransfer *t = (RkTransfer *) userp;
	size_t		n = size * nmemb;
	static const char name[] = "retry-after:";
	char		value[128];
	size_t		vlen;
	char	   *end;
	double		seconds;

	if (n <= sizeof(name) - 1 || pg_strncasecmp(data, name, sizeof(name) - 1) != 0)
		return n;
	vlen = Min(n - (sizeof(name) - 1), sizeof(value) - 1);
	memcpy(value, data + sizeof(name) - 1, vlen);
	value[vlen] = '\0';
	while (vlen > 0 && (value[vlen - 1] == '\r' || value[vlen - 1] == '\n' || value[vlen - 1] == ' '))
		value[--vlen] = '\0';

	seconds = strtod(value, &end);
	if (end != value && *end == '\0' && seconds >= 0)
		t->retry_after = seconds;
	else
	{
		time_t		when = curl_getdate(value, NULL);

		if (when != -1)
			t->retry_after = Max(0, (double) (when - time(NULL)));
	}
	return n;
}

/*
 * Prepares the easy handle of one transfer.  Caller is responsible for
 * cleaning up t->easy, also when this errors out.
 */
static void
setup_transfer(RkTransfer *t, RkConnection *conn, const RkConfig *config, RkRequest *request)
{
	CURL	   *easy;

	t->request = request;
	t->retry_after = -1;
	t->limit = (size_t) config->max_response_bytes;
	t->url = psprintf("%s%s", config->url, request->path);

	t->easy = easy = take_easy(conn);
	if (easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	curl_easy_setopt(easy, CURLOPT_URL, t->url);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket_callback);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, conn);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_socket_callback);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, conn);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_callback);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_callback);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) config->connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) config->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) config->max_response_bytes);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, rk_headers);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "routerkeys/" ROUTERKEYS_VERSION);
	curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BEARER);
	curl_easy_setopt(easy, CURLOPT_XOAUTH2_BEARER, config->provisioning_key);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_PROXY, "");	/* only when configured: never */
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (config->ca_file != NULL)
		curl_easy_setopt(easy, CURLOPT_CAINFO, config->ca_file);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);

	if (strcmp(request->method, "GET") != 0)
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request->method);
	if (request->body != NULL)
	{
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) strlen(request->body));
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request->body);
	}
}

/*
 * Classifies a failed transfer.  Anything that failed before a byte of the
 * request was sent counts as a connection failure, which is safe to retry
 * for every method.
 */
static RkTransport
classify_failure(RkTransfer *t)
{
	long		sent = 0;

	if (t->too_large || t->result == CURLE_FILESIZE_EXCEEDED)
		return RK_TRANSPORT_TOO_LARGE;
	switch (t->result)
	{
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CIPHER:
			return RK_TRANSPORT_TLS;
		default:
			break;
	}
	curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &sent);
	if (sent == 0 || t->result == CURLE_COULDNT_CONNECT ||
		t->result == CURLE_COULDNT_RESOLVE_HOST)
		return RK_TRANSPORT_CONNECT;
	switch (t->result)
	{
		case CURLE_OPERATION_TIMEDOUT:
			return RK_TRANSPORT_TIMEOUT;
		case CURLE_RECV_ERROR:
		case CURLE_SEND_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
			return RK_TRANSPORT_LOST;
		default:
			return RK_TRANSPORT_OTHER;
	}
}

/*
 * Copies a finished transfer's outcome into its request, in palloc'd memory.
 */
static void
finish_transfer(RkTransfer *t)
{
	RkRequest  *request = t->request;
	char	   *content_type = NULL;

	request->attempts++;
	request->retry_after = t->retry_after;
	request->status = 0;
	request->transport = RK_TRANSPORT_OK;
	request->transport_detail = NULL;
	request->content_type = NULL;

	if (t->out_of_memory)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory while receiving a response")));

	if (!t->done || t->result != CURLE_OK)
	{
		request->transport = classify_failure(t);
		request->transport_detail = pstrdup(t->errbuf[0] != '\0' ? t->errbuf :
											curl_easy_strerror(t->result));
	}
	else
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &request->status);

	if (curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &content_type) == CURLE_OK &&
		content_type != NULL)
		request->content_type = pstrdup(content_type);

	request->response = palloc(t->len + 1);
	if (t->len > 0)
		memcpy(request->response, t->data, t->len);
	request->response[t->len] = '\0';
	request->response_len = t->len;
}

/*
 * Whether the sockets curl watches are those the wait set was built from.
 */
static bool
wait_set_current(RkConnection *conn)
{
	if (conn->wait_set == NULL || conn->sockets_renewed || conn->nsockets != conn->nregistered)
		return false;
	for (int i = 0; i < conn->nsockets; i++)
	{
		int			j;

		for (j = 0; j < conn->nregistered; j++)
			if (conn->registered[j].fd == conn->sockets[i].fd &&
				conn->registered[j].what == conn->sockets[i].what)
				break;
		if (j == conn->nregistered)
			return false;
	}
	return true;
}

/*
 * Builds the WaitEventSet again from the sockets curl watches, plus the
 * latch, unless they are those it was built from.
 */
static void
update_wait_set(RkConnection *conn)
{
	WaitEventSet *set;

	if (wait_set_current(conn))
		return;
	if (conn->wait_set != NULL)
		FreeWaitEventSet(conn->wait_set);
	conn->wait_set = NULL;

#if PG_VERSION_NUM >= 170000
	set = CreateWaitEventSet(NULL, conn->nsockets + 2);
#else
	set = CreateWaitEventSet(TopMemoryContext, conn->nsockets + 2);
#endif
	PG_TRY();
	{
		AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		for (int i = 0; i < conn->nsockets; i++)
		{
			int			events = 0;

			if (conn->sockets[i].what & CURL_POLL_IN)
				events |= WL_SOCKET_READABLE;
			if (conn->sockets[i].what & CURL_POLL_OUT)
				events |= WL_SOCKET_WRITEABLE;
			AddWaitEventToSet(set, events, conn->sockets[i].fd, NULL, NULL);
		}
	}
	PG_CATCH();
	{
		FreeWaitEventSet(set);
		PG_RE_THROW();
	}
	PG_END_TRY();

	memcpy(conn->registered, conn->sockets, sizeof(RkSocket) * conn->nsockets);
	conn->nregistered = conn->nsockets;
	conn->sockets_renewed = false;
	conn->wait_set = set;
}

/*
 * Lets curl act on a socket (or on its timer, with CURL_SOCKET_TIMEOUT).
 */
static void
socket_action(RkConnection *conn, curl_socket_t fd, int flags, int *running)
{
	CURLMcode	mc = curl_multi_socket_action(conn->multi, fd, flags, running);

	if (mc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("libcurl failed: %s", curl_multi_strerror(mc))));
}

/*
 * Marks the transfers curl reports as finished.
 */
static void
collect_finished(RkConnection *conn)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(conn->multi, &left)) != NULL)
	{
		RkTransfer *t = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
		t->done = true;
		t->result = msg->data.result;
	}
}

/*
 * Runs the transfers added to the connection's multi handle to completion,
 * waiting on their sockets and the latch.
 */
static void
drive_transfers(RkConnection *conn)
{
	int			running = 0;
	WaitEvent	events[16];

	socket_action(conn, CURL_SOCKET_TIMEOUT, 0, &running);
	while (running > 0)
	{
		long		timeout = 1000;
		int			nevents;

		if (conn->timer_set)
		{
			TimestampTz now = GetCurrentTimestamp();

			timeout = conn->timer_deadline <= now ? 0 :
				(long) Min((conn->timer_deadline - now + 999) / 1000, 1000);
			if (timeout == 0)
			{
				conn->timer_set = false;
				socket_action(conn, CURL_SOCKET_TIMEOUT, 0, &running);
				continue;
			}
		}
		update_wait_set(conn);
		nevents = WaitEventSetWait(conn->wait_set, timeout, events, lengthof(events),
								   PG_WAIT_EXTENSION);
		if (nevents == 0)
			socket_action(conn, CURL_SOCKET_TIMEOUT, 0, &running);
		for (int i = 0; i < nevents; i++)
		{
			int			flags = 0;

			if (events[i].events & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
				continue;
			}
			if (events[i].events & WL_SOCKET_READABLE)
				flags |= CURL_CSELECT_IN;
			if (events[i].events & WL_SOCKET_WRITEABLE)
				flags |= CURL_CSELECT_OUT;
			socket_action(conn, events[i].fd, flags, &running);
		}
	}
	collect_finished(conn);
}

/*
 * One attempt of each request, all concurrently.
 */
static void
perform_batch(RkConnection *conn, const RkConfig *config, RkRequest **requests, int n)
{
	RkTransfer *transfers = palloc0(sizeof(RkTransfer) * n);

	PG_TRY();
	{
		for (int i = 0; i < n; i++)
		{
			setup_transfer(&transfers[i], conn, config, requests[i]);
			if (curl_multi_add_handle(conn->multi, transfers[i].easy) != CURLM_OK)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("could not start a request")));
		}
		drive_transfers(conn);
		for (int i = 0; i < n; i++)
			finish_transfer(&transfers[i]);
	}
	PG_FINALLY();
	{
		for (int i = 0; i < n; i++)
		{
			if (transfers[i].easy != NULL)
			{
				curl_multi_remove_handle(conn->multi, transfers[i].easy);
				give_back_easy(conn, transfers[i].easy);
			}
			free(transfers[i].data);
		}
	}
	PG_END_TRY();
	pfree(transfers);
}

/*
 * Whether a failed attempt may have changed the remote state.
 */
static bool
outcome_is_ambiguous(const RkRequest *r)
{
	if (r->transport == RK_TRANSPORT_TIMEOUT || r->transport == RK_TRANSPORT_LOST)
		return true;
	return r->transport == RK_TRANSPORT_OK && (r->status == 502 || r->status == 504);
}

/*
 * Whether an attempt should be repeated.  GET, PATCH and DELETE are retried
 * on 429, 502, 503, 504 and transport failures; POST only when it certainly
 * did not reach the server (no connection, or 429).
 */
static bool
should_retry(const RkRequest *r)
{
	bool		idempotent = strcmp(r->method, "POST") != 0;

	if (r->transport == RK_TRANSPORT_CONNECT)
		return true;
	if (r->transport == RK_TRANSPORT_TIMEOUT || r->transport == RK_TRANSPORT_LOST)
		return idempotent;
	if (r->transport != RK_TRANSPORT_OK)
		return false;
	if (r->status == 429)
		return true;
	return idempotent && (r->status == 502 || r->status == 503 || r->status == 504);
}

/*
 * The wait before retry number attempt (1-based): the server's Retry-After
 * when it sent one, else exponential backoff with full jitter.
 */
static long
backoff_ms(int attempt, double retry_after)
{
	long		ceiling = RK_BACKOFF_CAP_MS;

	if (retry_after >= 0)
		return (long) (retry_after * 1000.0);
	if (attempt < 16)
		ceiling = Min(ceiling, RK_BACKOFF_BASE_MS << attempt);
	return (long) (pg_prng_double(&pg_global_prng_state) * ceiling);
}

/*
 * Sleeps on the latch, so that a cancel ends the wait at once.
 */
static void
interruptible_sleep(long ms)
{
	TimestampTz end = GetCurrentTimestamp() + (TimestampTz) ms * 1000;

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (now >= end)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 (long) ((end - now + 999) / 1000), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Performs requests against the configured server, concurrently, retrying
 * what should be retried within max_retries and retry_max_wait_ms.  Every
 * request ends with an outcome (status or transport failure) for the caller
 * to judge; only a cancel or an internal failure raises an error here.
 */
void
rk_http_execute(const RkConfig *config, RkRequest **requests, int nrequests)
{
	RkConnection *conn = get_connection(config);
	RkRequest **pending = palloc(sizeof(RkRequest *) * nrequests);
	int			npending = nrequests;
	long		waited_ms = 0;

	memcpy(pending, requests, sizeof(RkRequest *) * nrequests);
	for (int i = 0; i < nrequests; i++)
	{
		requests[i]->attempts = 0;
		requests[i]->maybe_applied = false;
	}

	for (int attempt = 1;; attempt++)
	{
		int			nretry = 0;
		long		delay = 0;

		perform_batch(conn, config, pending, npending);
		if (attempt > config->max_retries)
			break;
		for (int i = 0; i < npending; i++)
		{
			RkRequest  *r = pending[i];

			if (!should_retry(r))
				continue;
			delay = Max(delay, backoff_ms(attempt, r->retry_after));
			pending[nretry++] = r;
		}
		if (nretry == 0 || waited_ms + delay > config->retry_max_wait_ms)
			break;
		for (int i = 0; i < nretry; i++)
			pending[i]->maybe_applied |= outcome_is_ambiguous(pending[i]);
		interruptible_sleep(delay);
		waited_ms += delay;
		npending = nretry;
	}
	pfree(pending);
}

/*
 * Whether a parsed URL has the given part.
 */
static bool
url_has_part(CURLU *u, CURLUPart which)
{
	char	   *part = NULL;
	bool		has = curl_url_get(u, which, &part, 0) == CURLUE_OK;

	curl_free(part);
	return has;
}

/*
 * Checks a server url: http or https, no credentials, query or fragment, and
 * plain http only to a loopback host.  On failure *reason says why.
 */
bool
rk_http_url_acceptable(const char *url, const char **reason)
{
	CURLU	   *u = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	bool		ok = false;

	*reason = "It is not a valid URL.";
	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto done;
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
	{
		*reason = "Only http and https URLs are accepted.";
		goto done;
	}
	if (url_has_part(u, CURLUPART_USER))
	{
		*reason = "The URL must not contain credentials; the provisioning key belongs in a user mapping.";
		goto done;
	}
	if (url_has_part(u, CURLUPART_QUERY) || url_has_part(u, CURLUPART_FRAGMENT))
	{
		*reason = "The URL must not contain a query or a fragment.";
		goto done;
	}
	if (strcmp(scheme, "http") == 0 &&
		strcmp(host, "localhost") != 0 && strcmp(host, "[::1]") != 0 &&
		strncmp(host, "127.", 4) != 0)
	{
		*reason = "Plain http:// is accepted only for loopback hosts (127.0.0.0/8, ::1, localhost), so that the provisioning key never crosses a network unencrypted.";
		goto done;
	}
	ok = true;

done:
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(u);
	return ok;
}

/*
 * Appends text to buf percent-encoded for a URL path segment or query value:
 * everything but RFC 3986's unreserved characters is escaped.
 */
void
rk_http_append_escaped(StringInfo buf, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *) text; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			appendStringInfoChar(buf, (char) *p);
		else
		{
			appendStringInfoChar(buf, '%');
			appendStringInfoChar(buf, hex[*p >> 4]);
			appendStringInfoChar(buf, hex[*p & 15]);
		}
	}
}
