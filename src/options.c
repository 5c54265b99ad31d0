/*-------------------------------------------------------------------------
 *
 * options.c
 *		The routerkeys FDW validator, the option table, and turning catalog
 *		options into one RkConfig per call.
 *
 * Which option is legal where is decided by one table.  The provisioning
 * key is accepted only on a user mapping.  pg_user_mappings shows a
 * mapping's options to the mapped role, to superusers, and, for a PUBLIC
 * mapping, also to the server's owner; nobody else can read them.  The key
 * is never echoed in a message.
 *
 * Configurations are cached per (server, role), any number of them, and
 * rebuilt after any change to a server or a user mapping: a syscache
 * callback advances a generation counter, and an entry built while the
 * counter moved (catalog access takes in invalidations) is stale at once.
 *
 * Nothing here talks to a server.  The RkConfig a call gets is palloc'd in
 * the caller's memory context.
 *
 *-------------------------------------------------------------------------
 */
#include "routerkeys.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

typedef enum RkOptionKind
{
	RK_OPT_URL,
	RK_OPT_INT,
	RK_OPT_PATH,
	RK_OPT_SECRET,				/* the provisioning key itself */
	RK_OPT_NAME,				/* an environment variable */
	RK_OPT_DIALECT				/* the remote API a server speaks */
} RkOptionKind;

#define RK_MAX_KEY_FILE_LINE 8192	/* longest provisioning key a file may hold */

/* Where an option may be given. */
#define RK_ON_SERVER	0x01
#define RK_ON_MAPPING	0x02
#define RK_ON_TABLE		0x04

typedef struct RkOption
{
	const char *name;
	int			where;			/* RK_ON_* bits */
	RkOptionKind kind;
	int			min;			/* RK_OPT_INT only */
	int			max;
	int			fallback;		/* RK_OPT_INT only: value when not set */
	bool		superuser_only;
	bool		key_source;		/* names where the provisioning key comes from */
} RkOption;

static const RkOption rk_options[] = {
	{"url", RK_ON_SERVER, RK_OPT_URL, 0, 0, 0, false, false},
	{"api", RK_ON_SERVER, RK_OPT_DIALECT, 0, 0, 0, false, false},
	{"connect_timeout_ms", RK_ON_SERVER, RK_OPT_INT, 1, 600000, 5000, false, false},
	{"timeout_ms", RK_ON_SERVER, RK_OPT_INT, 1, 3600000, 30000, false, false},
	{"max_retries", RK_ON_SERVER, RK_OPT_INT, 0, 10, 3, false, false},
	{"retry_max_wait_ms", RK_ON_SERVER, RK_OPT_INT, 0, 600000, 30000, false, false},
	{"page_size", RK_ON_SERVER, RK_OPT_INT, 1, 200, 100, false, false},
	{"max_response_bytes", RK_ON_SERVER, RK_OPT_INT, 1024, 1073741824, 16777216, false, false},
	{"ca_file", RK_ON_SERVER, RK_OPT_PATH, 0, 0, 0, true, false},
	{"max_concurrency", RK_ON_SERVER, RK_OPT_INT, 1, 256, 16, false, false},
	{"max_attempts", RK_ON_SERVER, RK_OPT_INT, 1, 1000, 10, false, false},
	{"batch_size", RK_ON_SERVER | RK_ON_TABLE, RK_OPT_INT, 1, 64, 1, false, false},
	{"estimated_keys", RK_ON_SERVER | RK_ON_TABLE, RK_OPT_INT, 1, 100000000, 10000, false, false},
	{"request_latency_ms", RK_ON_SERVER, RK_OPT_INT, 0, 600000, -1, false, false},
	{"provisioning_key", RK_ON_MAPPING, RK_OPT_SECRET, 0, 0, 0, false, true},
	{"provisioning_key_file", RK_ON_MAPPING, RK_OPT_PATH, 0, 0, 0, true, true},
	{"provisioning_key_env", RK_ON_MAPPING, RK_OPT_NAME, 0, 0, 0, true, true},
};

#define RK_NOPTIONS ((int) lengthof(rk_options))

/* The remote APIs a server can speak (its "api" option); the first is the default. */
static const RkDialect *const rk_dialects[] = {
	&rk_dialect_orq,
};

PG_FUNCTION_INFO_V1(routerkeys_fdw_validator);

static char *string_option(List *options, const char *name);
static DefElem *find_def(List *options, const char *name);
static RkConfig *build_config(ForeignServer *server, Oid userid);
static void watch_catalogs(void);

/* The cache key of a configuration. */
typedef struct RkConfigKey
{
	Oid			serverid;
	Oid			userid;
} RkConfigKey;

