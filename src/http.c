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
 * Requests are never sent twice by libcurl itself: a pre-request callback
 * refuses a second send of the same transfer (curl re-sends on its own when
 * a reused connection dies before any answer), so a lost answer always
 * reaches the caller as a lost answer.  Whether to send again is the one
 * retry policy's decision (rk_http_execute): bounded by max_retries
 * attempts per request and by the call's RkBudget of waiting, using what
 * the dialect says a status means, and the request's RkResend rule, which
 * the operation chose.
 *
 * The service's clock: every answer's Date header, and every time the
 * service stamps on a key it creates, bound the difference between its
 * clock and ours (rk_http_clock), which keys.c uses to tell keys a lost
 * create made from keys that existed before.  The bounds belong to the
 * server's url and outlive a connection dropped by a catalog change.
 *
 * Rules: no ereport, palloc or longjmp inside a libcurl callback (callbacks
 * only fill malloc'd buffers and fixed arrays and set flags).  Failures of
 * libcurl itself end the request with RK_TRANSPORT_INTERNAL; only a cancel
 * and running out of memory raise here.  Easy handles and their buffers are
 * handed back on every path by the window that runs them (a memory context
 * callback when an error unwinds it); the
 * WaitEventSet lives in TopMemoryContext with its entry.  Answers are
 * copied into palloc'd memory of the caller's context only after the
 * transfer has ended.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include <arpa/inet.h>
#include <math.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/hashfn.h"
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
#define RK_CLOCK_MEMORY_US (600 * USECS_PER_SEC)	/* how long a reading counts */
#define RK_REQUEST_TIME_WEIGHT 8.0	/* of the average, against one new reading */

/* A socket curl asked us to watch. */
typedef struct RkSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN, _OUT or _INOUT */
} RkSocket;

/*
 * What an easy handle is set up for, beyond the request: the configuration
 * it was given (strings malloc'd).
 */
typedef struct RkEasySetup
{
	int			connect_timeout_ms;
	int			timeout_ms;
	int64		max_response_bytes;
	char	   *ca_file;
	char	   *provisioning_key;
} RkEasySetup;

/* The connection cache entry of one user mapping. */
typedef struct RkConnection
{
	Oid			umid;			/* hash key: the user mapping */
	Oid			serverid;
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
	RkEasySetup idle_setup;		/* what the idle handles are set up for */
	uint32		setup_generation;	/* changes with idle_setup */
	uint64		nfinished;		/* transfers curl reported finished, ever */
	int			nwindows;		/* open windows: the entry must stay */

	/* How long a request takes, lately (ms, moving average; 0: none yet). */
	double		request_ms;

	/* The service's clock, and the url it was read from. */
	RkClock		clock;
	uint32		clock_url_hash;
} RkConnection;

