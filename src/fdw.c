/*-------------------------------------------------------------------------
 *
 * fdw.c
 *		The routerkeys foreign table: planning, streaming scans with
 *		pushdown, parameterized paths, INSERT/UPDATE/DELETE … RETURNING,
 *		batch inserts, EXPLAIN, and IMPORT FOREIGN SCHEMA.
 *
 * A foreign table's columns are any subset, in any order, of the columns of
 * routerkeys.created_key (checked by name and type when a query is planned).
 *
 * A scan reaches the keys in one of three ways, chosen at plan time from the
 * conditions on it:
 *	GET		id = value (a constant, a parameter, or an outer column in a
 *			parameterized join): GET /v2/api-keys/{id}, no row when missing
 *	MANY	id = ANY(array): one GET per distinct id, all concurrently
 *	LIST	anything else: the listing, a page at a time as the executor asks
 *			for rows, with status, name search and project_id sent to the API
 *			when the conditions allow it
 * Every condition is also checked locally, so what the API does with a
 * filter (search is a substring match, for instance) never changes a result.
 *
 * Memory: a scan keeps the current page (or the keys it got) in a context of
 * its own, reset before the next page is fetched; the rows returned point
 * into it.  Modify keeps a per-row context, reset at each row.
 *
 * Everything remote goes through keys.c; what the API can filter on and
 * how EXPLAIN shows a request come from the server's dialect.  Nothing here
 * talks HTTP or JSON.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/explain.h"
#if PG_VERSION_NUM >= 180000
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#endif
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/appendinfo.h"
#include "optimizer/clauses.h"
#include "optimizer/cost.h"
#include "optimizer/inherit.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

/*
 * Planner costs, in units of about 10 us of this backend's time: a request
 * costs its round trip (the server's request_latency_ms, else what its
 * requests have taken lately, else RK_DEFAULT_LATENCY_MS) plus the work
 * around it, and each key received about 5 us (reading it, its row).
 */
#define RK_COST_PER_MS 100.0
#define RK_REQUEST_WORK_MS 0.02
#define RK_DEFAULT_LATENCY_MS 10.0
#define RK_KEY_COST 0.5

/* How a scan reaches the keys. */
typedef enum RkScanKind
{
	RK_SCAN_LIST,
	RK_SCAN_GET,
	RK_SCAN_MANY
} RkScanKind;

/* What a pushed-down value is for; one per element of fdw_exprs. */
typedef enum RkValueRole
{
	RK_VALUE_ID,				/* text: the id of a GET */
	RK_VALUE_IDS,				/* text[]: the ids of a MANY */
	RK_VALUE_STATUS,			/* text: a status label */
	RK_VALUE_ACTIVE,			/* boolean: true filters on active */
	RK_VALUE_SEARCH,			/* text: a name substring */
	RK_VALUE_PROJECT			/* text: a project id */
} RkValueRole;

/* The conditions of a scan that the API can evaluate. */
typedef struct RkPushdown
{
	Expr	   *values[RK_VALUE_PROJECT + 1];	/* NULL: not pushed */
} RkPushdown;

/* Indexes into the fdw_private list of a ForeignScan. */
enum
{
	RK_PRIV_KIND,				/* Integer: RkScanKind */
	RK_PRIV_ROLES,				/* List of Integer: RkValueRole per fdw_expr */
	RK_PRIV_COLUMNS,			/* List of Integer: key column per attribute, -1 */
	RK_PRIV_WANTED,				/* List of Integer: key columns the query needs */
	RK_PRIV_REQUEST,			/* String: the request, for EXPLAIN */
	RK_PRIV_LIMIT				/* Integer: rows a LIMIT needs, 0: all */
};

/* Execution state of a scan. */
typedef struct RkScanState
{
	RkConfig   *config;
	RkScanKind	kind;
	List	   *roles;
	List	   *value_states;	/* ExprState per fdw_expr */
	int		   *columns;		/* key column per attribute, -1: none */
	bool		wanted[RK_KEY_NCOLUMNS + 1];
	MemoryContext batch_cxt;	/* the keys being returned */
	MemoryContext lister_cxt;	/* the lister, for one scan */
	RkLister   *lister;
	RkKey	   *keys;
	int			nkeys;
	int			next;
	int			first_limit;	/* a LIMIT's rows: the size of the first page */
	bool		started;
	RkBudget	budget;			/* of the whole scan */
	RkStats		stats;
} RkScanState;

/* Execution state of an INSERT, UPDATE or DELETE. */
typedef struct RkModifyState
{
	RkConfig   *config;
	CmdType		operation;
	int		   *columns;		/* key column per attribute, -1: none */
	int			natts;
	List	   *updated;		/* attnos an UPDATE sets */
	AttrNumber	id_junk;		/* the row-id junk column of UPDATE/DELETE */
	bool		returning;
	MemoryContext row_cxt;
	RkCreates  *creates;		/* a batch INSERT's creates in flight, or NULL */
	RkBudget	budget;			/* of the whole statement */
	RkStats		stats;
} RkModifyState;

PG_FUNCTION_INFO_V1(routerkeys_fdw_handler);

/*
 * Maps the attributes of a foreign table to key columns, checking names and
 * types.  Returns a palloc'd array of natts column indexes (-1 for dropped
 * attributes).
 */
static int *
map_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int		   *columns = palloc(sizeof(int) * Max(desc->natts, 1));

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		int			col;

		columns[i] = -1;
		if (att->attisdropped)
			continue;
		col = rk_rows_column_index(NameStr(att->attname));
		if (col < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_COLUMN_NAME),
					 errmsg("column \"%s\" of foreign table \"%s\" is not a column of a key",
							NameStr(att->attname), RelationGetRelationName(rel)),
					 errhint("The columns of routerkeys.created_key can be used, in any order.")));
		if (att->atttypid != rk_rows_column_type(col))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("column \"%s\" of foreign table \"%s\" must be of type %s",
							NameStr(att->attname), RelationGetRelationName(rel),
							format_type_be(rk_rows_column_type(col)))));
		columns[i] = col;
	}
	return columns;
}

/*
 * The key column a Var of the scanned relation stands for, or -1.
 */