/* A cached configuration, in a memory context of its own. */
typedef struct RkConfigEntry
{
	RkConfigKey key;
	uint64		generation;		/* catalog_generation when it was read */
	MemoryContext cxt;
	RkConfig   *config;
} RkConfigEntry;

/*
 * Caches, forgotten on any change to a server or a user mapping: the server
 * a call that names none resolves to, and the configurations.
 */
static Oid	only_server = InvalidOid;
static HTAB *config_cache = NULL;
static uint64 catalog_generation = 0;

/*
 * The RK_ON_* bit of a catalog, 0 for catalogs that take no options.
 */
static int
context_bit(Oid context)
{
	switch (context)
	{
		case ForeignServerRelationId:
			return RK_ON_SERVER;
		case UserMappingRelationId:
			return RK_ON_MAPPING;
		case ForeignTableRelationId:
			return RK_ON_TABLE;
		default:
			return 0;
	}
}

/*
 * Describes a catalog the way a user names it in DDL.
 */
static const char *
context_name(Oid context)
{
	switch (context)
	{
		case ForeignServerRelationId:
			return "a server";
		case UserMappingRelationId:
			return "a user mapping";
		case ForeignTableRelationId:
			return "a foreign table";
		case ForeignDataWrapperRelationId:
			return "the foreign-data wrapper";
		default:
			return "this object";
	}
}

/*
 * Where an option belongs, for a hint.
 */
static const char *
where_name(int where)
{
	if (where & RK_ON_SERVER)
		return (where & RK_ON_TABLE) ? "a server or a foreign table" : "a server";
	if (where & RK_ON_MAPPING)
		return "a user mapping";
	return "a foreign table";
}

/*
 * Finds an option by name in any context, or NULL.
 */
static const RkOption *
find_option(const char *name)
{
	for (int i = 0; i < RK_NOPTIONS; i++)
	{
		if (strcmp(rk_options[i].name, name) == 0)
			return &rk_options[i];
	}
	return NULL;
}

/*
 * Reports an option name that exists nowhere, hinting at the closest option
 * valid in this context.
 */
static void
report_unknown_option(const char *name, Oid context)
{
	const char *best = NULL;
	int			best_distance = INT_MAX;
	int			max_distance = Max(2, (int) strlen(name) / 3);
	StringInfoData valid;

	initStringInfo(&valid);
	for (int i = 0; i < RK_NOPTIONS; i++)
	{
		int			d;

		if ((rk_options[i].where & context_bit(context)) == 0)
			continue;
		appendStringInfo(&valid, "%s%s", valid.len > 0 ? ", " : "", rk_options[i].name);
		d = varstr_levenshtein(name, strlen(name),
							   rk_options[i].name, strlen(rk_options[i].name),
							   1, 1, 1, true);
		if (d < best_distance)
		{
			best_distance = d;
			best = rk_options[i].name;
		}
	}

	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
			 errmsg("invalid option \"%s\"", name),
			 best != NULL && best_distance <= max_distance ?
			 errhint("Perhaps you meant the option \"%s\".", best) :
			 valid.len > 0 ?
			 errhint("Valid options on %s are: %s.", context_name(context), valid.data) :
			 errhint("There are no valid options on %s.", context_name(context))));
}

/*
 * Parses an integer option value; errors when it is not an integer in range.
 */
static int
parse_int_option(const RkOption *opt, const char *value)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < opt->min || v > opt->max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", opt->name, value),
				 errdetail("Valid values are integers from %d to %d.", opt->min, opt->max)));
	return (int) v;
}

/*
 * The dialect of an "api" option value, or NULL.
 */
static const RkDialect *
find_dialect(const char *name)
{
	for (int i = 0; i < (int) lengthof(rk_dialects); i++)
	{
		if (strcmp(rk_dialects[i]->name, name) == 0)
			return rk_dialects[i];
	}
	return NULL;
}

/*
 * The names of the dialects, for a hint.
 */
static char *
dialect_names(void)
{
	StringInfoData names;

	initStringInfo(&names);
	for (int i = 0; i < (int) lengthof(rk_dialects); i++)
		appendStringInfo(&names, "%s%s", i > 0 ? ", " : "", rk_dialects[i]->name);
	return names.data;
}

/*
 * Checks one option's value.  Secrets are checked without being echoed.
 */