/* One transfer in flight: what the callbacks write to. */
typedef struct RkTransfer
{
	CURL	   *easy;
	struct RkConnection *conn;
	RkRequest  *request;
	char	   *url;
	char	   *data;			/* malloc'd response body */
	size_t		len;
	size_t		cap;
	size_t		limit;
	bool		too_large;
	bool		out_of_memory;
	double		retry_after;
	time_t		date;			/* the answer's Date header, or -1 */
	int			sends;			/* times curl was about to send the request */
	uint32		setup_generation;	/* of the connection's setup it has */
	TimestampTz resend_at;		/* in a window: when to send it again, or 0 */
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
 * Releases the idle easy handles of a connection, and what they were set
 * up for.
 */
static void
drop_idle(RkConnection *conn)
{
	while (conn->nidle > 0)
		curl_easy_cleanup(conn->idle[--conn->nidle]);
	free(conn->idle_setup.ca_file);
	free(conn->idle_setup.provisioning_key);
	memset(&conn->idle_setup, 0, sizeof(RkEasySetup));
	conn->setup_generation++;
}

/*
 * Releases a connection cache entry's libcurl state (and so its sockets).
 */
static void
drop_connection(RkConnection *conn)
{
	drop_idle(conn);
	if (conn->multi != NULL)
		curl_multi_cleanup(conn->multi);
	conn->multi = NULL;
	conn->nsockets = 0;
	if (conn->wait_set != NULL)
		FreeWaitEventSet(conn->wait_set);
	conn->wait_set = NULL;
}

/*
 * Whether two strings, either NULL, are the same.
 */
static bool
same_string(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/*
 * Whether the idle handles of a connection are set up for a configuration.
 */
static bool
idle_set_up_for(const RkConnection *conn, const RkConfig *config)
{
	const RkEasySetup *setup = &conn->idle_setup;

	return setup->provisioning_key != NULL &&
		setup->connect_timeout_ms == config->connect_timeout_ms &&
		setup->timeout_ms == config->timeout_ms &&
		setup->max_response_bytes == config->max_response_bytes &&
		same_string(setup->ca_file, config->ca_file) &&
		same_string(setup->provisioning_key, config->provisioning_key);
}

/*
 * An easy handle for a transfer under a configuration: an idle one of the
 * connection, which is set up for it already (*set_up), or a new one.
 * Idle handles set up for another configuration are released; the
 * connection remembers the configuration the handles it gets back are for.
 * NULL when out of memory.
 */
static CURL *
take_easy(RkConnection *conn, const RkConfig *config, bool *set_up)
{
	RkEasySetup *setup = &conn->idle_setup;

	*set_up = false;
	if (!idle_set_up_for(conn, config))
	{
		drop_idle(conn);
		setup->connect_timeout_ms = config->connect_timeout_ms;
		setup->timeout_ms = config->timeout_ms;
		setup->max_response_bytes = config->max_response_bytes;
		setup->ca_file = config->ca_file == NULL ? NULL : strdup(config->ca_file);
		setup->provisioning_key = strdup(config->provisioning_key);
		if (setup->provisioning_key == NULL ||
			(config->ca_file != NULL && setup->ca_file == NULL))
		{
			drop_idle(conn);
			return NULL;
		}
	}
	if (conn->nidle == 0)
		return curl_easy_init();
	*set_up = true;
	return conn->idle[--conn->nidle];
}

/*
 * Hands an easy handle, removed from the multi handle, back for reuse,
 * unless the idle handles are now set up for another configuration than
 * it was (generation).
 */
static void
give_back_easy(RkConnection *conn, CURL *easy, uint32 generation)
{
	if (conn->nidle < RK_MAX_CONNECTIONS && generation == conn->setup_generation)
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
	bool		existed;
	uint32		url_hash;
	RkClock		clock;
	double		request_ms;

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
	url_hash = hash_bytes((const unsigned char *) config->url, strlen(config->url));
	existed = found;
	if (found && conn->invalidated && conn->nwindows == 0)
	{
		drop_connection(conn);
		found = false;
	}
	if (found && conn->multi != NULL)
		return conn;

	clock = conn->clock;
	request_ms = conn->request_ms;
	existed = existed && conn->clock_url_hash == url_hash;
	memset(((char *) conn) + sizeof(Oid), 0, sizeof(RkConnection) - sizeof(Oid));
	if (existed)
	{
		conn->clock = clock;
		conn->request_ms = request_ms;
	}
	conn->clock_url_hash = url_hash;
	conn->serverid = config->serverid;
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
 * Parses a Retry-After value: delay-seconds (1*DIGIT) or an HTTP-date
 * (RFC 9110, 10.2.3), relative to now.  Returns the seconds to wait (0 for
 * a date in the past), or -1 when the value is neither.
 */
static double
parse_retry_after(const char *value, time_t now)
{
	size_t		len = strlen(value);
	double		seconds = 0;
	time_t		when;

	if (len > 0 && strspn(value, "0123456789") == len)
	{
		for (const char *p = value; *p; p++)
			seconds = Min(seconds * 10 + (*p - '0'), 1e9);
		return seconds;
	}
	/* an HTTP-date has a day name first: curl_getdate alone takes far more */
	if (len < 24 || !isalpha((unsigned char) value[0]) || strchr(value, ',') == NULL)
		return -1;
	when = curl_getdate(value, NULL);
	if (when == -1)
		return -1;
	return when > now ? (double) (when - now) : 0;
}

/*
 * The value of a header line if it is the header name (lower case, with
 * its colon), trimmed into value; else false.
 */
static bool
header_value(const char *data, size_t n, const char *name, char *value, size_t size)
{
	size_t		namelen = strlen(name);
	size_t		vlen;
	const char *v;

	if (n <= namelen || pg_strncasecmp(data, name, namelen) != 0)
		return false;
	v = data + namelen;
	vlen = n - namelen;
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
						v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (vlen >= size)
		return false;
	memcpy(value, v, vlen);
	value[vlen] = '\0';
	return true;
}

/*
 * libcurl header callback: picks up Retry-After and Date.
 */
static size_t
header_callback(char *data, size_t size, size_t nmemb, void *userp)
{
	RkTransfer *t = (RkTransfer *) userp;
	size_t		n = size * nmemb;
	char		value[128];

	if (header_value(data, n, "retry-after:", value, sizeof(value)))
		t->retry_after = parse_retry_after(value, time(NULL));
	else if (header_value(data, n, "date:", value, sizeof(value)))
		t->date = curl_getdate(value, NULL);
	return n;
}

/*
 * libcurl pre-request callback: called each time curl is about to send the
 * request.  A second time means curl wants to send it again by itself, on
 * a new connection, after the first one died without an answer; that is
 * refused, since the first may have been carried out.
 */
static int
prereq_callback(void *clientp, char *conn_primary_ip, char *conn_local_ip,
				int conn_primary_port, int conn_local_port)
{
	RkTransfer *t = (RkTransfer *) clientp;

	return ++t->sends == 1 ? CURL_PREREQFUNC_OK : CURL_PREREQFUNC_ABORT;
}

/*
 * Gives a new easy handle what every transfer of a configuration shares.
 */
static void
set_up_easy(CURL *easy, RkConnection *conn, const RkConfig *config)
{
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket_callback);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, conn);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_socket_callback);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, conn);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_callback);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_callback);
	curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, prereq_callback);
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
}