static int
var_column(Node *node, Index relid, const int *columns, int natts)
{
	Var		   *var;

	if (node != NULL && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	if (node == NULL || !IsA(node, Var))
		return -1;
	var = (Var *) node;
	if (var->varno != (int) relid || var->varlevelsup != 0 ||
		var->varattno <= 0 || var->varattno > natts)
		return -1;
	return columns[var->varattno - 1];
}

/*
 * Whether an expression can be evaluated before the scan starts: it uses no
 * column of the scanned relation and nothing volatile.  (Outer columns are
 * fine: in a parameterized path they become parameters.)
 */
static bool
is_scan_value(PlannerInfo *root, Node *value, Index relid)
{
	return !bms_is_member(relid, pull_varnos(root, value)) &&
		!contain_volatile_functions(value) &&
		!contain_subplans(value);
}

/*
 * For a LIKE pattern '%text%' with no other wildcard, the text; else NULL.
 */
static char *
like_substring(Node *pattern)
{
	Const	   *c;
	char	   *s;
	size_t		len;

	if (!IsA(pattern, Const) || ((Const *) pattern)->constisnull)
		return NULL;
	c = (Const *) pattern;
	s = TextDatumGetCString(c->constvalue);
	len = strlen(s);
	if (len < 3 || s[0] != '%' || s[len - 1] != '%')
		return NULL;
	s[len - 1] = '\0';
	s++;
	if (strpbrk(s, "%_\\") != NULL)
		return NULL;
	return s;
}

/*
 * Notes in *push what one condition lets the API do.
 */
static void
classify_clause(PlannerInfo *root, const RkDialect *dialect, Expr *clause, Index relid,
				const int *columns, int natts, RkPushdown *push)
{
	int			col;

	/* active */
	col = var_column((Node *) clause, relid, columns, natts);
	if (col == RK_COL_ACTIVE && dialect->can_filter(RK_COL_ACTIVE, RK_FILTER_IS_TRUE))
	{
		push->values[RK_VALUE_ACTIVE] = (Expr *) makeBoolConst(true, false);
		return;
	}

	if (IsA(clause, OpExpr) && list_length(((OpExpr *) clause)->args) == 2)
	{
		OpExpr	   *op = (OpExpr *) clause;
		Node	   *left = linitial(op->args);
		Node	   *right = lsecond(op->args);
		Oid			func = get_opcode(op->opno);

		col = var_column(left, relid, columns, natts);
		if (col < 0)
		{
			col = var_column(right, relid, columns, natts);
			right = left;
		}
		if (col < 0 || !is_scan_value(root, right, relid))
			return;

		if (func == F_TEXTEQ && dialect->can_filter(col, RK_FILTER_EQUAL))
		{
			switch (col)
			{
				case RK_COL_ID:
					push->values[RK_VALUE_ID] = (Expr *) right;
					break;
				case RK_COL_STATUS:
					push->values[RK_VALUE_STATUS] = (Expr *) right;
					break;
				case RK_COL_NAME:
					push->values[RK_VALUE_SEARCH] = (Expr *) right;
					break;
				case RK_COL_PROJECT_ID:
					push->values[RK_VALUE_PROJECT] = (Expr *) right;
					break;
			}
		}
		else if (func == F_BOOLEQ && col == RK_COL_ACTIVE &&
				 dialect->can_filter(RK_COL_ACTIVE, RK_FILTER_IS_TRUE))
			push->values[RK_VALUE_ACTIVE] = (Expr *) right;
		else if ((func == F_TEXTLIKE || func == F_TEXTICLIKE) && col == RK_COL_NAME &&
				 dialect->can_filter(RK_COL_NAME, RK_FILTER_SUBSTRING) &&
				 like_substring(right) != NULL)
			push->values[RK_VALUE_SEARCH] =
				(Expr *) makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
								   CStringGetTextDatum(like_substring(right)), false, false);
		return;
	}

	if (IsA(clause, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) clause;
		Node	   *array = lsecond(saop->args);

		if (saop->useOr && get_opcode(saop->opno) == F_TEXTEQ &&
			dialect->can_filter(RK_COL_ID, RK_FILTER_EQUAL) &&
			var_column(linitial(saop->args), relid, columns, natts) == RK_COL_ID &&
			is_scan_value(root, array, relid))
			push->values[RK_VALUE_IDS] = (Expr *) array;
	}
}

/*
 * Classifies a list of RestrictInfos.
 */
static void
classify_clauses(PlannerInfo *root, const RkDialect *dialect, List *clauses, Index relid,
				 const int *columns, int natts, RkPushdown *push)
{
	ListCell   *lc;

	memset(push, 0, sizeof(RkPushdown));
	foreach(lc, clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);

		classify_clause(root, dialect, ri->clause, relid, columns, natts, push);
	}
}

/*
 * The kind of scan a pushdown leads to.
 */
static RkScanKind
scan_kind(const RkPushdown *push)
{
	if (push->values[RK_VALUE_ID] != NULL)
		return RK_SCAN_GET;
	if (push->values[RK_VALUE_IDS] != NULL)
		return RK_SCAN_MANY;
	return RK_SCAN_LIST;
}

/* What GetForeignRelSize works out for the other planner callbacks. */
typedef struct RkRelInfo
{
	const RkDialect *dialect;
	int		   *columns;
	int			natts;
	int			page_size;
	double		estimated_keys;
	double		remote_rows;	/* what an unparameterized scan receives */
	double		requests;		/* round trips of an unparameterized scan */
	Cost		request_cost;	/* of one round trip */
	int			id_attno;		/* 0: the table has no id column */
} RkRelInfo;

/*
 * An integer option of a foreign table, else of its server, else the default.
 */
static int
table_int_option(ForeignTable *table, ForeignServer *server, const char *name)
{
	return rk_options_int(list_concat(list_copy(table->options), server->options), name);
}

/*
 * How many ids an id = ANY(array) asks for: the length of a constant array,
 * else a guess.
 */
static double
estimate_ids(Expr *array)
{
	ArrayType  *a;

	if (!IsA(array, Const) || ((Const *) array)->constisnull)
		return 10;
	a = DatumGetArrayTypeP(((Const *) array)->constvalue);
	return Max(1, ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)));
}

/*
 * The cost of one round trip to a server.
 */
static Cost
request_cost(ForeignServer *server)
{
	double		latency_ms = rk_options_int(server->options, "request_latency_ms");

	if (latency_ms < 0)
		latency_ms = rk_http_request_ms(server->serverid);
	if (latency_ms < 0)
		latency_ms = RK_DEFAULT_LATENCY_MS;
	return (latency_ms + RK_REQUEST_WORK_MS) * RK_COST_PER_MS;
}

/*
 * Estimates the size of a scan from the conditions the API will evaluate.
 */
