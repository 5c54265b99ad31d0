-- setup.sql: the database side of the routerkeys benchmark (test/bench/bench.py runs it once).
--
--   psql -v stub_url=URL -v have_plpython=true|false -f test/bench/setup.sql
--
-- bench     the measuring helpers (bench.time_it, bench.vm) and the local tables of the
--           trigger (W3) and report (W4) workloads;
-- bench_py  the PL/Python client: the same operations written with requests.Session the
--           way a competent user would (one session per backend, cached in GD; JSON
--           parsed and mapped to the same row type as routerkeys.key).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION routerkeys;
CREATE SERVER bench FOREIGN DATA WRAPPER routerkeys OPTIONS (url :'stub_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER bench
    OPTIONS (provisioning_key 'rk-test-provisioning-valid');
ALTER SERVER bench OPTIONS (ADD page_size '200');
IMPORT FOREIGN SCHEMA router FROM SERVER bench INTO public;      -- router_keys
ALTER FOREIGN TABLE router_keys OPTIONS (ADD batch_size '16');  -- 16 or 32 per run

CREATE SCHEMA bench;

-- A field of this backend's /proc/self/status, in kB (VmHWM: peak resident set).
CREATE FUNCTION bench.vm(field text) RETURNS bigint
LANGUAGE sql AS $$
    SELECT substring(pg_read_file('/proc/self/status') FROM field || ':\s*(\d+)')::bigint
$$;

-- This backend's CPU time and run-queue wait so far, in ms (/proc/self/schedstat: time on
-- a CPU, time waiting for one; the backend has one thread).
CREATE FUNCTION bench.sched(OUT cpu_ms float8, OUT wait_ms float8)
LANGUAGE sql AS $$
    SELECT split_part(s, ' ', 1)::float8 / 1e6, split_part(s, ' ', 2)::float8 / 1e6
    FROM pg_read_file('/proc/self/schedstat') AS s
$$;

-- Runs warm (untimed, e.g. a first call that sets up the connection), then times work on
-- the server with clock_timestamp(): no client round trip is in ms.  n is the count work
-- returns (a SELECT of one number) or the rows it processed (INSERT).  hwm0/hwm1 are the
-- backend's VmHWM just before and just after work; cpu_ms and wait_ms its CPU time and
-- run-queue wait during work.
CREATE FUNCTION bench.time_it(warm text, work text,
                              OUT ms float8, OUT n bigint, OUT hwm0_kb bigint, OUT hwm1_kb bigint,
                              OUT cpu_ms float8, OUT wait_ms float8)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    s0 record;
    s1 record;
BEGIN
    IF warm IS NOT NULL THEN
        EXECUTE warm;
    END IF;
    hwm0_kb := bench.vm('VmHWM');
    s0 := bench.sched();
    t0 := clock_timestamp();
    IF work ~* '^\s*(SELECT|WITH)' THEN
        EXECUTE work INTO n;
    ELSE
        EXECUTE work;
        GET DIAGNOSTICS n = ROW_COUNT;
    END IF;
    ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
    s1 := bench.sched();
    hwm1_kb := bench.vm('VmHWM');
    cpu_ms := s1.cpu_ms - s0.cpu_ms;
    wait_ms := s1.wait_ms - s0.wait_ms;
END
$$;

