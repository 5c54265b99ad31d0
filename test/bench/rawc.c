/*
 * rawc.c: the "raw C" client of the routerkeys benchmark, the practical limit.
 *
 * It sends the same requests as routerkeys (libcurl, keep-alive, the multi interface for
 * the concurrent creates and reads) and parses the same fields with json-c, with nothing else around
 * it: no database, no tuples, no jsonb.  Each mode times its own work with CLOCK_MONOTONIC
 * (after a warm-up request that opens the connection, where the workload is a warm one)
 * and prints one line of key=value pairs for test/bench/bench.py.
 *
 * Build (test/bench/run.sh does it):
 *   cc -O2 -o rawc rawc.c $(curl-config --cflags --libs) $(pkg-config --cflags --libs json-c)
 *
 * Usage (the provisioning key comes from RK_BENCH_KEY, else the stub's valid key):
 *   rawc get    URL ID N           N reads of one key, one connection     -> us_per_call
 *   rawc list   URL LIMIT          the whole listing, page by page        -> ms, count, hwm_kb
 *   rawc create URL N CONC PREFIX  N creates, CONC at a time (1: serial)  -> ms, count
 *   rawc report URL IDS_FILE       the listing joined with local ids      -> ms, count, per status
 *   rawc getids URL IDS_FILE CONC  a GET of each id of the file, CONC at a time (1: serial on
 *                                  one keep-alive connection; else curl multi, a new GET as
 *                                  soon as one ends), after an untimed warm-up of CONC GETs
 *                                  that opens the connections -> ms, count (found), requests,
 *                                  warm_requests, per status (the report by per-key GETs)
 *   rawc cold   URL ID             one read, for a whole-process timing   -> status
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>

#define MAX_CONC 64

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

/* The fields routerkeys maps into the columns of routerkeys.key. */
typedef struct Key
{
	const char *id;
	const char *name;
	int			active;			/* -1 unknown */
	const char *status;
	const char *token_prefix;
	const char *permission_mode;
	const char *project_id;
	const char *owner_type;
	int64_t		expires_at;		/* microseconds since the epoch, 0: none */
	int64_t		created_at;
	int64_t		updated_at;
	int64_t		last_used_at;
	const char *created_by_id;
	const char *updated_by_id;
	const char *source;
	const char *token;
} Key;

static const char *base_url;
static struct curl_slist *headers;
static uint64_t checksum;		/* keeps the parsed fields alive for the compiler */

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "rawc: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CPU time and run-queue wait of this (single-threaded) process so far, in ms. */
typedef struct Sched
{
	double		cpu_ms;
	double		wait_ms;
} Sched;

static Sched
sched_now(void)
{
	Sched		s = {0, 0};
	FILE	   *f = fopen("/proc/self/schedstat", "r");
	unsigned long long cpu, wait;

	if (f != NULL)
	{
		if (fscanf(f, "%llu %llu", &cpu, &wait) == 2)
		{
			s.cpu_ms = cpu / 1e6;
			s.wait_ms = wait / 1e6;
		}
		fclose(f);
	}
	return s;
}

/* " cpu_ms=... wait_ms=..." for the time since s0. */
static const char *
sched_since(Sched s0)
{
	static char out[96];
	Sched		s1 = sched_now();

	snprintf(out, sizeof(out), " cpu_ms=%.3f wait_ms=%.3f", s1.cpu_ms - s0.cpu_ms,
			 s1.wait_ms - s0.wait_ms);
	return out;
}