static void
rkGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	RkRelInfo  *info = palloc0(sizeof(RkRelInfo));
	ForeignTable *table = GetForeignTable(foreigntableid);
	ForeignServer *server = GetForeignServer(table->serverid);
	Relation	rel = table_open(foreigntableid, NoLock);
	RkPushdown	push;

	info->columns = map_columns(rel);
	info->natts = RelationGetDescr(rel)->natts;
	for (int i = 0; i < info->natts; i++)
	{
		if (info->columns[i] == RK_COL_ID)
			info->id_attno = i + 1;
	}
	table_close(rel, NoLock);

	info->dialect = rk_options_dialect(server);
	info->page_size = rk_options_int(server->options, "page_size");
	info->request_cost = request_cost(server);
	info->estimated_keys = table_int_option(table, server, "estimated_keys");

	classify_clauses(root, info->dialect, baserel->baserestrictinfo, baserel->relid,
					 info->columns, info->natts, &push);
	info->requests = 1;
	switch (scan_kind(&push))
	{
		case RK_SCAN_GET:
			info->remote_rows = 1;
			break;
		case RK_SCAN_MANY:
			info->remote_rows = estimate_ids(push.values[RK_VALUE_IDS]);
			break;
		case RK_SCAN_LIST:
			info->remote_rows = info->estimated_keys;
			if (push.values[RK_VALUE_STATUS] != NULL || push.values[RK_VALUE_ACTIVE] != NULL ||
				push.values[RK_VALUE_SEARCH] != NULL || push.values[RK_VALUE_PROJECT] != NULL)
				info->remote_rows = Max(1, info->estimated_keys / 10);
			info->requests = Max(1, ceil(info->remote_rows / info->page_size));
			break;
	}
	baserel->rows = clamp_row_est(info->remote_rows *
								  clauselist_selectivity(root, baserel->baserestrictinfo,
														 baserel->relid, JOIN_INNER, NULL));
	baserel->fdw_private = info;
}

/*
 * The cost of receiving rows keys in requests round trips.
 */
static Cost
scan_cost(const RkRelInfo *info, double requests, double rows)
{
	return requests * info->request_cost + rows * RK_KEY_COST;
}

/*
 * A path of the scan: one request to start, total cost as given, no
 * pathkeys.  create_foreignscan_path took fdw_restrictinfo from PostgreSQL
 * 17 on, and disabled_nodes from 18 on.
 */
static ForeignPath *
scan_path(PlannerInfo *root, RelOptInfo *baserel, double rows, Cost total,
		  Relids required_outer)
{
	Cost		startup = ((RkRelInfo *) baserel->fdw_private)->request_cost;

#if PG_VERSION_NUM >= 180000
	return create_foreignscan_path(root, baserel, NULL, rows, 0, startup, total,
								   NIL, required_outer, NULL, NIL, NIL);
#elif PG_VERSION_NUM >= 170000
	return create_foreignscan_path(root, baserel, NULL, rows, startup, total,
								   NIL, required_outer, NULL, NIL, NIL);
#else
	return create_foreignscan_path(root, baserel, NULL, rows, startup, total,
								   NIL, required_outer, NULL, NIL);
#endif
}

/*
 * EquivalenceClass callback: matches members that are the id column.
 */
static bool
is_id_member(PlannerInfo *root, RelOptInfo *rel, EquivalenceClass *ec,
			 EquivalenceMember *em, void *arg)
{
	RkRelInfo  *info = (RkRelInfo *) arg;
	Expr	   *expr = em->em_expr;

	if (expr != NULL && IsA(expr, RelabelType))
		expr = ((RelabelType *) expr)->arg;
	return expr != NULL && IsA(expr, Var) &&
		((Var *) expr)->varno == (int) rel->relid &&
		((Var *) expr)->varlevelsup == 0 &&
		((Var *) expr)->varattno == info->id_attno;
}

/*
 * Adds a path that reads one key per outer row, for each join condition
 * "id = outer expression".
 */
static void
add_parameterized_paths(PlannerInfo *root, RelOptInfo *baserel, RkRelInfo *info)
{
	List	   *clauses;
	ListCell   *lc;

	if (info->id_attno == 0)
		return;
	clauses = generate_implied_equalities_for_column(root, baserel, is_id_member, info,
													 baserel->lateral_referencers);
	foreach(lc, baserel->joininfo)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		RkPushdown	push;

		classify_clauses(root, info->dialect, list_make1(ri), baserel->relid, info->columns,
						 info->natts, &push);
		if (push.values[RK_VALUE_ID] != NULL)
			clauses = lappend(clauses, ri);
	}

	foreach(lc, clauses)
	{
		RestrictInfo *ri = lfirst_node(RestrictInfo, lc);
		Relids		required_outer;

		if (!join_clause_is_movable_to(ri, baserel))
			continue;
		required_outer = bms_union(ri->clause_relids, baserel->lateral_relids);
		required_outer = bms_del_member(required_outer, baserel->relid);
		if (bms_is_empty(required_outer))
			continue;
		add_path(baserel, (Path *) scan_path(root, baserel, 1, scan_cost(info, 1, 1),
											 required_outer));
	}
}

/*
 * Offers the plain scan and, for joins on id, parameterized scans.
 */
static void
rkGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	RkRelInfo  *info = (RkRelInfo *) baserel->fdw_private;

	add_path(baserel, (Path *) scan_path(root, baserel, baserel->rows,
										 scan_cost(info, info->requests,
													info->remote_rows), NULL));
	add_parameterized_paths(root, baserel, info);
}

/*
 * A pushed-down value as EXPLAIN shows it: a constant's text, or a
 * {placeholder} for a value known only when the scan runs.
 */
static const char *
explain_value(Expr *value, const char *placeholder)
{
	if (!IsA(value, Const))
		return psprintf("{%s}", placeholder);
	if (((Const *) value)->constisnull)
		return "NULL";
	return TextDatumGetCString(((Const *) value)->constvalue);
}

/*
 * Describes the request a scan will make, as the dialect spells it.
 */
static char *
describe_scan(const RkDialect *dialect, RkScanKind kind, const RkPushdown *push, int limit)
{
	RkListFilter filter = {0};
	Expr	   *active = push->values[RK_VALUE_ACTIVE];

	if (kind == RK_SCAN_GET)
		return pstrdup(dialect->describe_key_request("GET"));
	if (kind == RK_SCAN_MANY)
		return psprintf("%s for each distinct id, concurrently",
						dialect->describe_key_request("GET"));
	if (push->values[RK_VALUE_STATUS] != NULL)
		filter.status = explain_value(push->values[RK_VALUE_STATUS], "status");
	else if (active != NULL && IsA(active, Const) && !((Const *) active)->constisnull)
		filter.active_only = DatumGetBool(((Const *) active)->constvalue);
	else if (active != NULL)
		filter.status = "{active}";
	if (push->values[RK_VALUE_SEARCH] != NULL)
		filter.search = explain_value(push->values[RK_VALUE_SEARCH], "search");
	if (push->values[RK_VALUE_PROJECT] != NULL)
		filter.project_id = explain_value(push->values[RK_VALUE_PROJECT], "project_id");
	return dialect->describe_list(&filter, limit);
}

/*
 * Builds the ForeignScan: every condition stays a local filter; those the
 * API can evaluate are also passed, as expressions, in fdw_exprs.
 */
