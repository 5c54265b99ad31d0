/*-------------------------------------------------------------------------
 *
 * utils/elog.h (fuzzing shim)
 *		ereport, elog and PG_TRY / PG_CATCH / PG_FINALLY, with the same
 *		control flow as PostgreSQL's: an ERROR is a siglongjmp to the
 *		innermost PG_TRY, and PG_FINALLY runs its block on both paths and
 *		then re-throws.
 *
 * The error being reported is kept in pgshim.c until the catcher calls
 * FlushErrorState(); pgshim.h lets a harness read it.  An ERROR with no
 * PG_TRY around it aborts the process, as a bug in the harness.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_SHIM_ELOG_H
#define RK_SHIM_ELOG_H

#include <setjmp.h>

#define DEBUG1		14
#define LOG			15
#define NOTICE		18
#define WARNING		19
#define ERROR		21

/* SQLSTATE codes packed six bits a character, as PostgreSQL does. */
#define PGSIXBIT(ch)	(((ch) - '0') & 0x3F)
#define MAKE_SQLSTATE(ch1, ch2, ch3, ch4, ch5) \
	(PGSIXBIT(ch1) + (PGSIXBIT(ch2) << 6) + (PGSIXBIT(ch3) << 12) + \
	 (PGSIXBIT(ch4) << 18) + (PGSIXBIT(ch5) << 24))

#define ERRCODE_CHARACTER_NOT_IN_REPERTOIRE MAKE_SQLSTATE('2','2','0','2','1')
#define ERRCODE_INVALID_TEXT_REPRESENTATION MAKE_SQLSTATE('2','2','P','0','2')
#define ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE MAKE_SQLSTATE('2','2','0','0','3')
#define ERRCODE_OUT_OF_MEMORY		MAKE_SQLSTATE('5','3','2','0','0')
#define ERRCODE_PROGRAM_LIMIT_EXCEEDED MAKE_SQLSTATE('5','4','0','0','0')
#define ERRCODE_INTERNAL_ERROR		MAKE_SQLSTATE('X','X','0','0','0')

extern bool errstart(int elevel);
extern void errfinish(const char *filename, int lineno, const char *funcname);
extern int	errcode(int sqlerrcode);
extern int	errmsg(const char *fmt,...) pg_attribute_printf(1, 2);
extern int	errmsg_internal(const char *fmt,...) pg_attribute_printf(1, 2);
extern int	errdetail(const char *fmt,...) pg_attribute_printf(1, 2);
extern void pg_re_throw(void) pg_attribute_noreturn();
extern void FlushErrorState(void);

#define ereport(elevel, ...) \
	do { \
		if (errstart(elevel)) \
		{ \
			__VA_ARGS__, errfinish(__FILE__, __LINE__, __func__); \
		} \
		if ((elevel) >= ERROR) \
			pg_unreachable(); \
	} while (0)

#define elog(elevel, ...) \
	ereport(elevel, errmsg_internal(__VA_ARGS__))

extern sigjmp_buf *PG_exception_stack;

#define PG_TRY() \
	do { \
		sigjmp_buf *rk_saved_stack_ = PG_exception_stack; \
		sigjmp_buf	rk_local_jmp_; \
		bool		rk_rethrow_ = false; \
		if (sigsetjmp(rk_local_jmp_, 0) == 0) \
		{ \
			PG_exception_stack = &rk_local_jmp_

#define PG_CATCH() \
		} \
		else \
		{ \
			PG_exception_stack = rk_saved_stack_

#define PG_FINALLY() \
		} \
		else \
			rk_rethrow_ = true; \
		{ \
			PG_exception_stack = rk_saved_stack_

#define PG_END_TRY() \
		} \
		if (rk_rethrow_) \
			pg_re_throw(); \
		PG_exception_stack = rk_saved_stack_; \
	} while (0)

#define PG_RE_THROW() pg_re_throw()

#endif							/* RK_SHIM_ELOG_H */