/*
 * Prepares the easy handle of one transfer: a handle of the connection
 * set up for the configuration (set_up_easy), given what is this
 * request's: its transfer's buffers, url, method and body.  A reused
 * handle keeps the options of its last request, so each is set here,
 * the method first reset to GET.  Caller is responsible for cleaning up
 * t->easy, also when this errors out.
 */
static void
setup_transfer(RkTransfer *t, RkConnection *conn, const RkConfig *config, RkRequest *request)
{
	CURL	   *easy;
	bool		set_up;

	t->request = request;
	t->conn = conn;
	t->retry_after = -1;
	t->date = -1;
	request->sent_at = GetCurrentTimestamp();
	t->limit = (size_t) config->max_response_bytes;
	t->url = psprintf("%s%s", config->url, request->path);

	t->easy = easy = take_easy(conn, config, &set_up);
	if (easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	t->setup_generation = conn->setup_generation;
	if (!set_up)
		set_up_easy(easy, conn, config);

	curl_easy_setopt(easy, CURLOPT_URL, t->url);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(easy, CURLOPT_PREREQDATA, t);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, -1L);
	curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST,
					 strcmp(request->method, "GET") != 0 ? request->method : NULL);
	if (request->body != NULL)
	{
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) strlen(request->body));
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request->body);
	}
}

/*
 * Classifies a failed transfer.  Anything that failed before a byte of the
 * request was sent counts as a connection failure, which is safe to retry
 * for every method; a re-send that was refused counts as a lost answer.
 */
static RkTransport
classify_failure(RkTransfer *t)
{
	long		sent = 0;

	if (t->too_large || t->result == CURLE_FILESIZE_EXCEEDED)
		return RK_TRANSPORT_TOO_LARGE;
	if (t->sends > 1)
		return RK_TRANSPORT_LOST;
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
	if (t->sends == 0 || sent == 0 || t->result == CURLE_COULDNT_CONNECT ||
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
			return RK_TRANSPORT_INTERNAL;
	}
}

/*
 * Notes what an answer says about the service's clock: between sent and
 * received (our clock) the service's clock read somewhere in
 * [service_low, service_high].  So the service's clock is ahead of ours by
 * at least service_low - received and at most service_high - sent.  The
 * bounds narrow with every answer; readings older than ten minutes are
 * forgotten, so that a clock that was set back is followed.  The lower
 * bound, which decides which keys a lost create made, stays sound when a
 * reading is off: a Date header that lags (a cache, a proxy) only lowers
 * it.  Such a reading may put the upper bound below the lower one, which
 * then counts as a clock known precisely enough.
 */