static ForeignScan *
rkGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				 ForeignPath *best_path, List *tlist, List *scan_clauses, Plan *outer_plan)
{
	RkRelInfo  *info = (RkRelInfo *) baserel->fdw_private;
	RkPushdown	push;
	RkScanKind	kind;
	List	   *exprs = NIL;
	List	   *roles = NIL;
	List	   *columns = NIL;
	List	   *wanted = NIL;
	Bitmapset  *attrs = NULL;
	int			first_limit = 0;
	ListCell   *lc;

	classify_clauses(root, info->dialect, scan_clauses, baserel->relid, info->columns,
					 info->natts, &push);
	kind = scan_kind(&push);
	for (int role = 0; role <= RK_VALUE_PROJECT; role++)
	{
		if (push.values[role] == NULL)
			continue;
		if (kind == RK_SCAN_GET && role != RK_VALUE_ID)
			continue;
		if (kind == RK_SCAN_MANY && role != RK_VALUE_IDS)
			continue;
		exprs = lappend(exprs, push.values[role]);
		roles = lappend_int(roles, role);
	}

	/* The key columns this scan must produce. */
	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs);
	foreach(lc, scan_clauses)
		pull_varattnos((Node *) lfirst_node(RestrictInfo, lc)->clause, baserel->relid, &attrs);
	for (int i = 0; i < info->natts; i++)
	{
		columns = lappend_int(columns, info->columns[i]);
		if (info->columns[i] >= 0 &&
			(bms_is_member(i + 1 - FirstLowInvalidHeapAttributeNumber, attrs) ||
			 bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs)))
			wanted = lappend_int(wanted, info->columns[i]);
	}

	/*
	 * With a LIMIT and nothing to filter locally, the first page need not be
	 * larger than the limit; later pages, if any, are full size.
	 */
	if (root->limit_tuples > 0 && root->limit_tuples < info->page_size &&
		kind == RK_SCAN_LIST && list_length(scan_clauses) == 0)
		first_limit = (int) root->limit_tuples;

	return make_foreignscan(tlist,
							extract_actual_clauses(scan_clauses, false),
							baserel->relid,
							exprs,
							lappend(list_make5(makeInteger(kind), roles, columns, wanted,
											   makeString(describe_scan(info->dialect, kind, &push,
																		first_limit > 0 ? first_limit : info->page_size))),
									makeInteger(first_limit)),
							NIL, NIL, outer_plan);
}

/*
 * The role a plan checks permissions as: kept in the plan from PostgreSQL 16
 * on, in the range table entry before.
 */
#if PG_VERSION_NUM >= 160000
#define SCAN_PLAN_USER(plan) ((plan)->checkAsUser)
#define MODIFY_PLAN_USER(rinfo, estate) ExecGetResultRelCheckAsUser(rinfo, estate)
#else
#define SCAN_PLAN_USER(plan) InvalidOid
#define MODIFY_PLAN_USER(rinfo, estate) InvalidOid
#endif

/*
 * The role whose user mapping a scan or modify of rtindex uses: the one the
 * plan checks permissions as (plan_user), else the current user.
 */
static Oid
acting_user(EState *estate, Index rtindex, Oid plan_user)
{
#if PG_VERSION_NUM < 160000
	plan_user = exec_rt_fetch(rtindex, estate)->checkAsUser;
#endif
	return OidIsValid(plan_user) ? plan_user : GetUserId();
}

/*
 * Sets up a scan; nothing is sent before the first row is asked for.
 */
static void
rkBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	RkScanState *state = palloc0(sizeof(RkScanState));
	Relation	rel = node->ss.ss_currentRelation;
	List	   *columns;
	ListCell   *lc;
	int			i = 0;

	node->fdw_state = state;
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	state->config = rk_options_load(GetForeignTable(RelationGetRelid(rel))->serverid,
									acting_user(estate, plan->scan.scanrelid, SCAN_PLAN_USER(plan)));
	state->budget = rk_keys_budget(state->config);
	state->kind = intVal(list_nth(plan->fdw_private, RK_PRIV_KIND));
	state->roles = (List *) list_nth(plan->fdw_private, RK_PRIV_ROLES);
	state->value_states = ExecInitExprList(plan->fdw_exprs, (PlanState *) node);
	columns = (List *) list_nth(plan->fdw_private, RK_PRIV_COLUMNS);
	state->columns = palloc(sizeof(int) * Max(list_length(columns), 1));
	foreach(lc, columns)
		state->columns[i++] = lfirst_int(lc);
	foreach(lc, (List *) list_nth(plan->fdw_private, RK_PRIV_WANTED))
		state->wanted[lfirst_int(lc)] = true;
	state->first_limit = intVal(list_nth(plan->fdw_private, RK_PRIV_LIMIT));

	state->batch_cxt = AllocSetContextCreate(estate->es_query_cxt, "routerkeys scan batch",
											 ALLOCSET_DEFAULT_SIZES);
	state->lister_cxt = AllocSetContextCreate(estate->es_query_cxt, "routerkeys scan",
											  ALLOCSET_SMALL_SIZES);
}

/*
 * Evaluates a text value of the scan; NULL when it is null.
 */