/* A field of /proc/self/status in kB, or -1. */
static long
proc_status_kb(const char *field)
{
	FILE	   *f = fopen("/proc/self/status", "r");
	char		line[256];
	size_t		n = strlen(field);
	long		kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
	{
		if (strncmp(line, field, n) == 0 && line[n] == ':')
		{
			kb = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Buf		   *b = userdata;
	size_t		n = size * nmemb;

	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = (b->len + n + 1) * 2;
		char	   *p = realloc(b->data, cap);

		if (p == NULL)
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static CURL *
new_easy(Buf *buf)
{
	CURL	   *easy = curl_easy_init();

	if (easy == NULL)
		die("curl_easy_init failed", NULL);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, buf);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(easy, CURLOPT_PROXY, "");
	curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
	return easy;
}

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+hh:mm)" to microseconds since the epoch. */
static int64_t
parse_time(const char *s)
{
	int			y, mo, d, h, mi, sec, n = 0;
	int64_t		usec = 0;
	int64_t		days;
	const char *p;

	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
		return 0;
	p = s + n;
	if (*p == '.')
	{
		int			digits = 0;

		for (p++; *p >= '0' && *p <= '9'; p++)
		{
			if (digits++ < 6)
				usec = usec * 10 + (*p - '0');
		}
		for (; digits < 6; digits++)
			usec *= 10;
	}
	/* days from civil (Howard Hinnant) */
	y -= mo <= 2;
	{
		int64_t		era = (y >= 0 ? y : y - 399) / 400;
		unsigned	yoe = (unsigned) (y - era * 400);
		unsigned	doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
		unsigned	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

		days = era * 146097 + (int64_t) doe - 719468;
	}
	if (*p == '+' || *p == '-')
	{
		int			oh = 0, om = 0;

		if (sscanf(p + 1, "%2d:%2d", &oh, &om) == 2)
			usec -= (int64_t) (*p == '+' ? 1 : -1) * (oh * 3600 + om * 60) * 1000000;
	}
	return ((days * 86400 + h * 3600 + mi * 60 + sec) * 1000000) + usec;
}

static const char *
str_member(json_object *o, const char *name)
{
	json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static const char *
str_either(json_object *o, const char *a, const char *b)
{
	const char *s = str_member(o, a);

	return s ? s : str_member(o, b);
}

/* The fields of one key object, both generations of API.md. */
static bool
parse_key(json_object *o, Key *k)
{
	json_object *v, *w;

	if (!json_object_is_type(o, json_type_object))
		return false;
	memset(k, 0, sizeof(*k));
	k->id = str_either(o, "id", "api_key_id");
	if (k->id == NULL)
		return false;
	k->name = str_member(o, "name");
	k->status = str_member(o, "status");
	if (json_object_object_get_ex(o, "active", &v) && json_object_is_type(v, json_type_boolean))
		k->active = json_object_get_boolean(v);
	else
		k->active = k->status ? strcmp(k->status, "API_KEY_STATUS_ACTIVE") == 0 : -1;
	k->token_prefix = str_member(o, "token_prefix");
	k->permission_mode = str_member(o, "permission_mode");
	if (json_object_object_get_ex(o, "project_scope", &v) &&
		json_object_object_get_ex(v, "single", &w))
		k->project_id = str_member(w, "project_id");
	if (json_object_object_get_ex(o, "owner", &v))
		k->owner_type = json_object_object_get_ex(v, "user", &w) ? "user" : "service_account";
	k->expires_at = parse_time(str_either(o, "expiration", "expires_at"));
	k->created_at = parse_time(str_either(o, "created", "created_at"));
	k->updated_at = parse_time(str_either(o, "updated", "updated_at"));
	k->last_used_at = parse_time(str_member(o, "last_used_at"));
	k->created_by_id = str_member(o, "created_by_id");
	k->updated_by_id = str_member(o, "updated_by_id");
	k->source = str_member(o, "source");
	k->token = str_member(o, "token");
	checksum += strlen(k->id) + (k->name ? strlen(k->name) : 0) + (uint64_t) k->active +
		(uint64_t) (k->created_at & 0xff) + (k->status ? (uint8_t) k->status[15] : 0);
	return true;
}

/* The key of a single-key answer: the object itself, or {"api_key": …} (the older generation). */
static bool
parse_answer_key(json_object *o, Key *k)
{
	json_object *inner;

	if (json_object_object_get_ex(o, "api_key", &inner))
		return parse_key(inner, k);
	return parse_key(o, k);
}

static json_object *
parse_body(const Buf *b)
{
	json_object *o = json_tokener_parse(b->data ? b->data : "");

	if (o == NULL)
		die("invalid JSON in a response", NULL);
	return o;
}

static long
perform(CURL *easy, Buf *buf)
{
	CURLcode	rc;
	long		status = 0;

	buf->len = 0;
	rc = curl_easy_perform(easy);
	if (rc != CURLE_OK)
		die("request failed", curl_easy_strerror(rc));
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* GET /v2/api-keys/{id}: 1 when found, 0 when not. */
static int
get_one(CURL *easy, Buf *buf, const char *url)
{
	long		status;
	json_object *o;
	Key			k;
	int			found = 0;

	curl_easy_setopt(easy, CURLOPT_URL, url);
	status = perform(easy, buf);
	if (status == 404)
		return 0;
	if (status != 200)
		die("unexpected status on GET", NULL);
	o = parse_body(buf);
	found = parse_answer_key(o, &k);
	json_object_put(o);
	return found;
}

static int
mode_get(const char *id, int n)
{
	Buf			buf = {0};
	CURL	   *easy = new_easy(&buf);
	char		url[1024];
	int			found = 0;
	double		t0, t1;
	Sched		s0;

	snprintf(url, sizeof(url), "%s/v2/api-keys/%s", base_url, id);
	get_one(easy, &buf, url);	/* warm-up: connection set up */
	s0 = sched_now();
	t0 = now_ms();
	for (int i = 0; i < n; i++)
		found += get_one(easy, &buf, url);
	t1 = now_ms();
	printf("ms=%.3f count=%d us_per_call=%.3f%s checksum=%llu\n", t1 - t0, found,
		   (t1 - t0) * 1e3 / n, sched_since(s0), (unsigned long long) checksum);
	curl_easy_cleanup(easy);
	free(buf.data);
	return found == n ? 0 : 1;
}

/* A hash set of key id -> status, for the report. */
typedef struct Entry
{
	char	   *id;
	int			status;			/* index into status_names */
} Entry;

static const char *status_names[] = {"active", "disabled", "revoked", "other"};

static int
status_index(const char *s)
{
	if (s == NULL)
		return 3;
	if (strcmp(s, "API_KEY_STATUS_ACTIVE") == 0)
		return 0;
	if (strcmp(s, "API_KEY_STATUS_DISABLED") == 0)
		return 1;
	if (strcmp(s, "API_KEY_STATUS_REVOKED") == 0)
		return 2;
	return 3;
}

static uint64_t
hash_str(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (uint8_t) *s) * 1099511628211ULL;
	return h;
}

typedef struct Table
{
	Entry	   *slots;
	size_t		mask;
	size_t		n;
} Table;

static void
table_put(Table *t, const char *id, int status)
{
	size_t		i;

	if ((t->n + 1) * 2 > t->mask + 1)
	{
		Table		bigger = {calloc((t->mask + 1) * 2, sizeof(Entry)), (t->mask + 1) * 2 - 1, 0};

		if (bigger.slots == NULL)
			die("out of memory", NULL);
		for (size_t j = 0; j <= t->mask; j++)
		{
			if (t->slots[j].id)
			{
				size_t		k = hash_str(t->slots[j].id) & bigger.mask;

				while (bigger.slots[k].id)
					k = (k + 1) & bigger.mask;
				bigger.slots[k] = t->slots[j];
				bigger.n++;
			}
		}
		free(t->slots);
		*t = bigger;
	}
	i = hash_str(id) & t->mask;
	while (t->slots[i].id)
	{
		if (strcmp(t->slots[i].id, id) == 0)
			return;
		i = (i + 1) & t->mask;
	}
	t->slots[i].id = strdup(id);
	t->slots[i].status = status;
	t->n++;
}

static const Entry *
table_get(const Table *t, const char *id)
{
	size_t		i = hash_str(id) & t->mask;

	while (t->slots[i].id)
	{
		if (strcmp(t->slots[i].id, id) == 0)
			return &t->slots[i];
		i = (i + 1) & t->mask;
	}
	return NULL;
}

/*
 * Walks the whole listing with the cursor; calls visit for every key.  Returns the count.
 */
static long
list_all(int limit, void (*visit) (const Key *k, void *arg), void *arg)
{
	Buf			buf = {0};
	CURL	   *easy = new_easy(&buf);
	char		url[1024];
	char		cursor[256] = "";
	long		count = 0;

	for (int pages = 0; pages < 1000000; pages++)
	{
		json_object *o, *arr;
		size_t		n;
		bool		has_more = false;

		if (cursor[0])
			snprintf(url, sizeof(url), "%s/v2/api-keys?source=router&limit=%d&starting_after=%s",
					 base_url, limit, cursor);
		else
			snprintf(url, sizeof(url), "%s/v2/api-keys?source=router&limit=%d", base_url, limit);
		curl_easy_setopt(easy, CURLOPT_URL, url);
		if (perform(easy, &buf) != 200)
			die("unexpected status on list", NULL);
		o = parse_body(&buf);
		arr = o;
		if (json_object_is_type(o, json_type_object))
		{
			json_object *hm;

			arr = json_object_object_get(o, "data");
			if (json_object_object_get_ex(o, "has_more", &hm))
				has_more = json_object_get_boolean(hm);
		}
		if (!json_object_is_type(arr, json_type_array))
			die("list is not an array", NULL);
		n = json_object_array_length(arr);
		for (size_t i = 0; i < n; i++)
		{
			Key			k;

			if (!parse_key(json_object_array_get_idx(arr, i), &k))
				die("key without id", NULL);
			if (visit)
				visit(&k, arg);
			count++;
			if (i == n - 1)
				snprintf(cursor, sizeof(cursor), "%s", k.id);
		}
		json_object_put(o);
		if (n == 0 || (arr == o && n < (size_t) limit) || (arr != o && !has_more))
			break;
	}
	curl_easy_cleanup(easy);
	free(buf.data);
	return count;
}

static int
mode_list(int limit)
{
	long		hwm0 = proc_status_kb("VmHWM");
	Sched		s0 = sched_now();
	double		t0 = now_ms();
	long		count = list_all(limit, NULL, NULL);
	double		t1 = now_ms();
	const char *cpu = sched_since(s0);
	long		hwm1 = proc_status_kb("VmHWM");

	printf("ms=%.3f count=%ld hwm_kb=%ld hwm_growth_kb=%ld%s checksum=%llu\n", t1 - t0, count,
		   hwm1, hwm1 - hwm0, cpu, (unsigned long long) checksum);
	return 0;
}

static void
visit_put(const Key *k, void *arg)
{
	table_put(arg, k->id, status_index(k->status));
}

/* The ids of a file, one a line (blank lines skipped); *n gets their number. */
static char **
read_ids(const char *ids_file, size_t *n)
{
	FILE	   *f = fopen(ids_file, "r");
	char		line[256];
	char	  **ids = NULL;
	size_t		nids = 0, cap = 0;

	if (f == NULL)
		die("cannot open the ids file", ids_file);
	while (fgets(line, sizeof(line), f))
	{
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (nids == cap)
		{
			cap = cap ? cap * 2 : 1024;
			ids = realloc(ids, cap * sizeof(char *));
			if (ids == NULL)
				die("out of memory", NULL);
		}
		ids[nids++] = strdup(line);
	}
	fclose(f);
	*n = nids;
	return ids;
}

/* The report: the listing hashed on id, probed with every local tenant's key id. */
static int
mode_report(const char *ids_file)
{
	char	  **ids;
	size_t		nids;
	Table		table = {calloc(1024, sizeof(Entry)), 1023, 0};
	long		per_status[4] = {0};
	long		joined = 0;
	double		t0, t1;
	Sched		s0;

	/* the local table, read before the clock starts, as the database has it already */
	ids = read_ids(ids_file, &nids);

	s0 = sched_now();
	t0 = now_ms();
	list_all(200, visit_put, &table);
	for (size_t i = 0; i < nids; i++)
	{
		const Entry *e = table_get(&table, ids[i]);

		if (e)
		{
			per_status[e->status]++;
			joined++;
		}
	}
	t1 = now_ms();
	printf("ms=%.3f count=%ld %s=%ld %s=%ld %s=%ld%s checksum=%llu\n", t1 - t0, joined,
		   status_names[0], per_status[0], status_names[1], per_status[1],
		   status_names[2], per_status[2], sched_since(s0), (unsigned long long) checksum);
	return joined == (long) nids ? 0 : 1;
}

/* One create in flight on the multi interface. */
typedef struct Slot
{
	CURL	   *easy;
	Buf			buf;
	char		body[256];
} Slot;

static int
finish_create(Slot *s)
{
	long		status = 0;
	json_object *o;
	Key			k;
	int			ok;

	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200 && status != 201)
	{
		fprintf(stderr, "rawc: create answered %ld: %.200s\n", status, s->buf.data ? s->buf.data : "");
		return 0;
	}
	o = parse_body(&s->buf);
	if (json_object_object_get_ex(o, "api_key", NULL))
	{
		ok = parse_key(json_object_object_get(o, "api_key"), &k);
		k.token = str_member(o, "token");
	}
	else
		ok = parse_key(o, &k);
	ok = ok && k.token != NULL;
	json_object_put(o);
	return ok;
}

static void
setup_create(Slot *s, const char *url, const char *prefix, int i)
{
	snprintf(s->body, sizeof(s->body), "{\"name\":\"%s%d\"}", prefix, i);
	s->buf.len = 0;
	curl_easy_setopt(s->easy, CURLOPT_URL, url);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
}

static int
mode_create(int n, int conc, const char *prefix)
{
	char		url[1024];
	Slot		slots[MAX_CONC];
	int			created = 0;
	double		t0, t1;
	Sched		s0;

	if (conc < 1 || conc > MAX_CONC)
		die("concurrency must be between 1 and 64", NULL);
	snprintf(url, sizeof(url), "%s/v2/api-keys", base_url);
	memset(slots, 0, sizeof(slots));
	for (int i = 0; i < conc; i++)
		slots[i].easy = new_easy(&slots[i].buf);

	s0 = sched_now();
	t0 = now_ms();
	if (conc == 1)
	{
		/* one at a time, on one keep-alive connection */
		for (int i = 0; i < n; i++)
		{
			setup_create(&slots[0], url, prefix, i);
			perform(slots[0].easy, &slots[0].buf);
			created += finish_create(&slots[0]);
		}
	}
	else
	{
		CURLM	   *multi = curl_multi_init();
		int			next = 0, running = 0, done = 0;

		curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) conc);
		curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) conc);
		for (int i = 0; i < conc && next < n; i++)
		{
			setup_create(&slots[i], url, prefix, next++);
			curl_multi_add_handle(multi, slots[i].easy);
		}
		while (done < n)
		{
			CURLMsg    *msg;
			int			left;

			if (curl_multi_perform(multi, &running) != CURLM_OK)
				die("curl_multi_perform failed", NULL);
			while ((msg = curl_multi_info_read(multi, &left)) != NULL)
			{
				Slot	   *s;

				if (msg->msg != CURLMSG_DONE)
					continue;
				curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &s);
				if (msg->data.result != CURLE_OK)
					die("create failed", curl_easy_strerror(msg->data.result));
				curl_multi_remove_handle(multi, s->easy);
				created += finish_create(s);
				done++;
				if (next < n)
				{
					setup_create(s, url, prefix, next++);
					curl_multi_add_handle(multi, s->easy);
				}
			}
			if (done < n && curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK)
				die("curl_multi_poll failed", NULL);
		}
		curl_multi_cleanup(multi);
	}
	t1 = now_ms();
	printf("ms=%.3f count=%d%s checksum=%llu\n", t1 - t0, created, sched_since(s0),
		   (unsigned long long) checksum);
	for (int i = 0; i < conc; i++)
	{
		curl_easy_cleanup(slots[i].easy);
		free(slots[i].buf.data);
	}
	return created == n ? 0 : 1;
}