static void
observe_clock(RkConnection *conn, TimestampTz service_low, TimestampTz service_high,
			  TimestampTz sent, TimestampTz received)
{
	RkClock    *clock = &conn->clock;
	int64		low = service_low - received;
	int64		high = service_high - sent;

	if (!clock->known || received - clock->read_at > RK_CLOCK_MEMORY_US)
	{
		clock->known = true;
		clock->offset_low_us = low;
		clock->offset_high_us = high;
	}
	else
	{
		clock->offset_low_us = Max(clock->offset_low_us, low);
		clock->offset_high_us = Min(clock->offset_high_us, high);
	}
	clock->read_at = received;
}

/*
 * Notes how long an answered request waited for its answer to begin once
 * it was sent: the round trip and the service's work, not a new
 * connection's set-up (kept alive, it serves many requests) nor the body's
 * transfer (the planner counts that per key).  A moving average that
 * follows a change of the network within some twenty requests.
 */
static void
observe_request_time(RkTransfer *t)
{
	RkConnection *conn = t->conn;
	curl_off_t	sent = 0;
	curl_off_t	answered = 0;
	double		ms;

	if (curl_easy_getinfo(t->easy, CURLINFO_PRETRANSFER_TIME_T, &sent) != CURLE_OK ||
		curl_easy_getinfo(t->easy, CURLINFO_STARTTRANSFER_TIME_T, &answered) != CURLE_OK ||
		answered <= sent)
		return;
	ms = (answered - sent) / 1000.0;
	conn->request_ms = conn->request_ms == 0 ? ms :
		conn->request_ms + (ms - conn->request_ms) / RK_REQUEST_TIME_WEIGHT;
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
	request->sent = t->sends > 0;
	request->answer_started = true;
	request->answered_at = GetCurrentTimestamp();
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
		long		status = 0;

		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
		request->answer_started = status != 0;
		request->transport = classify_failure(t);
		request->transport_detail = pstrdup(t->errbuf[0] != '\0' ? t->errbuf :
											curl_easy_strerror(t->result));
	}
	else
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &request->status);
	if (request->transport == RK_TRANSPORT_OK && t->date != -1)
		observe_clock(t->conn, time_t_to_timestamptz(t->date),
					  time_t_to_timestamptz(t->date) + USECS_PER_SEC,
					  request->sent_at, request->answered_at);
	if (request->transport == RK_TRANSPORT_OK)
		observe_request_time(t);

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
 * Returns false when the multi handle itself failed.
 */
static bool
socket_action(RkConnection *conn, curl_socket_t fd, int flags, int *running)
{
	return curl_multi_socket_action(conn->multi, fd, flags, running) == CURLM_OK;
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
		conn->nfinished++;
	}
}

/*
 * Runs the transfers added to the connection's multi handle, waiting on
 * their sockets and the latch, until one more of them has finished, none
 * is left running, or deadline (0: none) has come.  Returns false when the
 * multi handle itself failed: the transfers it left unfinished stay not
 * done.
 */
static bool
drive_transfers(RkConnection *conn, TimestampTz deadline)
{
	int			running = 0;
	WaitEvent	events[16];
	uint64		finished = conn->nfinished;
	bool		ok = socket_action(conn, CURL_SOCKET_TIMEOUT, 0, &running);

	collect_finished(conn);
	while (ok && running > 0 && conn->nfinished == finished)
	{
		long		timeout = 1000;
		int			nevents;
		TimestampTz now = GetCurrentTimestamp();

		if (deadline != 0 && now >= deadline)
			break;
		if (deadline != 0)
			timeout = (long) Min((deadline - now + 999) / 1000, timeout);
		if (conn->timer_set)
		{
			timeout = conn->timer_deadline <= now ? 0 :
				(long) Min((conn->timer_deadline - now + 999) / 1000, timeout);
			if (timeout == 0)
			{
				conn->timer_set = false;
				ok = socket_action(conn, CURL_SOCKET_TIMEOUT, 0, &running);
				collect_finished(conn);
				continue;
			}
		}
		update_wait_set(conn);
		nevents = WaitEventSetWait(conn->wait_set, timeout, events, lengthof(events),
								   PG_WAIT_EXTENSION);
		if (nevents == 0)
			ok = socket_action(conn, CURL_SOCKET_TIMEOUT, 0, &running);
		for (int i = 0; ok && i < nevents; i++)
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
			ok = socket_action(conn, events[i].fd, flags, &running);
		}
		collect_finished(conn);
	}
	return ok;
}