static char *
eval_text(ExprState *expr, ExprContext *econtext)
{
	bool		isnull;
	Datum		d = ExecEvalExpr(expr, econtext, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/*
 * qsort comparator of C strings.
 */
static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Reads the distinct non-null ids of a text[] value into *ids.
 */
static int
eval_ids(ExprState *expr, ExprContext *econtext, char ***ids)
{
	bool		isnull;
	Datum		d = ExecEvalExpr(expr, econtext, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			distinct = 0;

	if (isnull)
		return 0;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	*ids = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (!nulls[i])
			(*ids)[distinct++] = TextDatumGetCString(elems[i]);
	}
	qsort(*ids, distinct, sizeof(char *), compare_strings);
	n = distinct;
	distinct = 0;
	for (int i = 0; i < n; i++)
	{
		if (distinct == 0 || strcmp((*ids)[distinct - 1], (*ids)[i]) != 0)
			(*ids)[distinct++] = (*ids)[i];
	}
	return distinct;
}

/*
 * Reads the keys of ids concurrently into the batch, leaving out those
 * that do not exist.
 */
static void
fetch_keys(RkScanState *state, char **ids, int n)
{
	RkOutcome  *outcomes = palloc(sizeof(RkOutcome) * Max(n, 1));

	state->keys = palloc(sizeof(RkKey) * Max(n, 1));
	rk_keys_get_many(state->config, ids, n, state->keys, outcomes, &state->budget,
					 &state->stats);
	for (int i = 0; i < n; i++)
	{
		if (outcomes[i].kind == RK_OUTCOME_NOT_FOUND)
			continue;
		rk_followup_check(state->config, &outcomes[i]);
		if (rk_xact_overlay(state->config, &state->keys[i]))
			state->keys[state->nkeys++] = state->keys[i];
	}
}

/*
 * Evaluates the scan's values and fetches what a GET or MANY scan returns,
 * or starts the listing.
 */
static void
start_scan(ForeignScanState *node)
{
	RkScanState *state = (RkScanState *) node->fdw_state;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	RkListFilter filter = {0};
	MemoryContext oldcxt = MemoryContextSwitchTo(state->batch_cxt);
	ListCell   *lc_role;
	ListCell   *lc_state;

	state->started = true;
	state->nkeys = state->next = 0;
	forboth(lc_role, state->roles, lc_state, state->value_states)
	{
		ExprState  *expr = (ExprState *) lfirst(lc_state);
		char	   *text;
		char	  **ids = NULL;
		int			n;
		bool		isnull;

		switch ((RkValueRole) lfirst_int(lc_role))
		{
			case RK_VALUE_ID:
				text = eval_text(expr, econtext);
				if (text != NULL)
					fetch_keys(state, &text, 1);
				break;
			case RK_VALUE_IDS:
				n = eval_ids(expr, econtext, &ids);
				fetch_keys(state, ids, n);
				break;
			case RK_VALUE_STATUS:
				text = eval_text(expr, econtext);
				if (text != NULL && rk_keys_status_value(state->config, text, true) != NULL)
					filter.status = text;
				break;
			case RK_VALUE_ACTIVE:
				filter.active_only = DatumGetBool(ExecEvalExpr(expr, econtext, &isnull)) &&
					!isnull;
				break;
			case RK_VALUE_SEARCH:
				filter.search = eval_text(expr, econtext);
				break;
			case RK_VALUE_PROJECT:
				filter.project_id = eval_text(expr, econtext);
				break;
		}
	}
	MemoryContextSwitchTo(oldcxt);

	if (state->kind == RK_SCAN_LIST)
	{
		filter.first_limit = state->first_limit;
		filter.skip_attrs = !state->wanted[RK_COL_ATTRS];
		oldcxt = MemoryContextSwitchTo(state->lister_cxt);
		state->lister = rk_keys_list_start(state->config, &filter, &state->budget,
										   &state->stats);
		MemoryContextSwitchTo(oldcxt);
	}
}

/*
 * Fetches the next page of a listing into the batch; false when done.
 */
static bool
fetch_page(RkScanState *state)
{
	MemoryContext oldcxt;
	RkOutcome	outcome;
	RkPage		page;
	bool		got;

	if (state->lister == NULL)
		return false;
	MemoryContextReset(state->batch_cxt);
	oldcxt = MemoryContextSwitchTo(state->batch_cxt);
	got = rk_keys_list_next(state->lister, state->lister_cxt, &page, &outcome);
	rk_followup_check(state->config, &outcome);
	MemoryContextSwitchTo(oldcxt);
	state->keys = page.keys;
	state->nkeys = got ? page.nkeys : 0;
	state->next = 0;
	return got;
}

/*
 * Stores a key in a slot laid out like the foreign table.
 */
static void
store_key(TupleTableSlot *slot, const int *columns, const bool *wanted, const RkKey *key)
{
	Datum		values[RK_KEY_NCOLUMNS + 1];
	bool		nulls[RK_KEY_NCOLUMNS + 1];
	int			natts = slot->tts_tupleDescriptor->natts;

	rk_rows_values(key, wanted, values, nulls);
	ExecClearTuple(slot);
	for (int i = 0; i < natts; i++)
	{
		slot->tts_isnull[i] = columns[i] < 0 || nulls[columns[i]];
		slot->tts_values[i] = columns[i] < 0 ? (Datum) 0 : values[columns[i]];
	}
	ExecStoreVirtualTuple(slot);
}

/*
 * Returns the next key, fetching the next page only when the current one is
 * used up.
 */
static TupleTableSlot *
rkIterateForeignScan(ForeignScanState *node)
{
	RkScanState *state = (RkScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	MemoryContext oldcxt;

	if (!state->started)
		start_scan(node);
	for (;;)
	{
		while (state->next >= state->nkeys)
		{
			CHECK_FOR_INTERRUPTS();
			if (state->kind != RK_SCAN_LIST || !fetch_page(state))
				return ExecClearTuple(slot);
		}
		/* a key this transaction deletes is gone already */
		if (state->kind != RK_SCAN_LIST ||
			rk_xact_overlay(state->config, &state->keys[state->next]))
			break;
		state->next++;
	}
	oldcxt = MemoryContextSwitchTo(state->batch_cxt);
	store_key(slot, state->columns, state->wanted, &state->keys[state->next++]);
	MemoryContextSwitchTo(oldcxt);
	return slot;
}

/*
 * Restarts the scan, with new parameter values if they changed.
 */
static void
rkReScanForeignScan(ForeignScanState *node)
{
	RkScanState *state = (RkScanState *) node->fdw_state;

	state->started = false;
	state->lister = NULL;
	state->nkeys = state->next = 0;
	MemoryContextReset(state->batch_cxt);
	MemoryContextReset(state->lister_cxt);
}

/*
 * Nothing to release: the contexts go with the query.
 */
static void
rkEndForeignScan(ForeignScanState *node)
{
}

/*
 * Shows the remote work of a scan or modify under EXPLAIN ANALYZE.
 */
static void
explain_stats(const RkStats *stats, bool pages, ExplainState *es)
{
	if (!es->analyze)
		return;
	ExplainPropertyInteger("Remote Requests", NULL, stats->requests, es);
	ExplainPropertyInteger("Remote Retries", NULL, stats->retries, es);
	if (pages)
		ExplainPropertyInteger("Remote Pages", NULL, stats->pages, es);
	ExplainPropertyInteger("Remote Bytes Received", NULL, stats->bytes, es);
}

/*
 * EXPLAIN: the request the scan makes, and with ANALYZE what it cost.
 */
static void
rkExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	RkScanState *state = (RkScanState *) node->fdw_state;

	ExplainPropertyText("Remote Request",
						strVal(list_nth(plan->fdw_private, RK_PRIV_REQUEST)), es);
	explain_stats(&state->stats, true, es);
}

/*
 * The attribute number of the id column, or an error.
 */
static AttrNumber
id_attno(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), "id") == 0)
			return att->attnum;
	}
	ereport(ERROR,
			(errcode(ERRCODE_FDW_COLUMN_NAME_NOT_FOUND),
			 errmsg("foreign table \"%s\" needs an \"id\" column to update or delete keys",
					RelationGetRelationName(rel))));
	return InvalidAttrNumber;	/* keep compiler quiet */
}

/*
 * UPDATE and DELETE identify a key by its id: fetch it as a junk column.
 */
static void
rkAddForeignUpdateTargets(PlannerInfo *root, Index rtindex, RangeTblEntry *target_rte,
						  Relation target_relation)
{
	Var		   *var = makeVar(rtindex, id_attno(target_relation), TEXTOID, -1,
							  DEFAULT_COLLATION_OID, 0);

	add_row_identity_var(root, var, rtindex, "rk_id");
}