-- W1 through the foreign table: a PL/pgSQL loop of single-key reads (id = $1 is sent as
-- GET /v2/api-keys/{id}).
CREATE FUNCTION bench.ft_get_loop(key_id text, times int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    found bigint := 0;
    st text;
BEGIN
    FOR i IN 1..times LOOP
        SELECT status INTO st FROM router_keys WHERE id = key_id;
        IF st IS NOT NULL THEN
            found := found + 1;
        END IF;
    END LOOP;
    RETURN found;
END
$$;

-- W6: updates of one key, each in a transaction of its own.
CREATE PROCEDURE bench.update_loop(key_id text, times int)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..times LOOP
        PERFORM routerkeys.update_key(key_id, active => i % 2 = 0);
        COMMIT;
    END LOOP;
END
$$;

-- W3: a key per tenant, from a row trigger, exactly as in the README.
CREATE TABLE bench.tenants (
    id     int PRIMARY KEY,
    name   text NOT NULL UNIQUE,
    key_id text UNIQUE
);
CREATE TABLE bench.tenant_tokens (
    tenant_id int PRIMARY KEY REFERENCES bench.tenants ON DELETE CASCADE,
    token     text NOT NULL
);
CREATE FUNCTION bench.tenants_key_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    made routerkeys.created_key;
BEGIN
    made := routerkeys.create_key('tenant-' || NEW.name);
    UPDATE bench.tenants SET key_id = made.id WHERE id = NEW.id;
    INSERT INTO bench.tenant_tokens VALUES (NEW.id, made.token);
    RETURN NULL;
END
$$;
CREATE TRIGGER tenants_key_sync AFTER INSERT ON bench.tenants
    FOR EACH ROW EXECUTE FUNCTION bench.tenants_key_sync();

-- W4: the local side of the report.
CREATE TABLE bench.report_tenants (
    id     int PRIMARY KEY,
    key_id text NOT NULL
);

\if :have_plpython
CREATE EXTENSION plpython3u;
CREATE SCHEMA bench_py;
CREATE TABLE bench_py.config (url text NOT NULL, provisioning_key text NOT NULL);
INSERT INTO bench_py.config VALUES (:'stub_url', 'rk-test-provisioning-valid');

-- Puts into GD what every bench_py function shares: one requests.Session (keep-alive),
-- the base URL, and the mapping of a key object to a row of routerkeys.key.
CREATE FUNCTION bench_py._init() RETURNS void
LANGUAGE plpython3u AS $py$
import json
import requests

cfg = plpy.execute("SELECT url, provisioning_key FROM bench_py.config")[0]
session = requests.Session()
session.headers.update({"Authorization": "Bearer " + cfg["provisioning_key"],
                        "Accept": "application/json"})

def enum(value, prefix):
    if value is None:
        return None
    return value[len(prefix):].lower() if value.startswith(prefix) else value

def to_row(k, with_token=False):
    status = k.get("status")
    active = k.get("active")
    if active is None and status is not None:
        active = status == "API_KEY_STATUS_ACTIVE"
    single = (k.get("project_scope") or {}).get("single") or {}
    owner = k.get("owner") or {}
    owner_type = "user" if "user" in owner else ("service_account" if owner else None)
    attrs = {f: v for f, v in k.items() if f != "token"}
    row = [k.get("id") or k.get("api_key_id"), k.get("name"), active,
           enum(status, "API_KEY_STATUS_"), k.get("token_prefix"),
           enum(k.get("permission_mode"), "PERMISSION_MODE_"), single.get("project_id"),
           owner_type, k.get("expiration") or k.get("expires_at"),
           k.get("created") or k.get("created_at"), k.get("updated") or k.get("updated_at"),
           k.get("last_used_at"), k.get("created_by_id"), k.get("updated_by_id"),
           k.get("source"), json.dumps(attrs)]
    if with_token:
        row.append(k.get("token"))
    return row

GD["rk"] = {"session": session, "url": cfg["url"].rstrip("/"), "to_row": to_row}
$py$;

CREATE FUNCTION bench_py.get_key(id text) RETURNS SETOF routerkeys.key
LANGUAGE plpython3u AS $py$
rk = GD.get("rk")
if rk is None:
    plpy.execute("SELECT bench_py._init()")
    rk = GD["rk"]
r = rk["session"].get(rk["url"] + "/v2/api-keys/" + id, timeout=30)
if r.status_code == 404:
    return []
r.raise_for_status()
body = r.json()
return [rk["to_row"](body.get("api_key", body))]
$py$;

CREATE FUNCTION bench_py.list_keys() RETURNS SETOF routerkeys.key
LANGUAGE plpython3u AS $py$
rk = GD.get("rk")
if rk is None:
    plpy.execute("SELECT bench_py._init()")
    rk = GD["rk"]

def pages():
    params = {"source": "router", "limit": 200}
    for _ in range(100000):
        r = rk["session"].get(rk["url"] + "/v2/api-keys", params=params, timeout=30)
        r.raise_for_status()
        body = r.json()
        keys = body["data"] if isinstance(body, dict) else body
        for k in keys:
            yield rk["to_row"](k)
        more = body.get("has_more") if isinstance(body, dict) else len(keys) == params["limit"]
        if not keys or not more:
            return
        params["starting_after"] = keys[-1].get("id") or keys[-1].get("api_key_id")

return pages()
$py$;

CREATE FUNCTION bench_py.create_key(name text) RETURNS routerkeys.created_key
LANGUAGE plpython3u AS $py$
rk = GD.get("rk")
if rk is None:
    plpy.execute("SELECT bench_py._init()")
    rk = GD["rk"]
r = rk["session"].post(rk["url"] + "/v2/api-keys", json={"name": name}, timeout=30)
r.raise_for_status()
body = r.json()
key = body.get("api_key", body)
row = rk["to_row"](key, with_token=True)
row[-1] = body.get("token", key.get("token"))
return row
$py$;

-- W3 for PL/Python: the same trigger, calling bench_py.create_key.
CREATE TABLE bench_py.tenants (
    id     int PRIMARY KEY,
    name   text NOT NULL UNIQUE,
    key_id text UNIQUE
);
CREATE TABLE bench_py.tenant_tokens (
    tenant_id int PRIMARY KEY REFERENCES bench_py.tenants ON DELETE CASCADE,
    token     text NOT NULL
);
CREATE FUNCTION bench_py.tenants_key_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    made routerkeys.created_key;
BEGIN
    made := bench_py.create_key('tenant-' || NEW.name);
    UPDATE bench_py.tenants SET key_id = made.id WHERE id = NEW.id;
    INSERT INTO bench_py.tenant_tokens VALUES (NEW.id, made.token);
    RETURN NULL;
END
$$;
CREATE TRIGGER tenants_key_sync AFTER INSERT ON bench_py.tenants
    FOR EACH ROW EXECUTE FUNCTION bench_py.tenants_key_sync();
\endif
