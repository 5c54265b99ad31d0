/*-------------------------------------------------------------------------
 *
 * postgres.h (fuzzing shim)
 *		The part of PostgreSQL's c.h, port.h and postgres.h that routerkeys.h,
 *		json.c and dialect_orq.c use, so that those build without PostgreSQL.
 *
 * Only types, macros and inline helpers live here; errors are in
 * utils/elog.h and memory in utils/palloc.h, both implemented by pgshim.c.
 * Everything a harness needs beyond PostgreSQL's API is in pgshim.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_SHIM_POSTGRES_H
#define RK_SHIM_POSTGRES_H

#include <assert.h>
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int64_t int64;
typedef int32_t int32;
typedef int16_t int16;
typedef uint32_t uint32;
typedef size_t Size;
typedef unsigned int Oid;
typedef uintptr_t Datum;

#define InvalidOid		((Oid) 0)
#define FLEXIBLE_ARRAY_MEMBER	/* empty */

#define DatumGetPointer(X) ((Pointer) (X))
#define PointerGetDatum(X) ((Datum) (X))
#define DatumGetCString(X) ((char *) DatumGetPointer(X))
#define CStringGetDatum(X) PointerGetDatum(X)

typedef char *Pointer;

#define pg_attribute_noreturn() __attribute__((noreturn))
#define pg_noinline __attribute__((noinline))
#define pg_attribute_printf(f, a) __attribute__((format(printf, f, a)))
#define pg_unreachable() __builtin_unreachable()

#define lengthof(array) (sizeof(array) / sizeof((array)[0]))
#define IS_HIGHBIT_SET(ch) ((unsigned char)(ch) & 0x80)
#define Max(x, y) ((x) > (y) ? (x) : (y))
#define Min(x, y) ((x) < (y) ? (x) : (y))

/* ASCII-only lower-casing, independent of the locale (port.h). */
static inline unsigned char
pg_ascii_tolower(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') ? ch + ('a' - 'A') : ch;
}

/* Case-insensitive comparison, as port/pgstrcasecmp.c does it (pgshim.c). */
extern int	pg_strcasecmp(const char *s1, const char *s2);
extern int	pg_strncasecmp(const char *s1, const char *s2, size_t n);

#define Assert(condition) assert(condition)

#include "utils/elog.h"
#include "utils/palloc.h"

#endif							/* RK_SHIM_POSTGRES_H */