/*
 * Checks what an UPDATE sets (name, active, expires_at only) and passes the
 * list of attributes on, with whether there is a RETURNING list.
 */
static List *
rkPlanForeignModify(PlannerInfo *root, ModifyTable *plan, Index resultRelation,
					int subplan_index)
{
	RangeTblEntry *rte = planner_rt_fetch(resultRelation, root);
	Relation	rel = table_open(rte->relid, NoLock);
	int		   *columns = map_columns(rel);
	List	   *updated = NIL;

	if (plan->operation == CMD_UPDATE)
	{
		Bitmapset  *cols = get_rel_all_updated_cols(root, find_base_rel(root, resultRelation));
		int			c = -1;

		while ((c = bms_next_member(cols, c)) >= 0)
		{
			AttrNumber	attno = c + FirstLowInvalidHeapAttributeNumber;
			int			col = attno > 0 ? columns[attno - 1] : -1;

			if (col != RK_COL_NAME && col != RK_COL_ACTIVE && col != RK_COL_EXPIRES_AT)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("column \"%s\" of foreign table \"%s\" cannot be updated",
								get_attname(rte->relid, attno, false),
								RelationGetRelationName(rel)),
						 errhint("A key's name, active and expires_at can be changed; its status follows active.")));
			updated = lappend_int(updated, attno);
		}
	}
	table_close(rel, NoLock);
	return list_make2(updated,
					  makeBoolean(plan->returningLists != NIL &&
								  list_nth(plan->returningLists, subplan_index) != NULL));
}

/*
 * Sets up an INSERT, UPDATE or DELETE.
 */
static void
rkBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo, List *fdw_private,
					 int subplan_index, int eflags)
{
	EState	   *estate = mtstate->ps.state;
	Relation	rel = rinfo->ri_RelationDesc;
	RkModifyState *state = palloc0(sizeof(RkModifyState));
	Oid			userid;

	rinfo->ri_FdwState = state;
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	userid = acting_user(estate, rinfo->ri_RangeTableIndex, MODIFY_PLAN_USER(rinfo, estate));
	state->config = rk_options_load(GetForeignTable(RelationGetRelid(rel))->serverid, userid);
	state->budget = rk_keys_budget(state->config);
	state->operation = mtstate->operation;
	state->columns = map_columns(rel);
	state->natts = RelationGetDescr(rel)->natts;
	state->updated = (List *) linitial(fdw_private);
	state->returning = boolVal(lsecond(fdw_private));
	state->row_cxt = AllocSetContextCreate(estate->es_query_cxt, "routerkeys modify row",
										   ALLOCSET_DEFAULT_SIZES);
	if (state->operation != CMD_INSERT)
	{
		state->id_junk = ExecFindJunkAttributeInTlist(outerPlanState(mtstate)->plan->targetlist,
													  "rk_id");
		if (!AttributeNumberIsValid(state->id_junk))
			elog(ERROR, "could not find junk rk_id column");
	}
}

/*
 * The value of a slot's attribute that maps to key column col, or NULL.
 */
static bool
slot_column(RkModifyState *state, TupleTableSlot *slot, int col, Datum *value)
{
	bool		isnull = true;

	for (int i = 0; i < state->natts; i++)
	{
		if (state->columns[i] == col)
		{
			*value = slot_getattr(slot, i + 1, &isnull);
			break;
		}
	}
	return !isnull;
}

/*
 * What an inserted row asks for: name is required; expires_at, project_id,
 * permission_mode and active may be given; the other columns are the
 * service's to set.
 */
static void
insert_args(RkModifyState *state, TupleTableSlot *slot, RkCreateArgs *args, int *active)
{
	TupleDesc	desc = slot->tts_tupleDescriptor;
	Datum		value;

	memset(args, 0, sizeof(RkCreateArgs));
	slot_getallattrs(slot);
	for (int i = 0; i < state->natts; i++)
	{
		int			col = state->columns[i];

		if (col < 0 || slot->tts_isnull[i] || col == RK_COL_NAME || col == RK_COL_EXPIRES_AT ||
			col == RK_COL_PROJECT_ID || col == RK_COL_PERMISSION_MODE || col == RK_COL_ACTIVE)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("column \"%s\" cannot be set when a key is created",
						NameStr(TupleDescAttr(desc, i)->attname)),
				 errhint("A new key takes name, expires_at, project_id, permission_mode and active; the service sets the rest.")));
	}
	if (!slot_column(state, slot, RK_COL_NAME, &value))
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("a key needs a name")));
	args->name = TextDatumGetCString(value);
	if (slot_column(state, slot, RK_COL_EXPIRES_AT, &value))
		args->expires_at = rk_rows_rfc3339(DatumGetTimestampTz(value));
	if (slot_column(state, slot, RK_COL_PROJECT_ID, &value))
		args->project_id = TextDatumGetCString(value);
	if (slot_column(state, slot, RK_COL_PERMISSION_MODE, &value))
	{
		args->permission_mode = TextDatumGetCString(value);
		rk_keys_check_permission_mode(state->config, args->permission_mode);
	}
	*active = slot_column(state, slot, RK_COL_ACTIVE, &value) ? DatumGetBool(value) : -1;
}

/*
 * Finishes a create that has ended: records the follow-up check it may ask
 * for and, when the key was made, that the transaction made it (an abort
 * deletes it), then disables it when the row asked for active = false.
 * Returns false for a create that failed, leaving the error to the caller.
 */
static bool
created(RkModifyState *state, RkKey *key, RkOutcome *outcome, int active)
{
	rk_followup_note(state->config, outcome);
	if (outcome->kind != RK_OUTCOME_DONE)
		return false;
	rk_xact_created(state->config, key->id);
	if (active == 0)
	{
		RkUpdateArgs disable = {.active = 0};
		char	   *token = key->token;

		rk_keys_update(state->config, key->id, &disable, key, outcome,
					   &state->budget, &state->stats);
		rk_followup_check(state->config, outcome);
		key->token = token;
	}
	return true;
}

/*
 * Creates the keys of a batch of rows, concurrently, and waits for them;
 * rows that ask for active = false are disabled right after.  Fills the
 * slots with the keys.  Every key made is known to the transaction before
 * a failed one raises its error.
 */
static void
insert_rows(RkModifyState *state, TupleTableSlot **slots, int n)
{
	RkCreateArgs *args = palloc(sizeof(RkCreateArgs) * n);
	RkKey	   *keys = palloc(sizeof(RkKey) * n);
	RkOutcome  *outcomes = palloc(sizeof(RkOutcome) * n);
	int		   *active = palloc(sizeof(int) * n);
	int			failed = -1;
	bool		wanted[RK_KEY_NCOLUMNS + 1];

	for (int i = 0; i < n; i++)
		insert_args(state, slots[i], &args[i], &active[i]);
	rk_keys_create_many(state->config, args, n, keys, state->returning, outcomes,
						&state->budget, &state->stats);
	for (int i = 0; i < n; i++)
	{
		if (!created(state, &keys[i], &outcomes[i], active[i]) && failed < 0)
			failed = i;
	}
	if (failed >= 0)
		rk_error_raise(state->config, &outcomes[failed]);
	memset(wanted, state->returning, sizeof(wanted));
	for (int i = 0; i < n; i++)
		store_key(slots[i], state->columns, wanted, &keys[i]);
}

