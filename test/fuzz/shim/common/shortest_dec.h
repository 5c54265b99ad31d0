/*-------------------------------------------------------------------------
 *
 * common/shortest_dec.h (fuzzing shim)
 *		The shortest decimal text of a double that reads back as the same
 *		double (jsonb.c), as PostgreSQL's Ryu-based functions give it; the
 *		shim may choose another notation, never another value.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_SHIM_SHORTEST_DEC_H
#define RK_SHIM_SHORTEST_DEC_H

#define DOUBLE_SHORTEST_DECIMAL_LEN 25

extern int	double_to_shortest_decimal_buf(double f, char *result);

#endif							/* RK_SHIM_SHORTEST_DEC_H */