/* One GET in flight on the multi interface. */
typedef struct GetSlot
{
	CURL	   *easy;
	Buf			buf;
	char		url[1024];
} GetSlot;

/* The answer of a finished GET: 1 and its status' index when found, 0 when not (404). */
static int
finish_get(GetSlot *s, int *status_ix)
{
	long		status = 0;
	json_object *o;
	Key			k;
	int			found;

	curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status == 404)
		return 0;
	if (status != 200)
	{
		fprintf(stderr, "rawc: GET answered %ld: %.200s\n", status, s->buf.data ? s->buf.data : "");
		exit(1);
	}
	o = parse_body(&s->buf);
	found = parse_answer_key(o, &k);
	*status_ix = found ? status_index(k.status) : 3;
	json_object_put(o);
	return found;
}

/*
 * GETs of ids[0..n-1], conc at a time; per_status[] counts the statuses of the keys found.
 * Returns how many were found.
 */
static int
get_ids(GetSlot *slots, int conc, CURLM *multi, char **ids, size_t n, long *per_status)
{
	size_t		next = 0, done = 0;
	int			found = 0;
	int			running = 0;

	if (conc == 1)
	{
		/* one at a time, on one keep-alive connection */
		for (size_t i = 0; i < n; i++)
		{
			int			ix = 3;

			snprintf(slots[0].url, sizeof(slots[0].url), "%s/v2/api-keys/%s", base_url, ids[i]);
			curl_easy_setopt(slots[0].easy, CURLOPT_URL, slots[0].url);
			perform(slots[0].easy, &slots[0].buf);
			if (finish_get(&slots[0], &ix))
			{
				found++;
				per_status[ix]++;
			}
		}
		return found;
	}
	for (int i = 0; i < conc && next < n; i++, next++)
	{
		snprintf(slots[i].url, sizeof(slots[i].url), "%s/v2/api-keys/%s", base_url, ids[next]);
		slots[i].buf.len = 0;
		curl_easy_setopt(slots[i].easy, CURLOPT_URL, slots[i].url);
		curl_easy_setopt(slots[i].easy, CURLOPT_PRIVATE, &slots[i]);
		curl_multi_add_handle(multi, slots[i].easy);
	}
	while (done < n)
	{
		CURLMsg    *msg;
		int			left;

		if (curl_multi_perform(multi, &running) != CURLM_OK)
			die("curl_multi_perform failed", NULL);
		while ((msg = curl_multi_info_read(multi, &left)) != NULL)
		{
			GetSlot    *s;
			int			ix = 3;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &s);
			if (msg->data.result != CURLE_OK)
				die("GET failed", curl_easy_strerror(msg->data.result));
			curl_multi_remove_handle(multi, s->easy);
			if (finish_get(s, &ix))
			{
				found++;
				per_status[ix]++;
			}
			done++;
			if (next < n)
			{
				snprintf(s->url, sizeof(s->url), "%s/v2/api-keys/%s", base_url, ids[next++]);
				s->buf.len = 0;
				curl_easy_setopt(s->easy, CURLOPT_URL, s->url);
				curl_multi_add_handle(multi, s->easy);
			}
		}
		if (done < n && curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK)
			die("curl_multi_poll failed", NULL);
	}
	return found;
}