/*
 * Waits for the creates in flight of a batch INSERT, finishing each: all
 * of them, or only until one more can be sent.  After a create failed,
 * waits for all of them, then raises its error.
 */
static void
settle_creates(RkModifyState *state, bool all)
{
	RkKey		key;
	RkOutcome	outcome;
	RkOutcome	failure = {0};
	bool		failed = false;
	int			active;

	while ((failed || all || rk_keys_creates_full(state->creates)) &&
		   rk_keys_creates_next(state->creates, &key, &outcome, &active))
	{
		if (!created(state, &key, &outcome, active) && !failed)
		{
			failure = outcome;
			failed = true;
		}
	}
	if (failed)
		rk_error_raise(state->config, &failure);
}

/*
 * Whether a batch INSERT may leave its creates in flight when a batch call
 * returns: nothing that runs before the statement ends (an AFTER STATEMENT
 * trigger, a view's WITH CHECK OPTION) may look at the rows or the keys.
 */
static bool
may_keep_in_flight(ResultRelInfo *rinfo)
{
	return rinfo->ri_WithCheckOptions == NIL &&
		(rinfo->ri_TrigDesc == NULL || !rinfo->ri_TrigDesc->trig_insert_after_statement);
}

/*
 * INSERT of one row: POST /v2/api-keys.  RETURNING gets the key, with its
 * one-time token.
 */
static TupleTableSlot *
rkExecForeignInsert(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
					TupleTableSlot *planSlot)
{
	RkModifyState *state = (RkModifyState *) rinfo->ri_FdwState;
	MemoryContext oldcxt;

	MemoryContextReset(state->row_cxt);
	oldcxt = MemoryContextSwitchTo(state->row_cxt);
	insert_rows(state, &slot, 1);
	MemoryContextSwitchTo(oldcxt);
	return slot;
}

/*
 * INSERT of a batch (no RETURNING, no row triggers): the creates run
 * concurrently, up to batch_size in flight, and stay in flight across the
 * executor's batch calls: a create is sent as soon as one ends, not when
 * the batch's slowest one has.  The statement waits for the last ones at
 * its end (rkEndForeignModify).  The slots are given back as they came:
 * nobody reads them.
 */
static TupleTableSlot **
rkExecForeignBatchInsert(EState *estate, ResultRelInfo *rinfo, TupleTableSlot **slots,
						 TupleTableSlot **planSlots, int *numSlots)
{
	RkModifyState *state = (RkModifyState *) rinfo->ri_FdwState;
	MemoryContext oldcxt;
	RkCreateArgs *args;
	int		   *active;

	MemoryContextReset(state->row_cxt);
	if (!may_keep_in_flight(rinfo))
	{
		oldcxt = MemoryContextSwitchTo(state->row_cxt);
		insert_rows(state, slots, *numSlots);
		MemoryContextSwitchTo(oldcxt);
		return slots;
	}
	if (state->creates == NULL)
	{
		oldcxt = MemoryContextSwitchTo(estate->es_query_cxt);
		state->creates = rk_keys_creates_begin(state->config, rinfo->ri_BatchSize, false,
											   &state->budget, &state->stats);
		MemoryContextSwitchTo(oldcxt);
	}
	oldcxt = MemoryContextSwitchTo(state->row_cxt);
	args = palloc(sizeof(RkCreateArgs) * *numSlots);
	active = palloc(sizeof(int) * *numSlots);
	for (int i = 0; i < *numSlots; i++)
		insert_args(state, slots[i], &args[i], &active[i]);
	for (int i = 0; i < *numSlots; i++)
	{
		settle_creates(state, false);
		rk_keys_creates_send(state->creates, &args[i], active[i]);
	}
	MemoryContextSwitchTo(oldcxt);
	return slots;
}

/*
 * How many rows an INSERT sends at once: batch_size, unless RETURNING or
 * row triggers need each row back before the next.
 */
static int
rkGetForeignModifyBatchSize(ResultRelInfo *rinfo)
{
	ForeignTable *table = GetForeignTable(RelationGetRelid(rinfo->ri_RelationDesc));

	if (rinfo->ri_projectReturning != NULL ||
		(rinfo->ri_TrigDesc != NULL &&
		 (rinfo->ri_TrigDesc->trig_insert_before_row ||
		  rinfo->ri_TrigDesc->trig_insert_after_row)))
		return 1;
	return table_int_option(table, GetForeignServer(table->serverid), "batch_size");
}

/*
 * The id of the row being updated or deleted.
 */
static char *
row_id(RkModifyState *state, TupleTableSlot *planSlot)
{
	bool		isnull;
	Datum		d = ExecGetJunkAttribute(planSlot, state->id_junk, &isnull);

	if (isnull)
		elog(ERROR, "key id is null");
	return TextDatumGetCString(d);
}

/*
 * UPDATE of one row: a PATCH with only the columns the statement sets.  A
 * key that vanished meanwhile is not updated (and not counted).
 */
static TupleTableSlot *
rkExecForeignUpdate(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
					TupleTableSlot *planSlot)
{
	RkModifyState *state = (RkModifyState *) rinfo->ri_FdwState;
	RkUpdateArgs args = {.active = -1};
	MemoryContext oldcxt;
	RkOutcome	outcome;
	RkKey		key;
	ListCell   *lc;
	bool		found;

	MemoryContextReset(state->row_cxt);
	oldcxt = MemoryContextSwitchTo(state->row_cxt);
	foreach(lc, state->updated)
	{
		AttrNumber	attno = lfirst_int(lc);
		bool		isnull;
		Datum		value = slot_getattr(slot, attno, &isnull);

		switch (state->columns[attno - 1])
		{
			case RK_COL_NAME:
			case RK_COL_ACTIVE:
				if (isnull)
					ereport(ERROR,
							(errcode(ERRCODE_NOT_NULL_VIOLATION),
							 errmsg("null value in column \"%s\" of foreign table \"%s\" violates not-null constraint",
									NameStr(TupleDescAttr(slot->tts_tupleDescriptor, attno - 1)->attname),
									RelationGetRelationName(rinfo->ri_RelationDesc)),
							 errdetail("A key always has a name and an active state.")));
				if (state->columns[attno - 1] == RK_COL_NAME)
					args.name = TextDatumGetCString(value);
				else
					args.active = DatumGetBool(value) ? 1 : 0;
				break;
			case RK_COL_EXPIRES_AT:
				if (isnull)
					args.clear_expires_at = true;
				else
					args.expires_at = rk_rows_rfc3339(DatumGetTimestampTz(value));
				break;
		}
	}
	rk_xact_update(state->config, row_id(state, planSlot), &args, NULL, &key, &outcome,
				   &state->budget, &state->stats);
	found = outcome.kind != RK_OUTCOME_NOT_FOUND;
	if (found)
		rk_followup_check(state->config, &outcome);
	if (found)
	{
		bool		wanted[RK_KEY_NCOLUMNS + 1];

		memset(wanted, state->returning, sizeof(wanted));
		store_key(slot, state->columns, wanted, &key);
	}
	MemoryContextSwitchTo(oldcxt);
	return found ? slot : NULL;
}

