/*-------------------------------------------------------------------------
 *
 * utils/numeric.h (fuzzing shim)
 *		An opaque Numeric: what the shim's numeric_in returns (jsonb.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_SHIM_NUMERIC_H
#define RK_SHIM_NUMERIC_H

typedef struct NumericData *Numeric;

#define DatumGetNumeric(X) ((Numeric) DatumGetPointer(X))
#define NumericGetDatum(X) PointerGetDatum(X)

extern Numeric int64_to_numeric(int64 val);

#endif							/* RK_SHIM_NUMERIC_H */
