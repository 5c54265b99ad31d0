/*-------------------------------------------------------------------------
 *
 * pgshim.h
 *		What a harness needs from the PostgreSQL shim beyond PostgreSQL's own
 *		API: freeing the arena, reading the error being reported, and
 *		injecting an out-of-memory ERROR at a chosen allocation.
 *
 * An "allocation point" is a palloc-family call or a json-c allocation that
 * the code under test checks for NULL (json_tokener_new_ex, wrapped at link
 * time with -Wl,--wrap).  Counting them in a clean run and failing the k-th
 * one in a second run reaches every error path that PG_FINALLY guards.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_PGSHIM_H
#define RK_PGSHIM_H

#include "postgres.h"

struct Jsonb;

/* Frees every chunk palloc'd since the last reset; clears any failure. */
extern void pgshim_reset(void);

/* Number of chunks currently allocated in the arena. */
extern size_t pgshim_live_chunks(void);

/* Allocation points passed since the last pgshim_reset. */
extern long pgshim_alloc_points(void);

/* Makes allocation point number n (counted from 0) raise ERROR; -1: none. */
extern void pgshim_fail_at(long n);

/* Whether an error is being reported (raised and not yet flushed). */
extern bool pgshim_error_pending(void);

/* The SQLSTATE and message of the error being reported. */
extern int	pgshim_error_code(void);
extern const char *pgshim_error_message(void);
extern const char *pgshim_error_location(void);

/* Prints the stack of the ereport that raised the error being reported. */
extern void pgshim_print_error_stack(FILE *out);

/* The SQLSTATE of a packed code, as five characters and a NUL. */
extern void pgshim_unpack_sqlstate(int code, char out[6]);

/* Whether len bytes are valid UTF-8 by PostgreSQL's rules (no NUL byte). */
extern bool pgshim_utf8_valid(const char *s, size_t len);

/*
 * Whether numeric_in takes len bytes as a finite number (not NaN or an
 * infinity), within numeric's range.  Allocates nothing.
 */
extern bool pgshim_numeric_finite(const char *s, size_t len);

/* The JSON text of a jsonb built by the shim, as jsonb_out would print it. */
extern const char *pgshim_jsonb_text(const struct Jsonb *jsonb);

#endif							/* RK_PGSHIM_H */
