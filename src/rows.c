/*-------------------------------------------------------------------------
 *
 * rows.c
 *		A key as SQL columns: the one table of the columns of
 *		routerkeys.created_key (routerkeys.key is the same less token), and
 *		turning an RkKey into their values.
 *
 * The SQL script spells the two composite types out; the regression test
 * "columns" fails when they drift from this table.  The SQL functions and
 * the foreign table both take their columns from here.
 *
 * Values are palloc'd in the caller's memory context.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

/* A column: its name, its type, and which field of an RkKey it shows. */
typedef struct RkColumnDef
{
	const char *name;
	Oid			type;
	size_t		field;			/* offset of the char * field; unused for the others */
} RkColumnDef;

#define TEXT_FIELD(f) offsetof(RkKey, f)

static const RkColumnDef columns[RK_KEY_NCOLUMNS + 1] = {
	[RK_COL_ID] = {"id", TEXTOID, TEXT_FIELD(id)},
	[RK_COL_NAME] = {"name", TEXTOID, TEXT_FIELD(name)},
	[RK_COL_ACTIVE] = {"active", BOOLOID, 0},
	[RK_COL_STATUS] = {"status", TEXTOID, TEXT_FIELD(status)},
	[RK_COL_TOKEN_PREFIX] = {"token_prefix", TEXTOID, TEXT_FIELD(token_prefix)},
	[RK_COL_PERMISSION_MODE] = {"permission_mode", TEXTOID, TEXT_FIELD(permission_mode)},
	[RK_COL_PROJECT_ID] = {"project_id", TEXTOID, TEXT_FIELD(project_id)},
	[RK_COL_OWNER_TYPE] = {"owner_type", TEXTOID, TEXT_FIELD(owner_type)},
	[RK_COL_EXPIRES_AT] = {"expires_at", TIMESTAMPTZOID, TEXT_FIELD(expires_at)},
	[RK_COL_CREATED_AT] = {"created_at", TIMESTAMPTZOID, TEXT_FIELD(created_at)},
	[RK_COL_UPDATED_AT] = {"updated_at", TIMESTAMPTZOID, TEXT_FIELD(updated_at)},
	[RK_COL_LAST_USED_AT] = {"last_used_at", TIMESTAMPTZOID, TEXT_FIELD(last_used_at)},
	[RK_COL_CREATED_BY_ID] = {"created_by_id", TEXTOID, TEXT_FIELD(created_by_id)},
	[RK_COL_UPDATED_BY_ID] = {"updated_by_id", TEXTOID, TEXT_FIELD(updated_by_id)},
	[RK_COL_SOURCE] = {"source", TEXTOID, TEXT_FIELD(source)},
	[RK_COL_ATTRS] = {"attrs", JSONBOID, 0},
	[RK_COL_TOKEN] = {"token", TEXTOID, TEXT_FIELD(token)},
};

/*
 * The index of a column of routerkeys.created_key by name, or -1.
 */
int
rk_rows_column_index(const char *name)
{
	for (int i = 0; i <= RK_KEY_NCOLUMNS; i++)
	{
		if (strcmp(columns[i].name, name) == 0)
			return i;
	}
	return -1;
}

/*
 * The name of column index.
 */
const char *
rk_rows_column_name(int index)
{
	return columns[index].name;
}

/*
 * The type of column index.
 */
Oid
rk_rows_column_type(int index)
{
	return columns[index].type;
}

/*
 * The value of n digits.
 */
static int
digits_value(const char *s, int n)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/*
 * The form the service writes its times in, "YYYY-MM-DDTHH:MM:SS[.f]Z"
 * with at most six digits of fraction and every field in range, as a
 * timestamptz, computed as timestamptz_in would; false for any other form
 * (timestamptz_in reads those).  Caller is responsible for the text's
 * shape up to the seconds, which the dialect checked.
 */
static bool
utc_timestamp(const char *text, TimestampTz *ts)
{
	int			year;
	int			month;
	int			day;
	int			hour;
	int			minute;
	int			second;
	const char *p = text + 19;
	int64		fraction = 0;
	int			ndigits = 0;

	if (strnlen(text, 20) < 20)
		return false;
	year = digits_value(text, 4);
	month = digits_value(text + 5, 2);
	day = digits_value(text + 8, 2);
	hour = digits_value(text + 11, 2);
	minute = digits_value(text + 14, 2);
	second = digits_value(text + 17, 2);
	if (*p == '.')
	{
		for (p++; isdigit((unsigned char) *p) && ndigits < 7; p++, ndigits++)
			fraction = fraction * 10 + (*p - '0');
		if (ndigits == 0 || ndigits > 6)
			return false;
		for (int i = ndigits; i < 6; i++)
			fraction *= 10;
	}
	if ((*p != 'Z' && *p != 'z') || p[1] != '\0' || year < 1 || month < 1 || month > 12 ||
		day < 1 || day > day_tab[isleap(year)][month - 1] || hour > 23 || minute > 59 ||
		second > 59)
		return false;
	*ts = (TimestampTz) (date2j(year, month, day) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY +
		((int64) ((hour * MINS_PER_HOUR + minute) * SECS_PER_MINUTE + second)) * USECS_PER_SEC +
		fraction;
	return true;
}

/*
 * An RFC 3339 timestamp, as the dialect checked it, as a timestamptz.
 */
TimestampTz
rk_rows_timestamp(const char *text)
{
	TimestampTz ts;

	if (utc_timestamp(text, &ts))
		return ts;
	return DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(text),
												   ObjectIdGetDatum(InvalidOid),
												   Int32GetDatum(-1)));
}

/*
 * A timestamptz as RFC 3339 text in UTC, as APIs expect.  Errors on an
 * infinite timestamp.
 */
char *
rk_rows_rfc3339(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts) || timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("expires_at must be a finite timestamp")));
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
					tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec);
}

/*
 * Fills values/nulls, indexed like routerkeys.created_key's columns, with a
 * key.  wanted, when not NULL, says which columns are needed; the others are
 * left NULL without being computed.
 */
void
rk_rows_values(const RkKey *key, const bool *wanted, Datum *values, bool *nulls)
{
	for (int i = 0; i <= RK_KEY_NCOLUMNS; i++)
	{
		const char *text = NULL;

		nulls[i] = true;
		values[i] = (Datum) 0;
		if (wanted != NULL && !wanted[i])
			continue;
		if (columns[i].type == TEXTOID || columns[i].type == TIMESTAMPTZOID)
			text = *(char *const *) ((const char *) key + columns[i].field);
		if (text != NULL && columns[i].type == TEXTOID)
			values[i] = CStringGetTextDatum(text);
		else if (text != NULL)
			values[i] = TimestampTzGetDatum(rk_rows_timestamp(text));
		else if (i == RK_COL_ACTIVE && key->active >= 0)
			values[i] = BoolGetDatum(key->active > 0);
		else if (i == RK_COL_ATTRS && key->attrs != NULL)
			values[i] = JsonbPGetDatum(key->attrs);
		else
			continue;
		nulls[i] = false;
	}
}