/*
 * Hands a transfer's easy handle back and frees its buffer; the transfer
 * can be set up again.  Never raises.
 */
static void
release_transfer(RkTransfer *t)
{
	if (t->easy != NULL)
	{
		curl_multi_remove_handle(t->conn->multi, t->easy);
		give_back_easy(t->conn, t->easy, t->setup_generation);
	}
	free(t->data);
	memset(t, 0, sizeof(RkTransfer));
}

/*
 * Whether the retry policy may send a request again after its last
 * attempt: always when it certainly did not arrive (no connection, or a
 * status that says the service turned it away unprocessed); after other
 * transient failures (a lost answer, a timeout, a transient status) only
 * when the operation allows it.
 */
static bool
may_resend(const RkConfig *config, const RkRequest *r)
{
	switch (r->transport)
	{
		case RK_TRANSPORT_CONNECT:
			return true;
		case RK_TRANSPORT_TIMEOUT:
		case RK_TRANSPORT_LOST:
			return r->resend == RK_RESEND_TRANSIENT;
		case RK_TRANSPORT_OK:
			if (config->dialect->status_is_unprocessed(r->status))
				return true;
			return r->resend == RK_RESEND_TRANSIENT &&
				config->dialect->status_is_transient(r->status);
		default:
			return false;
	}
}

/*
 * The wait before the next attempt of a request that has made attempts
 * attempts: the service's Retry-After when it sent one, else exponential
 * backoff with full jitter.
 */
static int64
backoff_ms(int attempts, double retry_after)
{
	int64		ceiling = RK_BACKOFF_CAP_MS;

	if (retry_after >= 0)
		return (int64) ceil(retry_after * 1000.0);
	if (attempts < 16)
		ceiling = Min(ceiling, (int64) RK_BACKOFF_BASE_MS << attempts);
	return (int64) (pg_prng_double(&pg_global_prng_state) * ceiling);
}

/*
 * The one retry policy, after an attempt of r: the wait before r is sent
 * again, or -1 when it is not.  A request is attempted again when
 * may_resend allows it, it has made at most max_retries attempts beyond
 * its first (attempts count across calls, so an operation that sends the
 * same request again stays within the bound), and the wait fits in what
 * the call's budget has left; a Retry-After longer than that ends the
 * request at once with wait_refused set.  Caller is responsible for
 * charging the wait to the budget.
 */
static int64
resend_wait(const RkConfig *config, RkRequest *r, const RkBudget *budget)
{
	int64		wait;

	if (!may_resend(config, r) || r->attempts > config->max_retries)
		return -1;
	wait = backoff_ms(r->attempts, r->retry_after);
	if (wait > budget->wait_left_ms)
	{
		if (r->retry_after >= 0)
		{
			r->wait_refused = true;
			return -1;
		}
		wait = budget->wait_left_ms;
	}
	if (budget->wait_left_ms <= 0 && wait == 0 && r->retry_after < 0)
		return -1;
	r->earlier_maybe_applied |= r->sent &&
		(r->transport != RK_TRANSPORT_OK || r->status >= 500);
	return wait;
}

/*
 * Sleeps on the latch, so that a cancel ends the wait at once.
 */
