/*-------------------------------------------------------------------------
 *
 * util.c
 *		Small helpers shared by every part of rkstub: allocation that never
 *		returns NULL, clocks and interruptible sleeps, RFC 3339 and HTTP
 *		dates, UTF-8 checks, query-string decoding and strict JSON parsing.
 *
 * Nothing here knows about keys, faults or HTTP.  Every string returned is
 * malloc'd and owned by the caller.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "rkstub.h"

static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;
static bool sleep_cancelled = false;

/*
 * Abort on allocation failure: the stub is a test tool and has nothing
 * sensible to answer when memory runs out.
 */
static void *
check_alloc(void *p)
{
	if (p == NULL)
	{
		fprintf(stderr, "rkstub: out of memory\n");
		abort();
	}
	return p;
}

/* malloc that never returns NULL. */
void *
rk_xmalloc(size_t size)
{
	return check_alloc(malloc(size ? size : 1));
}

/* calloc that never returns NULL. */
void *
rk_xcalloc(size_t n, size_t size)
{
	return check_alloc(calloc(n ? n : 1, size ? size : 1));
}

/* realloc that never returns NULL. */
void *
rk_xrealloc(void *p, size_t size)
{
	return check_alloc(realloc(p, size ? size : 1));
}

/* strdup that never returns NULL; NULL in, NULL out. */
char *
rk_xstrdup(const char *s)
{
	if (s == NULL)
		return NULL;
	return check_alloc(strdup(s));
}

/* Copy len bytes of s into a new NUL-terminated string. */
char *
rk_xstrndup(const char *s, size_t len)
{
	char	   *p = rk_xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* Wall-clock time in microseconds since the Unix epoch. */
int64_t
rk_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Sleep for ms milliseconds, or less if rk_wake_sleepers is called (at
 * shutdown, or when the server goes down), so that a long injected delay
 * never holds up an exit or the closing of the connections.
 */
void
rk_sleep_ms(int ms)
{
	struct timespec deadline;

	if (ms <= 0)
		return;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long) (ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L)
	{
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sleep_lock);
	while (!sleep_cancelled)
	{
		if (pthread_cond_timedwait(&sleep_cond, &sleep_lock, &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&sleep_lock);
}

/*
 * End every current and future rk_sleep_ms at once (at shutdown, and while
 * a down period closes the connections, until rk_rearm_sleepers).
 */
void
rk_wake_sleepers(void)
{
	pthread_mutex_lock(&sleep_lock);
	sleep_cancelled = true;
	pthread_cond_broadcast(&sleep_cond);
	pthread_mutex_unlock(&sleep_lock);
}

/* Let rk_sleep_ms sleep again after rk_wake_sleepers (a down period ends). */
void
rk_rearm_sleepers(void)
{
	pthread_mutex_lock(&sleep_lock);
	sleep_cancelled = false;
	pthread_mutex_unlock(&sleep_lock);
}

/* Days since 1970-01-01 of a proleptic Gregorian civil date. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t		era;
	int64_t		yoe;
	int64_t		doy;
	int64_t		doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Number of days in a month of a given year. */
static int
days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* Write v as exactly n decimal digits at p. */
static void
put_digits(char *p, int64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--)
	{
		p[i] = (char) ('0' + v % 10);
		v /= 10;
	}
}

/*
 * Format a time as RFC 3339 in UTC, the way protobuf's JSON mapping does:
 * three fractional digits, or six when the time has microseconds.  buf
 * needs 28 bytes.  Hand-rolled (no gmtime/strftime) because list pages
 * format hundreds of these.
 */
void
rk_format_time(int64_t us, char *buf, size_t buflen)
{
	int64_t		secs = us / 1000000;
	int64_t		frac = us % 1000000;
	int64_t		days;
	int64_t		sod;
	int64_t		z,
				era,
				doe,
				yoe,
				doy,
				mp,
				y;
	int			m,
				d;
	char		tmp[32];
	size_t		n;

	if (frac < 0)
	{
		frac += 1000000;
		secs--;
	}
	days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
	sod = secs - days * 86400;
	/* civil date from days since 1970-01-01 (proleptic Gregorian) */
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = (int) (doy - (153 * mp + 2) / 5 + 1);
	m = (int) (mp < 10 ? mp + 3 : mp - 9);
	y = yoe + era * 400 + (m <= 2);
	put_digits(tmp, y, 4);
	tmp[4] = '-';
	put_digits(tmp + 5, m, 2);
	tmp[7] = '-';
	put_digits(tmp + 8, d, 2);
	tmp[10] = 'T';
	put_digits(tmp + 11, sod / 3600, 2);
	tmp[13] = ':';
	put_digits(tmp + 14, (sod / 60) % 60, 2);
	tmp[16] = ':';
	put_digits(tmp + 17, sod % 60, 2);
	tmp[19] = '.';
	if (frac % 1000 == 0)
	{
		put_digits(tmp + 20, frac / 1000, 3);
		n = 23;
	}
	else
	{
		put_digits(tmp + 20, frac, 6);
		n = 26;
	}
	tmp[n++] = 'Z';
	tmp[n] = '\0';
	if (buflen > 0)
	{
		if (n >= buflen)
			n = buflen - 1;
		memcpy(buf, tmp, n);
		buf[n] = '\0';
	}
}

/* Read exactly n decimal digits from *p into *out, advancing *p. */
static bool
read_digits(const char **p, int n, int *out)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) (*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/*
 * Parse an RFC 3339 date-time ("2030-01-02T03:04:05.678+01:00") into
 * microseconds since the epoch.  Fractions beyond microseconds are
 * truncated.  Returns false on anything malformed or out of range.
 */
bool
rk_parse_time(const char *s, int64_t *us)
{
	const char *p = s;
	int			y,
				mo,
				d,
				h,
				mi,
				sec;
	int64_t		frac = 0;
	int64_t		offset = 0;

	if (!read_digits(&p, 4, &y) || *p++ != '-' ||
		!read_digits(&p, 2, &mo) || *p++ != '-' ||
		!read_digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
		return false;
	p++;
	if (!read_digits(&p, 2, &h) || *p++ != ':' ||
		!read_digits(&p, 2, &mi) || *p++ != ':' ||
		!read_digits(&p, 2, &sec))
		return false;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
		h > 23 || mi > 59 || sec > 60)
		return false;
	if (*p == '.')
	{
		int			ndigits = 0;

		p++;
		if (!isdigit((unsigned char) *p))
			return false;
		while (isdigit((unsigned char) *p))
		{
			if (ndigits < 6)
				frac = frac * 10 + (*p - '0');
			ndigits++;
			p++;
		}
		for (; ndigits < 6; ndigits++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		int			sign = (*p == '-') ? -1 : 1;
		int			oh,
					om;

		p++;
		if (!read_digits(&p, 2, &oh) || *p++ != ':' ||
			!read_digits(&p, 2, &om) || oh > 23 || om > 59)
			return false;
		offset = sign * ((int64_t) oh * 3600 + om * 60);
	}
	else
		return false;
	if (*p != '\0')
		return false;
	if (sec == 60)
		sec = 59;
	*us = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec
			- offset) * 1000000) + frac;
	return true;
}