static void
check_option_value(const RkOption *opt, const char *value)
{
	const char *reason;

	switch (opt->kind)
	{
		case RK_OPT_INT:
			(void) parse_int_option(opt, value);
			break;
		case RK_OPT_URL:
			if (!rk_http_url_acceptable(value, &reason))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for option \"url\": \"%s\"", value),
						 errdetail("%s", reason),
						 errhint("Use https://host[:port][/prefix]; plain http:// is accepted only for loopback addresses.")));
			break;
		case RK_OPT_PATH:
			if (!is_absolute_path(value))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for option \"%s\": \"%s\"", opt->name, value),
						 errdetail("The path must be absolute.")));
			break;
		case RK_OPT_NAME:
			if (value[0] == '\0' || strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != strlen(value))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for option \"%s\": \"%s\"", opt->name, value),
						 errdetail("An environment variable name is letters, digits and underscores.")));
			break;
		case RK_OPT_DIALECT:
			if (find_dialect(value) == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for option \"%s\": \"%s\"", opt->name, value),
						 errhint("The APIs routerkeys speaks are: %s.", dialect_names())));
			break;
		case RK_OPT_SECRET:
			if (value[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"%s\" must not be empty", opt->name)));
			break;
	}
}

/*
 * Validator of the routerkeys foreign-data wrapper: every option must exist,
 * belong to this kind of object, and have a valid value.  A server needs a
 * url and a user mapping needs a provisioning key.
 */
Datum
routerkeys_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			context = PG_GETARG_OID(1);
	bool		have_url = false;
	int			nkeys = 0;
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);
		const RkOption *opt = find_option(def->defname);

		if (opt == NULL)
			report_unknown_option(def->defname, context);
		if ((opt->where & context_bit(context)) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("option \"%s\" is not accepted on %s", opt->name, context_name(context)),
					 opt->kind == RK_OPT_SECRET ?
					 errhint("The provisioning key is a secret: give it only in CREATE USER MAPPING … OPTIONS (provisioning_key '…'), which other roles cannot read.") :
					 errhint("Set it on %s.", where_name(opt->where))));
		if (opt->superuser_only && !superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only superusers can set option \"%s\"", opt->name),
					 errdetail("It makes the server read a file or its environment, or changes whom it trusts.")));
		check_option_value(opt, defGetString(def));
		have_url |= opt->kind == RK_OPT_URL;
		nkeys += opt->key_source;
	}

	if (context == ForeignServerRelationId && !have_url)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("a routerkeys server needs the option \"url\""),
				 errhint("For example: OPTIONS (url 'https://api.orq.ai').")));
	if (context == UserMappingRelationId && nkeys != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("a routerkeys user mapping needs exactly one of the options \"provisioning_key\", \"provisioning_key_file\" and \"provisioning_key_env\"")));

	PG_RETURN_VOID();
}

/*
 * The OID of the routerkeys foreign-data wrapper.
 */
static Oid
routerkeys_fdw_oid(void)
{
	return GetForeignDataWrapperByName("routerkeys", false)->fdwid;
}

/*
 * list_sort comparator of C strings.
 */
static int
compare_names(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

/*
 * Resolves the server a call should use: the one named, else
 * routerkeys.default_server, else the only routerkeys server there is.
 */
Oid
rk_options_resolve_server(const char *servername)
{
	Oid			fdwid = routerkeys_fdw_oid();
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *names = NIL;
	Oid			found = InvalidOid;

	if (servername == NULL && rk_default_server != NULL && rk_default_server[0] != '\0')
		servername = rk_default_server;
	if (servername == NULL && OidIsValid(only_server))
		return only_server;

	if (servername != NULL)
	{
		ForeignServer *server = GetForeignServerByName(servername, false);

		if (server->fdwid != fdwid)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("server \"%s\" is not a routerkeys server", servername)));
		return server->serverid;
	}

	rel = table_open(ForeignServerRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_foreign_server form = (Form_pg_foreign_server) GETSTRUCT(tuple);

		if (form->srvfdw != fdwid)
			continue;
		found = form->oid;
		names = lappend(names, (char *) quote_identifier(pstrdup(NameStr(form->srvname))));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (list_length(names) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no routerkeys server exists"),
				 errhint("Create one with CREATE SERVER … FOREIGN DATA WRAPPER routerkeys OPTIONS (url '…').")));
	if (list_length(names) > 1)
	{
		StringInfoData list;
		ListCell   *lc;

		initStringInfo(&list);
		list_sort(names, compare_names);
		foreach(lc, names)
			appendStringInfo(&list, "%s%s", list.len > 0 ? ", " : "", (char *) lfirst(lc));
		ereport(ERROR,
				(errcode(ERRCODE_AMBIGUOUS_PARAMETER),
				 errmsg("more than one routerkeys server exists"),
				 errdetail("The servers are: %s.", list.data),
				 errhint("Pass the server argument, or set routerkeys.default_server.")));
	}
	watch_catalogs();
	only_server = found;
	return found;
}