static void
interruptible_sleep(int64 ms)
{
	TimestampTz end = GetCurrentTimestamp() + ms * 1000;

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
 * Makes sure the connection cache entry of a configuration exists.  Making
 * one reads the catalog caches, so a caller that is to send outside a
 * transaction (the worker) calls this in one first.
 */
void
rk_http_prepare(const RkConfig *config)
{
	(void) get_connection(config);
}

/*
 * A window of requests in flight: rk_http_window_send starts a request and
 * returns at once, rk_http_window_next waits for one to end under the one
 * retry policy, so that a caller keeps up to width requests in flight
 * across its own calls (rk_http_execute is one window for all its
 * requests).  A slot is free, in flight (its transfer added to the multi
 * handle), or waiting to be sent again at resend_at.  A resend's wait
 * does not hold up the other slots, and the budget is charged the time
 * the window spends waiting, not each wait.  The window lives in the
 * memory context current at rk_http_window_begin: when that goes (the
 * statement ends, or an error unwinds it) whatever is still in flight is
 * abandoned, its transfer removed unanswered.
 */
struct RkWindow
{
	const RkConfig *config;
	RkConnection *conn;
	RkBudget   *budget;
	TimestampTz waited_until;	/* the budget is charged up to here */
	int			width;
	int			nbusy;
	RkTransfer *slots;			/* a slot is busy while its request is set */
	MemoryContextCallback release;
};

/*
 * Memory context callback: abandons the transfers still in flight.
 * Never raises.
 */
static void
release_window(void *arg)
{
	RkWindow   *w = (RkWindow *) arg;

	for (int i = 0; i < w->width; i++)
		if (w->slots[i].request != NULL)
			release_transfer(&w->slots[i]);
	w->nbusy = 0;
	w->conn->nwindows--;
}

/*
 * Opens a window of up to width requests in flight against the configured
 * server; resends wait within budget.
 */
RkWindow *
rk_http_window_begin(const RkConfig *config, int width, RkBudget *budget)
{
	RkWindow   *w = palloc0(sizeof(RkWindow));

	w->config = config;
	w->budget = budget;
	w->width = width;
	w->slots = palloc0(sizeof(RkTransfer) * width);
	w->conn = get_connection(config);
	w->conn->nwindows++;
	w->release.func = release_window;
	w->release.arg = w;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &w->release);
	return w;
}

/*
 * Whether the window has width requests in flight or waiting.
 */
bool
rk_http_window_full(const RkWindow *w)
{
	return w->nbusy == w->width;
}

/*
 * Starts an attempt of a request in a slot.
 */
static void
start_attempt(RkWindow *w, RkTransfer *t, RkRequest *request)
{
	setup_transfer(t, w->conn, w->config, request);
	if (curl_multi_add_handle(w->conn->multi, t->easy) != CURLM_OK)
	{
		t->done = true;
		t->result = CURLE_FAILED_INIT;
	}
}

/*
 * Starts a request; the window must not be full.
 */
void
rk_http_window_send(RkWindow *w, RkRequest *request)
{
	for (int i = 0; i < w->width; i++)
	{
		if (w->slots[i].request == NULL)
		{
			request->wait_refused = false;
			w->nbusy++;
			start_attempt(w, &w->slots[i], request);
			return;
		}
	}
	elog(ERROR, "routerkeys request window is full");
}

/*
 * Sends again the requests whose wait is over; returns the earliest
 * resend time still ahead (0: none), and in *in_flight whether any
 * transfer is running.
 */
static TimestampTz
start_due(RkWindow *w, bool *in_flight)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = 0;

	*in_flight = false;
	for (int i = 0; i < w->width; i++)
	{
		RkTransfer *t = &w->slots[i];

		if (t->request != NULL && t->easy == NULL && t->resend_at <= now)
			start_attempt(w, t, t->request);
		else if (t->request != NULL && t->easy == NULL)
			next = next == 0 ? t->resend_at : Min(next, t->resend_at);
		*in_flight |= t->easy != NULL && !t->done;
	}
	return next;
}

/*
 * A finished transfer of the window, or NULL.
 */
static RkTransfer *
window_finished(RkWindow *w)
{
	for (int i = 0; i < w->width; i++)
		if (w->slots[i].easy != NULL && w->slots[i].done)
			return &w->slots[i];
	return NULL;
}

/*
 * Waits for the window's transfers until one finishes or the next resend
 * is due.
 */
static void
wait_window(RkWindow *w)
{
	bool		in_flight;
	TimestampTz due = start_due(w, &in_flight);

	if (window_finished(w) != NULL)
		return;
	if (!in_flight)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (due > now)
			interruptible_sleep((due - now + 999) / 1000);
		return;
	}
	if (drive_transfers(w->conn, due))
		return;
	/* the multi handle failed: what is in flight ends unanswered */
	for (int i = 0; i < w->width; i++)
	{
		if (w->slots[i].easy != NULL && !w->slots[i].done)
		{
			w->slots[i].done = true;
			w->slots[i].result = CURLE_FAILED_INIT;
		}
	}
}