/*
 * The report (or any set of keys) by one GET per id: conc at a time, after a warm-up of
 * min(conc, n) GETs of the first ids that opens the connections.
 */
static int
mode_getids(const char *ids_file, int conc)
{
	size_t		n;
	char	  **ids = read_ids(ids_file, &n);
	GetSlot		slots[MAX_CONC];
	CURLM	   *multi = NULL;
	long		per_status[4] = {0};
	long		warm_status[4] = {0};
	size_t		warm = 0;
	int			found;
	double		t0, t1;
	Sched		s0;

	if (conc < 1 || conc > MAX_CONC)
		die("concurrency must be between 1 and 64", NULL);
	memset(slots, 0, sizeof(slots));
	for (int i = 0; i < conc; i++)
		slots[i].easy = new_easy(&slots[i].buf);
	if (conc > 1)
	{
		multi = curl_multi_init();
		curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) conc);
		curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) conc);
	}
	warm = n < (size_t) conc ? n : (size_t) conc;
	get_ids(slots, conc, multi, ids, warm, warm_status);

	s0 = sched_now();
	t0 = now_ms();
	found = get_ids(slots, conc, multi, ids, n, per_status);
	t1 = now_ms();
	printf("ms=%.3f count=%d requests=%zu warm_requests=%zu %s=%ld %s=%ld %s=%ld%s checksum=%llu\n",
		   t1 - t0, found, n, warm, status_names[0], per_status[0], status_names[1],
		   per_status[1], status_names[2], per_status[2], sched_since(s0),
		   (unsigned long long) checksum);
	if (multi)
		curl_multi_cleanup(multi);
	for (int i = 0; i < conc; i++)
	{
		curl_easy_cleanup(slots[i].easy);
		free(slots[i].buf.data);
	}
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return found == (int) n ? 0 : 1;
}