/*
 * DELETE of one row.  With RETURNING the key is read first, since the
 * service answers a delete with nothing.
 */
static TupleTableSlot *
rkExecForeignDelete(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
					TupleTableSlot *planSlot)
{
	RkModifyState *state = (RkModifyState *) rinfo->ri_FdwState;
	MemoryContext oldcxt;
	char	   *id;
	RkOutcome	outcome;
	RkKey		key;
	bool		deleted;

	MemoryContextReset(state->row_cxt);
	oldcxt = MemoryContextSwitchTo(state->row_cxt);
	id = row_id(state, planSlot);
	if (state->returning)
	{
		bool		wanted[RK_KEY_NCOLUMNS + 1];

		rk_keys_get_many(state->config, &id, 1, &key, &outcome, &state->budget, &state->stats);
		if (outcome.kind == RK_OUTCOME_NOT_FOUND)
		{
			MemoryContextSwitchTo(oldcxt);
			return NULL;
		}
		rk_followup_check(state->config, &outcome);
		memset(wanted, true, sizeof(wanted));
		store_key(slot, state->columns, wanted, &key);
	}
	rk_xact_delete(state->config, id, state->returning ? &key : NULL, &outcome,
				   &state->budget, &state->stats);
	deleted = outcome.kind != RK_OUTCOME_NOT_FOUND;
	if (deleted)
		rk_followup_check(state->config, &outcome);
	MemoryContextSwitchTo(oldcxt);
	return deleted ? slot : NULL;
}

/*
 * The end of an INSERT, UPDATE or DELETE: a batch INSERT waits for its
 * last creates.  Nothing to release: the contexts go with the query (and
 * with them, after an error, what was still in flight: see keys.c).
 */
static void
rkEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	RkModifyState *state = (RkModifyState *) rinfo->ri_FdwState;
	MemoryContext oldcxt;

	if (state == NULL || state->creates == NULL)
		return;
	MemoryContextReset(state->row_cxt);
	oldcxt = MemoryContextSwitchTo(state->row_cxt);
	settle_creates(state, true);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Every routerkeys foreign table accepts INSERT, UPDATE and DELETE.
 */
static int
rkIsForeignRelUpdatable(Relation rel)
{
	return (1 << CMD_INSERT) | (1 << CMD_UPDATE) | (1 << CMD_DELETE);
}

/*
 * EXPLAIN: the requests an INSERT, UPDATE or DELETE makes per row.
 */
static void
rkExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo, List *fdw_private,
					   int subplan_index, ExplainState *es)
{
	RkModifyState *state = (RkModifyState *) rinfo->ri_FdwState;

	const RkDialect *dialect = rk_options_dialect(
		GetForeignServer(GetForeignTable(RelationGetRelid(rinfo->ri_RelationDesc))->serverid));

	switch (mtstate->operation)
	{
		case CMD_INSERT:
			ExplainPropertyText("Remote Request",
								psprintf("%s per row", dialect->describe_key_request("POST")), es);
			if (rinfo->ri_BatchSize > 1)
				ExplainPropertyInteger("Concurrent Batch Size", NULL, rinfo->ri_BatchSize, es);
			break;
		case CMD_UPDATE:
			ExplainPropertyText("Remote Request",
								psprintf("%s per row", dialect->describe_key_request("PATCH")), es);
			break;
		case CMD_DELETE:
			ExplainPropertyText("Remote Request",
								boolVal(lsecond(fdw_private)) ?
								psprintf("%s, then %s per row",
										 dialect->describe_key_request("GET"),
										 dialect->describe_key_request("DELETE")) :
								psprintf("%s per row", dialect->describe_key_request("DELETE")),
								es);
			break;
		default:
			break;
	}
	explain_stats(&state->stats, false, es);
}

/*
 * IMPORT FOREIGN SCHEMA: one table, router_keys, with every column.
 */
static List *
rkImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	const char *table = "router_keys";
	bool		listed = false;
	StringInfoData sql;
	ListCell   *lc;

	foreach(lc, stmt->table_list)
		listed |= strcmp(((RangeVar *) lfirst(lc))->relname, table) == 0;
	if ((stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO && !listed) ||
		(stmt->list_type == FDW_IMPORT_SCHEMA_EXCEPT && listed))
		return NIL;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE FOREIGN TABLE %s (", table);
	for (int i = 0; i <= RK_KEY_NCOLUMNS; i++)
		appendStringInfo(&sql, "%s%s %s", i > 0 ? ", " : "", rk_rows_column_name(i),
						 format_type_be(rk_rows_column_type(i)));
	appendStringInfo(&sql, ") SERVER %s",
					 quote_identifier(GetForeignServer(serverOid)->servername));
	return list_make1(sql.data);
}

/*
 * The FDW handler: the callbacks above.
 */
Datum
routerkeys_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = rkGetForeignRelSize;
	routine->GetForeignPaths = rkGetForeignPaths;
	routine->GetForeignPlan = rkGetForeignPlan;
	routine->BeginForeignScan = rkBeginForeignScan;
	routine->IterateForeignScan = rkIterateForeignScan;
	routine->ReScanForeignScan = rkReScanForeignScan;
	routine->EndForeignScan = rkEndForeignScan;
	routine->ExplainForeignScan = rkExplainForeignScan;

	routine->AddForeignUpdateTargets = rkAddForeignUpdateTargets;
	routine->PlanForeignModify = rkPlanForeignModify;
	routine->BeginForeignModify = rkBeginForeignModify;
	routine->ExecForeignInsert = rkExecForeignInsert;
	routine->ExecForeignBatchInsert = rkExecForeignBatchInsert;
	routine->GetForeignModifyBatchSize = rkGetForeignModifyBatchSize;
	routine->ExecForeignUpdate = rkExecForeignUpdate;
	routine->ExecForeignDelete = rkExecForeignDelete;
	routine->EndForeignModify = rkEndForeignModify;
	routine->IsForeignRelUpdatable = rkIsForeignRelUpdatable;
	routine->ExplainForeignModify = rkExplainForeignModify;

	routine->ImportForeignSchema = rkImportForeignSchema;

	PG_RETURN_POINTER(routine);
}
