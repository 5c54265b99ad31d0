/*-------------------------------------------------------------------------
 *
 * pgshim.c
 *		The PostgreSQL API that json.c and dialect_orq.c call, for building
 *		them without PostgreSQL: an arena of malloc'd chunks for palloc,
 *		ereport over sigsetjmp/siglongjmp, StringInfo, pg_strcasecmp, and
 *		UTF-8 verification for pg_any_to_server.
 *
 * Single-threaded, like a backend.  The arena is a growing array of chunk
 * pointers; pgshim_reset frees them all, so that LeakSanitizer reports only
 * what the code under test leaks outside palloc (json-c objects).  The
 * error being reported lives in static storage until FlushErrorState.
 *
 *-------------------------------------------------------------------------
 */
#include "pgshim.h"

#include <errno.h>
#include <execinfo.h>
#include <stdarg.h>

#include <json-c/json.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"

sigjmp_buf *PG_exception_stack = NULL;

/* The one context there is: a token, since every chunk goes to the arena. */
static char the_context;
MemoryContext CurrentMemoryContext = (MemoryContext) &the_context;

/* The arena: every live palloc'd chunk, and the size asked for it. */
typedef struct Chunk
{
	void	   *pointer;
	size_t		size;
} Chunk;

static Chunk *chunks = NULL;
static size_t nchunks = 0;
static size_t maxchunks = 0;

/* Allocation points passed, and the one to fail (-1: none). */
static long alloc_points = 0;
static long fail_point = -1;

/* The error being reported. */
static struct
{
	bool		active;			/* between errstart and FlushErrorState */
	int			elevel;
	int			code;
	char		message[512];
	char		detail[512];
	char		location[256];
	void	   *frames[40];		/* the stack of the ereport */
	int			nframes;
}			error;

/* The sanitizers' symbolizer, when the binary has them. */
extern void __sanitizer_symbolize_pc(void *pc, const char *fmt, char *out_buf,
									 size_t out_buf_size) __attribute__((weak));

/*
 * Counts an allocation point; raises the injected out-of-memory ERROR when
 * it is the chosen one.
 */
static void
pass_alloc_point(void)
{
	if (alloc_points++ == fail_point)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory (injected at allocation point %ld)", fail_point)));
}

/*
 * Adds a chunk to the arena.  The array itself is malloc'd, outside the
 * arena, and kept across resets.
 */
static void
track(void *chunk, size_t size)
{
	if (nchunks == maxchunks)
	{
		size_t		newmax = maxchunks ? maxchunks * 2 : 1024;
		Chunk	   *grown = realloc(chunks, newmax * sizeof(Chunk));

		if (grown == NULL)
		{
			free(chunk);
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		}
		chunks = grown;
		maxchunks = newmax;
	}
	chunks[nchunks].pointer = chunk;
	chunks[nchunks].size = size;
	nchunks++;
}

/* The index of a chunk in the arena; a pointer not in it is a bug in the caller. */
static size_t
find_chunk(void *pointer, const char *caller)
{
	for (size_t i = nchunks; i-- > 0;)
	{
		if (chunks[i].pointer == pointer)
			return i;
	}
	fprintf(stderr, "pgshim: %s of %p, which palloc did not return\n", caller, pointer);
	abort();
}

/*
 * One allocation point: a chunk of size bytes, or an ERROR as PostgreSQL
 * raises one (also when the point is made to fail).
 */