static int
mode_cold(const char *id)
{
	Buf			buf = {0};
	CURL	   *easy = new_easy(&buf);
	char		url[1024];
	int			found;

	snprintf(url, sizeof(url), "%s/v2/api-keys/%s", base_url, id);
	found = get_one(easy, &buf, url);
	printf("count=%d\n", found);
	curl_easy_cleanup(easy);
	free(buf.data);
	return found ? 0 : 1;
}

int
main(int argc, char **argv)
{
	const char *key = getenv("RK_BENCH_KEY");
	char		auth[512];
	int			rc;

	if (argc < 3)
	{
		fprintf(stderr, "usage: rawc get|list|create|report|getids|cold URL ...\n");
		return 2;
	}
	base_url = argv[2];
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		die("curl_global_init failed", NULL);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			 key && key[0] ? key : "rk-test-provisioning-valid");
	headers = curl_slist_append(NULL, auth);
	headers = curl_slist_append(headers, "Accept: application/json");
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Expect:");

	if (strcmp(argv[1], "get") == 0 && argc == 5)
		rc = mode_get(argv[3], atoi(argv[4]));
	else if (strcmp(argv[1], "list") == 0 && argc == 4)
		rc = mode_list(atoi(argv[3]));
	else if (strcmp(argv[1], "create") == 0 && argc == 6)
		rc = mode_create(atoi(argv[3]), atoi(argv[4]), argv[5]);
	else if (strcmp(argv[1], "report") == 0 && argc == 4)
		rc = mode_report(argv[3]);
	else if (strcmp(argv[1], "getids") == 0 && argc == 5)
		rc = mode_getids(argv[3], atoi(argv[4]));
	else if (strcmp(argv[1], "cold") == 0 && argc == 4)
		rc = mode_cold(argv[3]);
	else
	{
		fprintf(stderr, "rawc: bad arguments for mode %s\n", argv[1]);
		rc = 2;
	}
	curl_slist_free_all(headers);
	curl_global_cleanup();
	return rc;
}
