/*-------------------------------------------------------------------------
 *
 * utils/palloc.h (fuzzing shim)
 *		palloc and friends over malloc, each chunk tracked in one arena that
 *		pgshim_reset() frees as a whole: the shim's stand-in for the memory
 *		context of a call.
 *
 * Chunks are exactly the size asked for, so AddressSanitizer sees every
 * overrun.  There is one arena for every context: MemoryContextAlloc and
 * friends allocate where palloc does, and CurrentMemoryContext is a token.  Like PostgreSQL's, these raise ERROR rather than return NULL:
 * on a request above MaxAllocSize (utils/memutils.h), when malloc fails, and when a harness
 * injects a failure (pgshim_fail_at).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_SHIM_PALLOC_H
#define RK_SHIM_PALLOC_H

typedef struct MemoryContextData *MemoryContext;

extern void *palloc(size_t size);
extern void *palloc0(size_t size);
extern void *repalloc(void *pointer, size_t size);
extern void pfree(void *pointer);
extern char *pstrdup(const char *in);
extern char *pnstrdup(const char *in, size_t len);
extern char *psprintf(const char *fmt,...) pg_attribute_printf(1, 2);

extern MemoryContext CurrentMemoryContext;

extern void *MemoryContextAlloc(MemoryContext context, size_t size);
extern void *MemoryContextAllocZero(MemoryContext context, size_t size);
extern char *MemoryContextStrdup(MemoryContext context, const char *string);

#endif							/* RK_SHIM_PALLOC_H */