/*
 * Checks that the current role may use the server and has a user mapping for
 * it (its own or PUBLIC's).
 */
static void
check_access(ForeignServer *server, Oid userid)
{
	AclResult	aclresult;

#if PG_VERSION_NUM >= 160000
	aclresult = object_aclcheck(ForeignServerRelationId, server->serverid, userid, ACL_USAGE);
#else
	aclresult = pg_foreign_server_aclcheck(server->serverid, userid, ACL_USAGE);
#endif
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_SERVER, server->servername);

	if (!SearchSysCacheExists2(USERMAPPINGUSERSERVER,
							   ObjectIdGetDatum(userid), ObjectIdGetDatum(server->serverid)) &&
		!SearchSysCacheExists2(USERMAPPINGUSERSERVER,
							   ObjectIdGetDatum(InvalidOid), ObjectIdGetDatum(server->serverid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("user mapping for role \"%s\" on server \"%s\" does not exist",
						GetUserNameFromId(userid, false), server->servername),
				 errhint("Create one with CREATE USER MAPPING FOR %s SERVER %s OPTIONS (provisioning_key '…').",
						 quote_identifier(GetUserNameFromId(userid, false)),
						 quote_identifier(server->servername))));
}

/*
 * Reads a provisioning key from a file of the database server: its first
 * line, without its line end, which must be shorter than
 * RK_MAX_KEY_FILE_LINE bytes.
 */
static char *
key_from_file(const char *path, const char *servername)
{
	FILE	   *file = AllocateFile(path, "r");
	StringInfoData line;
	int			c;

	if (file == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read the provisioning key of server \"%s\" from file \"%s\": %m",
						servername, path)));
	initStringInfo(&line);
	while ((c = fgetc(file)) != EOF && c != '\n' && c != '\r')
	{
		if (line.len >= RK_MAX_KEY_FILE_LINE - 1)
		{
			FreeFile(file);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the first line of file \"%s\" is too long for a provisioning key", path),
					 errdetail("A provisioning key file holds the key on its first line, of fewer than %d bytes.",
							   RK_MAX_KEY_FILE_LINE)));
		}
		appendStringInfoChar(&line, (char) c);
	}
	if (ferror(file))
	{
		int			save_errno = errno;

		FreeFile(file);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read the provisioning key of server \"%s\" from file \"%s\": %m",
						servername, path)));
	}
	FreeFile(file);
	if (line.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("file \"%s\" holds no provisioning key", path)));
	return line.data;
}

/*
 * The provisioning key of a user mapping, and in *option the option it came
 * from: given in the mapping, or, where a superuser set it up so, read from
 * a file or the environment of the database server, so that it never has
 * to be written in SQL.
 */