/* Format t as an IMF-fixdate HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT"). */
void
rk_http_date(time_t t, char *buf, size_t buflen)
{
	struct tm	tm;
	static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

	gmtime_r(&t, &tm);
	snprintf(buf, buflen, "%s, %02d %s %04d %02d:%02d:%02d GMT",
			 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
			 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * Length in bytes of the valid UTF-8 sequence starting at s (at most len
 * bytes), or 0 if it is not one.
 */
static size_t
utf8_seq_len(const unsigned char *s, size_t len)
{
	size_t		n;
	uint32_t	cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
	{
		n = 2;
		cp = s[0] & 0x1F;
	}
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
	{
		n = 3;
		cp = s[0] & 0x0F;
	}
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
	{
		n = 4;
		cp = s[0] & 0x07;
	}
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		(cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/*
 * Count the characters (code points) of a UTF-8 string; *valid tells
 * whether the whole string was well-formed.
 */
size_t
rk_utf8_chars(const char *s, size_t len, bool *valid)
{
	size_t		chars = 0;
	size_t		i = 0;

	*valid = true;
	while (i < len)
	{
		size_t		n = utf8_seq_len((const unsigned char *) s + i, len - i);

		if (n == 0)
		{
			*valid = false;
			n = 1;
		}
		i += n;
		chars++;
	}
	return chars;
}

/*
 * Copy s, replacing every malformed UTF-8 byte and every NUL with U+FFFD,
 * so that the result can be placed in a JSON string.
 */
char *
rk_utf8_sanitize(const char *s, size_t len)
{
	char	   *out = rk_xmalloc(len * 3 + 1);
	size_t		o = 0;
	size_t		i = 0;

	while (i < len)
	{
		size_t		n = utf8_seq_len((const unsigned char *) s + i, len - i);

		if (n == 0 || s[i] == '\0')
		{
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return out;
}

/* Value of one hexadecimal digit, or -1. */
static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode len bytes of s; '+' becomes a space when plus_is_space
 * (query strings).  A malformed escape is kept literally.
 */
char *
rk_percent_decode(const char *s, size_t len, bool plus_is_space)
{
	char	   *out = rk_xmalloc(len + 1);
	size_t		o = 0;

	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == '%' && i + 2 < len &&
			hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0)
		{
			out[o++] = (char) (hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
			i += 2;
		}
		else if (s[i] == '+' && plus_is_space)
			out[o++] = ' ';
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

/*
 * Split a raw query string into decoded name/value pairs, keeping repeated
 * names (multi-value parameters) in order.
 */
void
rk_query_parse(const char *raw, RkQuery *q)
{
	const char *p = raw ? raw : "";

	q->params = NULL;
	q->nparams = 0;
	while (*p)
	{
		const char *end = strchr(p, '&');
		size_t		len = end ? (size_t) (end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);

		if (len > 0)
		{
			RkParam    *param;

			q->params = rk_xrealloc(q->params, sizeof(RkParam) * (q->nparams + 1));
			param = &q->params[q->nparams++];
			if (eq)
			{
				param->name = rk_percent_decode(p, eq - p, true);
				param->value = rk_percent_decode(eq + 1, len - (eq - p) - 1, true);
			}
			else
			{
				param->name = rk_percent_decode(p, len, true);
				param->value = rk_xstrdup("");
			}
		}
		p += len;
		if (*p == '&')
			p++;
	}
}

/* First value of a query parameter, or NULL when it is absent. */
const char *
rk_query_get(const RkQuery *q, const char *name)
{
	for (int i = 0; i < q->nparams; i++)
	{
		if (strcmp(q->params[i].name, name) == 0)
			return q->params[i].value;
	}
	return NULL;
}

/* Release what rk_query_parse allocated. */
void
rk_query_free(RkQuery *q)
{
	for (int i = 0; i < q->nparams; i++)
	{
		free(q->params[i].name);
		free(q->params[i].value);
	}
	free(q->params);
	q->params = NULL;
	q->nparams = 0;
}

/*
 * Parse a complete JSON text strictly (RFC 8259 syntax, valid UTF-8, no
 * trailing garbage).  Returns NULL on any error; a JSON null also yields
 * NULL, which callers treat as "not an object" anyway.
 */
json_object *
rk_json_parse(const char *text, size_t len)
{
	json_tokener *tok;
	json_object *obj;
	size_t		used;

	if (len == 0 || len > INT32_MAX)
		return NULL;
	tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int) len);
	if (json_tokener_get_error(tok) != json_tokener_success)
	{
		json_object_put(obj);
		json_tokener_free(tok);
		return NULL;
	}
	used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	while (used < len && isspace((unsigned char) text[used]))
		used++;
	if (used != len)
	{
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

/* A member of a JSON object, with JSON null (or no object) read as absent. */
json_object *
rk_json_member(json_object *obj, const char *name)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(obj, name, &v))
		return NULL;
	return v;
}

/*
 * Read an integer from a JSON value; doubles with no fractional part are
 * accepted too (JavaScript clients send 10 as 10, but some send 10.0).
 */
bool
rk_json_int(json_object *o, int64_t *out)
{
	if (json_object_is_type(o, json_type_int))
	{
		errno = 0;
		*out = json_object_get_int64(o);
		return errno == 0;
	}
	if (json_object_is_type(o, json_type_double))
	{
		double		d = json_object_get_double(o);

		if (d != (double) (int64_t) d || d > 9e15 || d < -9e15)
			return false;
		*out = (int64_t) d;
		return true;
	}
	return false;
}

/* Serialize a JSON value compactly into a new malloc'd string. */
char *
rk_json_text(json_object *o)
{
	return rk_xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
													 JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* An empty buffer with room for cap bytes. */
void
rk_buf_init(RkBuf *buf, size_t cap)
{
	buf->cap = cap ? cap : 64;
	buf->data = rk_xmalloc(buf->cap);
	buf->len = 0;
	buf->data[0] = '\0';
}

/* Append len bytes (keeping a NUL after them). */
void
rk_buf_append(RkBuf *buf, const char *s, size_t len)
{
	if (buf->len + len + 1 > buf->cap)
	{
		while (buf->len + len + 1 > buf->cap)
			buf->cap *= 2;
		buf->data = rk_xrealloc(buf->data, buf->cap);
	}
	memcpy(buf->data + buf->len, s, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
}

/* Append a NUL-terminated string. */
void
rk_buf_puts(RkBuf *buf, const char *s)
{
	rk_buf_append(buf, s, strlen(s));
}

/*
 * Append s as a quoted JSON string: quote, backslash and control
 * characters escaped, everything else (UTF-8 included) as is.
 */
void
rk_buf_json_string(RkBuf *buf, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	rk_buf_append(buf, "\"", 1);
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;
		char		esc[6];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rk_buf_append(buf, run, (size_t) (s - run));
		run = s + 1;
		if (c == '"' || c == '\\')
		{
			esc[0] = '\\';
			esc[1] = (char) c;
			rk_buf_append(buf, esc, 2);
			continue;
		}
		memcpy(esc, "\\u00", 4);
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 15];
		rk_buf_append(buf, esc, 6);
	}
	rk_buf_append(buf, run, (size_t) (s - run));
	rk_buf_append(buf, "\"", 1);
}

/* Append a time as a quoted RFC 3339 string. */
void
rk_buf_time(RkBuf *buf, int64_t us)
{
	char		tmp[40];

	tmp[0] = '"';
	rk_format_time(us, tmp + 1, sizeof(tmp) - 2);
	strcat(tmp, "\"");
	rk_buf_puts(buf, tmp);
}
