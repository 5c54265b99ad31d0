/*-------------------------------------------------------------------------
 *
 * utils/jsonb.h (fuzzing shim)
 *		Building a jsonb with pushJsonbValue and JsonbValueToJsonb, with
 *		PostgreSQL's types and token protocol (jsonb.c implements them).
 *
 * The shim's Jsonb holds the value as JSON text, written the way jsonb_out
 * writes it (numbers as numeric_out does), so that a harness can check what
 * a backend would store: pgshim_jsonb_text in pgshim.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RK_SHIM_JSONB_H
#define RK_SHIM_JSONB_H

#include "utils/numeric.h"

typedef enum
{
	WJB_DONE,
	WJB_KEY,
	WJB_VALUE,
	WJB_ELEM,
	WJB_BEGIN_ARRAY,
	WJB_END_ARRAY,
	WJB_BEGIN_OBJECT,
	WJB_END_OBJECT
} JsonbIteratorToken;

enum jbvType
{
	jbvNull = 0x0,
	jbvString,
	jbvNumeric,
	jbvBool,
	jbvArray = 0x10,
	jbvObject,
	jbvBinary
};

typedef struct JsonbValue JsonbValue;
typedef struct JsonbPair JsonbPair;

struct JsonbValue
{
	enum jbvType type;
	union
	{
		Numeric		numeric;
		bool		boolean;
		struct
		{
			int			len;
			char	   *val;	/* not necessarily NUL-terminated */
		}			string;
		struct
		{
			int			nElems;
			JsonbValue *elems;
			bool		rawScalar;
		}			array;
		struct
		{
			int			nPairs;
			JsonbPair  *pairs;
		}			object;
	}			val;
};

struct JsonbPair
{
	JsonbValue	key;
	JsonbValue	value;
	uint32		order;
};

/* One open container of a jsonb being built. */
typedef struct JsonbParseState
{
	JsonbValue	contVal;
	Size		size;			/* room in contVal's elems or pairs */
	struct JsonbParseState *next;
} JsonbParseState;

typedef struct Jsonb
{
	int32		vl_len_;
	char		text[FLEXIBLE_ARRAY_MEMBER];	/* the shim's representation */
} Jsonb;

extern JsonbValue *pushJsonbValue(JsonbParseState **pstate, JsonbIteratorToken seq,
								  JsonbValue *jbval);
extern Jsonb *JsonbValueToJsonb(JsonbValue *val);

#endif							/* RK_SHIM_JSONB_H */