static void *
alloc_chunk(size_t size)
{
	void	   *chunk;

	if (size > MaxAllocSize)
		elog(ERROR, "invalid memory alloc request size %zu", size);
	pass_alloc_point();
	chunk = malloc(size > 0 ? size : 1);
	if (chunk == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	return chunk;
}

void *
palloc(size_t size)
{
	void	   *chunk = alloc_chunk(size);

	track(chunk, size);
	return chunk;
}

void *
palloc0(size_t size)
{
	void	   *chunk = palloc(size);

	memset(chunk, 0, size);
	return chunk;
}

/*
 * Frees one chunk.  Searching from the newest keeps the common case short.
 */
void
pfree(void *pointer)
{
	size_t		i = find_chunk(pointer, "pfree");

	chunks[i] = chunks[--nchunks];
	free(pointer);
}

/*
 * Like PostgreSQL's: an allocation point that, when it fails, raises ERROR
 * and leaves the chunk as it was.  The chunk always moves, so that a caller
 * that keeps the old pointer is caught by AddressSanitizer.
 */
void *
repalloc(void *pointer, size_t size)
{
	size_t		i = find_chunk(pointer, "repalloc");
	void	   *chunk = alloc_chunk(size);

	memcpy(chunk, pointer, Min(size, chunks[i].size));
	free(pointer);
	chunks[i].pointer = chunk;
	chunks[i].size = size;
	return chunk;
}

void *
MemoryContextAlloc(MemoryContext context, size_t size)
{
	return palloc(size);
}

void *
MemoryContextAllocZero(MemoryContext context, size_t size)
{
	return palloc0(size);
}

char *
MemoryContextStrdup(MemoryContext context, const char *string)
{
	return pstrdup(string);
}

char *
pstrdup(const char *in)
{
	return pnstrdup(in, strlen(in));
}

/* Like PostgreSQL's: copies at most len bytes, stopping at a NUL. */
char *
pnstrdup(const char *in, size_t len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

char *
psprintf(const char *fmt,...)
{
	va_list		args;
	int			len;
	char	   *out;

	va_start(args, fmt);
	len = vsnprintf(NULL, 0, fmt, args);
	va_end(args);
	if (len < 0)
		elog(ERROR, "vsnprintf failed: %s", strerror(errno));
	out = palloc((size_t) len + 1);
	va_start(args, fmt);
	vsnprintf(out, (size_t) len + 1, fmt, args);
	va_end(args);
	return out;
}

void
pgshim_reset(void)
{
	for (size_t i = 0; i < nchunks; i++)
		free(chunks[i].pointer);
	nchunks = 0;
	alloc_points = 0;
	fail_point = -1;
	FlushErrorState();
}

size_t
pgshim_live_chunks(void)
{
	return nchunks;
}

long
pgshim_alloc_points(void)
{
	return alloc_points;
}

void
pgshim_fail_at(long n)
{
	fail_point = n;
}

/*
 * The json-c allocation that json.c checks for NULL, counted as an
 * allocation point: with -Wl,--wrap=json_tokener_new_ex every call from
 * the code under test comes here.  An injected failure returns NULL, as
 * json-c does when malloc fails, and json.c is to raise the ERROR.
 */
extern json_tokener *__real_json_tokener_new_ex(int depth);
extern json_tokener *__wrap_json_tokener_new_ex(int depth);

json_tokener *
__wrap_json_tokener_new_ex(int depth)
{
	if (alloc_points++ == fail_point)
		return NULL;
	return __real_json_tokener_new_ex(depth);
}

bool
errstart(int elevel)
{
	if (elevel < ERROR)
		return false;			/* nothing below ERROR is kept */
	memset(&error, 0, sizeof(error));
	error.active = true;
	error.elevel = elevel;
	error.code = ERRCODE_INTERNAL_ERROR;
	return true;
}

int
errcode(int sqlerrcode)
{
	error.code = sqlerrcode;
	return 0;
}

/* Formats the primary message of the error being reported. */
static void
set_message(const char *fmt, va_list args)
{
	vsnprintf(error.message, sizeof(error.message), fmt, args);
}

int
errmsg(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	set_message(fmt, args);
	va_end(args);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	set_message(fmt, args);
	va_end(args);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	vsnprintf(error.detail, sizeof(error.detail), fmt, args);
	va_end(args);
	return 0;
}

/* Ends an ereport: an ERROR jumps to the innermost PG_TRY. */
void
errfinish(const char *filename, int lineno, const char *funcname)
{
	snprintf(error.location, sizeof(error.location), "%s:%d (%s)", filename, lineno, funcname);
	error.nframes = backtrace(error.frames, lengthof(error.frames));
	if (error.elevel >= ERROR)
		pg_re_throw();
}

void
pg_re_throw(void)
{
	if (PG_exception_stack == NULL)
	{
		fprintf(stderr, "pgshim: ERROR outside PG_TRY at %s: %s\n", error.location, error.message);
		abort();
	}
	siglongjmp(*PG_exception_stack, 1);
}

void
FlushErrorState(void)
{
	memset(&error, 0, sizeof(error));
}

bool
pgshim_error_pending(void)
{
	return error.active;
}

int
pgshim_error_code(void)
{
	return error.code;
}

const char *
pgshim_error_message(void)
{
	return error.message;
}

const char *
pgshim_error_location(void)
{
	return error.location;
}

void
pgshim_print_error_stack(FILE *out)
{
	for (int i = 1; i < error.nframes; i++)	/* errfinish itself aside */
	{
		char		frame[512];

		if (__sanitizer_symbolize_pc != NULL)
		{
			/* a return address: the call is the byte before */
			__sanitizer_symbolize_pc((char *) error.frames[i] - 1, "%F %L", frame, sizeof(frame));
			fprintf(out, "    #%d %s\n", i - 1, frame);
		}
		else
		{
			char	  **symbols = backtrace_symbols(&error.frames[i], 1);

			fprintf(out, "    #%d %s\n", i - 1, symbols ? symbols[0] : "?");
			free(symbols);
		}
	}
}

void
pgshim_unpack_sqlstate(int code, char out[6])
{
	for (int i = 0; i < 5; i++)
	{
		out[i] = (char) ((code & 0x3F) + '0');
		code >>= 6;
	}
	out[5] = '\0';
}

/*
 * Length of the valid UTF-8 character at s (at most len bytes), or 0.
 * The rules are PostgreSQL's (pg_utf8_islegal): no overlong form, no
 * surrogate, nothing above U+10FFFF, and no NUL.
 */
static int
utf8_char_length(const unsigned char *s, size_t len)
{
	int			n;
	unsigned char lo = 0x80;
	unsigned char hi = 0xBF;

	if (s[0] == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4;
	else
		return 0;
	if ((size_t) n > len)
		return 0;
	if (s[0] == 0xE0)
		lo = 0xA0;
	else if (s[0] == 0xED)
		hi = 0x9F;
	else if (s[0] == 0xF0)
		lo = 0x90;
	else if (s[0] == 0xF4)
		hi = 0x8F;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (int i = 2; i < n; i++)
	{
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	}
	return n;
}

bool
pgshim_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;

	while (len > 0)
	{
		int			n = utf8_char_length(p, len);

		if (n == 0)
			return false;
		p += n;
		len -= n;
	}
	return true;
}

/*
 * Like PostgreSQL's: with noError, says whether the text is valid; without,
 * raises the ERROR a backend raises for it.
 */
bool
pg_verify_mbstr(int encoding, const char *mbstr, int len, bool noError)
{
	if (encoding != PG_UTF8 && encoding != PG_SQL_ASCII)
		elog(ERROR, "pgshim: encoding %d is not supported", encoding);
	if (len >= 0 && pgshim_utf8_valid(mbstr, (size_t) len))
		return true;
	if (noError)
		return false;
	ereport(ERROR,
			(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
			 errmsg("invalid byte sequence for encoding \"UTF8\"")));
	return false;
}

int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

char *
pg_any_to_server(const char *s, int len, int encoding)
{
	(void) pg_verify_mbstr(PG_UTF8, s, len, false);
	return (char *) s;
}

char *
pg_server_to_any(const char *s, int len, int encoding)
{
	return (char *) s;
}

/*
 * Like port/pgstrcasecmp.c: ASCII letters fold, and a high-bit byte folds
 * when the locale says it is upper case (never, in the C locale).
 */
static unsigned char
fold(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch + ('a' - 'A');
	if (IS_HIGHBIT_SET(ch) && isupper(ch))
		return (unsigned char) tolower(ch);
	return ch;
}

int
pg_strncasecmp(const char *s1, const char *s2, size_t n)
{
	while (n-- > 0)
	{
		unsigned char ch1 = (unsigned char) *s1++;
		unsigned char ch2 = (unsigned char) *s2++;

		if (ch1 != ch2)
		{
			ch1 = fold(ch1);
			ch2 = fold(ch2);
			if (ch1 != ch2)
				return (int) ch1 - (int) ch2;
		}
		if (ch1 == 0)
			break;
	}
	return 0;
}

int
pg_strcasecmp(const char *s1, const char *s2)
{
	return pg_strncasecmp(s1, s2, SIZE_MAX);
}

/*
 * StringInfo, as lib/stringinfo.c: a palloc'd buffer, always NUL-terminated,
 * doubled as it grows, at most MaxAllocSize.
 */
StringInfo
makeStringInfo(void)
{
	StringInfo	str = palloc(sizeof(StringInfoData));

	initStringInfo(str);
	return str;
}

void
initStringInfo(StringInfo str)
{
	int			size = 1024;	/* initial default buffer size */

	str->data = palloc(size);
	str->maxlen = size;
	resetStringInfo(str);
}

void
resetStringInfo(StringInfo str)
{
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			newlen;

	if (needed < 0)
		elog(ERROR, "invalid string enlargement request size: %d", needed);
	if (((size_t) needed) >= (MaxAllocSize - (size_t) str->len))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("out of memory"),
				 errdetail("Cannot enlarge string buffer containing %d bytes by %d more bytes.",
						   str->len, needed)));
	needed += str->len + 1;		/* total space required now */
	if (needed <= str->maxlen)
		return;
	newlen = 2 * str->maxlen;
	while (needed > newlen)
		newlen = 2 * newlen;
	if (newlen > (int) MaxAllocSize)
		newlen = (int) MaxAllocSize;
	str->data = repalloc(str->data, newlen);
	str->maxlen = newlen;
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	va_list		args;
	int			len;

	va_start(args, fmt);
	len = vsnprintf(NULL, 0, fmt, args);
	va_end(args);
	if (len < 0)
		elog(ERROR, "vsnprintf failed: %s", strerror(errno));
	enlargeStringInfo(str, len);
	va_start(args, fmt);
	vsnprintf(str->data + str->len, (size_t) (str->maxlen - str->len), fmt, args);
	va_end(args);
	str->len += len;
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendBinaryStringInfo(str, s, (int) strlen(s));
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	if (str->len + 1 >= str->maxlen)
		enlargeStringInfo(str, 1);
	str->data[str->len] = ch;
	str->len++;
	str->data[str->len] = '\0';
}

void
appendBinaryStringInfo(StringInfo str, const void *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}