/*
 * Puts a request off for wait ms, charging the budget the part of the wait
 * that goes beyond the waits already charged.
 */
static void
put_off(RkWindow *w, RkTransfer *t, RkRequest *r, int64 wait)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz until = now + wait * 1000;

	if (until > w->waited_until)
	{
		w->budget->wait_left_ms -= (until - Max(now, w->waited_until)) / 1000;
		w->waited_until = until;
	}
	t->request = r;
	t->resend_at = until;
}

/*
 * Waits until a request of the window has ended under the one retry
 * policy and returns it, its slot free again; NULL when none is in flight.
 * Only a cancel or running out of memory raises.
 */
RkRequest *
rk_http_window_next(RkWindow *w)
{
	while (w->nbusy > 0)
	{
		RkTransfer *t = window_finished(w);
		RkRequest  *r;
		int64		wait;

		if (t == NULL)
		{
			wait_window(w);
			continue;
		}
		r = t->request;
		finish_transfer(t);
		release_transfer(t);
		wait = resend_wait(w->config, r, w->budget);
		if (wait >= 0)
		{
			put_off(w, t, r, wait);
			continue;
		}
		w->nbusy--;
		return r;
	}
	return NULL;
}

/*
 * Performs requests against the configured server, concurrently, under the
 * one retry policy (resend_wait).  Every request ends with the outcome of
 * its last attempt for the caller to judge; only a cancel or running out
 * of memory raises an error here.
 */
void
rk_http_execute(const RkConfig *config, RkRequest **requests, int nrequests,
				RkBudget *budget)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "routerkeys requests",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	RkWindow   *w = rk_http_window_begin(config, Max(nrequests, 1), budget);

	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		for (int i = 0; i < nrequests; i++)
			rk_http_window_send(w, requests[i]);
		while (rk_http_window_next(w) != NULL)
			;
	}
	PG_FINALLY();
	{
		MemoryContextDelete(cxt);
	}
	PG_END_TRY();
}

/*
 * The service's clock relative to ours, as the answers of this server have
 * shown it so far.
 */
void
rk_http_clock(const RkConfig *config, RkClock *clock)
{
	*clock = get_connection(config)->clock;
}

/*
 * How long a request to a server has lately taken on this backend's
 * connections, in ms, or -1 before any was answered.  For the planner,
 * which has no user mapping at hand: the connection of any mapping of the
 * server will do.
 */
double
rk_http_request_ms(Oid serverid)
{
	HASH_SEQ_STATUS scan;
	RkConnection *conn;
	double		ms = -1;

	if (ConnectionHash == NULL)
		return -1;
	hash_seq_init(&scan, ConnectionHash);
	while ((conn = (RkConnection *) hash_seq_search(&scan)) != NULL)
	{
		if (conn->serverid == serverid && conn->request_ms > 0)
			ms = conn->request_ms;
	}
	return ms;
}

/*
 * Notes that the service's clock showed service_time between local times
 * sent and received (a key's creation time, and its request's round trip).
 */
void
rk_http_clock_observe(const RkConfig *config, TimestampTz service_time, TimestampTz sent,
					  TimestampTz received)
{
	observe_clock(get_connection(config), service_time, service_time, sent, received);
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
 * Whether a URL's host is a loopback address: an IPv4 literal in
 * 127.0.0.0/8, the IPv6 literal ::1, or exactly "localhost".  A name that
 * merely starts like one ("127.0.0.1.example") is not.
 */
static bool
is_loopback_host(const char *host)
{
	struct in_addr v4;
	struct in6_addr v6;
	size_t		len = strlen(host);

	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	if (len > 2 && host[0] == '[' && host[len - 1] == ']')
	{
		char		literal[INET6_ADDRSTRLEN + 1];

		if (len - 2 >= sizeof(literal))
			return false;
		memcpy(literal, host + 1, len - 2);
		literal[len - 2] = '\0';
		return inet_pton(AF_INET6, literal, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
	}
	return false;
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
	if (strcmp(scheme, "http") == 0 && !is_loopback_host(host))
	{
		*reason = "Plain http:// is accepted only for loopback hosts (an IP address in 127.0.0.0/8, ::1, or localhost), so that the provisioning key never crosses a network unencrypted.";
		goto done;
	}
	ok = true;

done:
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(u);
	return ok;
}