static char *
mapping_key(UserMapping *mapping, const char *servername, const char **option)
{
	char	   *key = string_option(mapping->options, "provisioning_key");
	char	   *path = string_option(mapping->options, "provisioning_key_file");
	char	   *env = string_option(mapping->options, "provisioning_key_env");

	*option = key != NULL ? "provisioning_key" :
		path != NULL ? "provisioning_key_file" : "provisioning_key_env";
	if (key != NULL)
		return key;
	if (path != NULL)
		return key_from_file(path, servername);
	if (env != NULL && getenv(env) != NULL && getenv(env)[0] != '\0')
		return pstrdup(getenv(env));
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("environment variable \"%s\" named by the user mapping on server \"%s\" is not set",
					env != NULL ? env : "", servername),
			 errhint("Set it in the environment of the database server before it starts.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * Syscache callback: any change to a server or a user mapping forgets the
 * cached server resolution and configuration.
 */
static void
forget_catalogs(Datum arg, int cacheid, uint32 hashvalue)
{
	only_server = InvalidOid;
	catalog_generation++;
}

/*
 * Registers forget_catalogs, once per backend.
 */
static void
watch_catalogs(void)
{
	static bool watching = false;

	if (watching)
		return;
	CacheRegisterSyscacheCallback(FOREIGNSERVEROID, forget_catalogs, (Datum) 0);
	CacheRegisterSyscacheCallback(USERMAPPINGOID, forget_catalogs, (Datum) 0);
	watching = true;
}

/*
 * A copy of a configuration in the current memory context.
 */
RkConfig *
rk_options_copy(const RkConfig *cached)
{
	RkConfig   *config = palloc(sizeof(RkConfig));

	*config = *cached;
	config->servername = pstrdup(cached->servername);
	config->url = pstrdup(cached->url);
	config->ca_file = cached->ca_file != NULL ? pstrdup(cached->ca_file) : NULL;
	config->provisioning_key = pstrdup(cached->provisioning_key);
	return config;
}

/*
 * The remote API a server speaks: its "api" option, checked by the
 * validator, else the first of rk_dialects.  A second gateway is one more
 * dialect file and one more entry there.
 */
const RkDialect *
rk_options_dialect(ForeignServer *server)
{
	DefElem    *def = find_def(server->options, "api");

	return def != NULL ? find_dialect(defGetString(def)) : rk_dialects[0];
}

/*
 * Builds the configuration of one call for a role on a server: USAGE and a
 * user mapping are checked every time; the options are read from the
 * catalogs (and a key file or variable) once, and again after any change to
 * a server or a user mapping.
 * Caller is responsible for having resolved serverid to a routerkeys server.
 */
RkConfig *
rk_options_load(Oid serverid, Oid userid)
{
	ForeignServer *server = GetForeignServer(serverid);
	RkConfigKey key = {.serverid = serverid, .userid = userid};
	RkConfigEntry *entry;
	uint64		generation;
	MemoryContext cxt;
	RkConfig   *volatile built = NULL;
	bool		found;

	check_access(server, userid);
	watch_catalogs();
	if (config_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(RkConfigKey);
		ctl.entrysize = sizeof(RkConfigEntry);
		ctl.hcxt = CacheMemoryContext;
		config_cache = hash_create("routerkeys configurations", 8, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(config_cache, &key, HASH_FIND, NULL);
	if (entry != NULL && entry->generation == catalog_generation)
		return rk_options_copy(entry->config);

	/* Read anew; an invalidation taken in meanwhile leaves the entry stale. */
	generation = catalog_generation;
	cxt = AllocSetContextCreate(CacheMemoryContext, "routerkeys configuration",
								ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(cxt);

		built = build_config(server, userid);
		MemoryContextSwitchTo(oldcxt);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(CacheMemoryContext);
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();

	entry = hash_search(config_cache, &key, HASH_ENTER, &found);
	if (found)
		MemoryContextDelete(entry->cxt);
	entry->generation = generation;
	entry->cxt = cxt;
	entry->config = built;
	return rk_options_copy(built);
}

/*
 * Reads the configuration of a server and a role's user mapping.
 */
static RkConfig *
build_config(ForeignServer *server, Oid userid)
{
	Oid			serverid = server->serverid;
	UserMapping *mapping = GetUserMapping(userid, serverid);
	RkConfig   *config = palloc0(sizeof(RkConfig));

	config->serverid = serverid;
	config->umid = mapping->umid;
	config->userid = userid;
	config->servername = pstrdup(server->servername);
	config->url = string_option(server->options, "url");
	config->ca_file = string_option(server->options, "ca_file");
	config->provisioning_key = mapping_key(mapping, server->servername, &config->key_option);
	config->dialect = rk_options_dialect(server);
	config->connect_timeout_ms = rk_options_int(server->options, "connect_timeout_ms");
	config->timeout_ms = rk_options_int(server->options, "timeout_ms");
	config->max_retries = rk_options_int(server->options, "max_retries");
	config->retry_max_wait_ms = rk_options_int(server->options, "retry_max_wait_ms");
	config->page_size = rk_options_int(server->options, "page_size");
	config->max_response_bytes = rk_options_int(server->options, "max_response_bytes");
	config->max_concurrency = rk_options_int(server->options, "max_concurrency");
	config->max_attempts = rk_options_int(server->options, "max_attempts");

	/* The url is joined with paths that start with a slash. */
	while (config->url != NULL && config->url[0] != '\0' &&
		   config->url[strlen(config->url) - 1] == '/')
		config->url[strlen(config->url) - 1] = '\0';
	return config;
}

/*
 * Finds an option in a list of catalog options; NULL when it is not there.
 */
static DefElem *
find_def(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, name) == 0)
			return def;
	}
	return NULL;
}

/*
 * The value of a string option, palloc'd, or NULL when it is not set.
 */
static char *
string_option(List *options, const char *name)
{
	DefElem    *def = find_def(options, name);

	return def != NULL ? pstrdup(defGetString(def)) : NULL;
}

/*
 * The value of an integer option in a list of options (of a server or a
 * table), or its default when it is not set.
 */
int
rk_options_int(List *options, const char *name)
{
	const RkOption *opt = find_option(name);
	DefElem    *def = find_def(options, name);

	Assert(opt != NULL && opt->kind == RK_OPT_INT);
	return def != NULL ? parse_int_option(opt, defGetString(def)) : opt->fallback;
}
