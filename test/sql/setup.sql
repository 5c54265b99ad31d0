-- setup: the extension, a server pointing at the stub of the provisioning API, a user
-- mapping, and "stubctl", a few SQL helpers that drive the stub's admin API
-- (reset, seed keys, arm faults, read the request log) so the tests can assert on it.
\getenv stub_url RK_STUB_URL

CREATE EXTENSION routerkeys;
SELECT extversion FROM pg_extension WHERE extname = 'routerkeys';
-- The worker of this database looks a timed-out create's name up again after 2 s, not 10 min.
ALTER DATABASE :"DBNAME" SET routerkeys.settle_delay = '2s';

CREATE SCHEMA stubctl;
CREATE TABLE stubctl.config (url text NOT NULL);
INSERT INTO stubctl.config VALUES (:'stub_url');

-- One call of the stub's admin API, through curl; returns the JSON answer.
CREATE FUNCTION stubctl.call(method text, path text, body jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    cmd text;
    answer text;
BEGIN
    IF to_regclass('pg_temp.stubctl_out') IS NULL THEN
        CREATE TEMP TABLE stubctl_out (line text);
    END IF;
    TRUNCATE stubctl_out;
    cmd := format('curl -sS --max-time 30 -X %s %s', method,
                  (SELECT url FROM stubctl.config) || path);
    IF body IS NOT NULL THEN
        cmd := cmd || ' -H ''Content-Type: application/json'' --data-binary '''
                   || replace(body::text, '''', '''"''"''') || '''';
    END IF;
    EXECUTE format('COPY stubctl_out FROM PROGRAM %L WITH (FORMAT csv, DELIMITER E''\x01'', QUOTE E''\x02'')', cmd);
    SELECT string_agg(line, E'\n') INTO answer FROM stubctl_out;
    RETURN answer::jsonb;
END
$$;

CREATE FUNCTION stubctl.reset() RETURNS void
LANGUAGE sql AS $$ SELECT stubctl.call('POST', '/__admin/reset') $$;

CREATE FUNCTION stubctl.seed(n int, name_prefix text DEFAULT 'seed-', status text DEFAULT 'active')
RETURNS int
LANGUAGE sql AS $$
    SELECT (stubctl.call('POST', '/__admin/seed',
            jsonb_build_object('count', n, 'name_prefix', name_prefix, 'status', status))->>'created')::int
$$;

CREATE FUNCTION stubctl.fault(spec jsonb) RETURNS void
LANGUAGE sql AS $$ SELECT stubctl.call('POST', '/__admin/faults', spec) $$;

CREATE FUNCTION stubctl.clear_faults() RETURNS void
LANGUAGE sql AS $$ SELECT stubctl.call('DELETE', '/__admin/faults') $$;

CREATE FUNCTION stubctl.generation(name text) RETURNS void
LANGUAGE sql AS $$ SELECT stubctl.call('POST', '/__admin/config', jsonb_build_object('generation', name)) $$;

-- Whether the stub refuses a second key of a name with 409 (the default) or allows it.
CREATE FUNCTION stubctl.unique_names(on_ boolean) RETURNS void
LANGUAGE sql AS $$ SELECT stubctl.call('POST', '/__admin/config', jsonb_build_object('unique_names', on_)) $$;

-- A key of exactly this name, made as another client of the account would; its id.
CREATE FUNCTION stubctl.seed_named(name text) RETURNS text
LANGUAGE sql AS $$
    SELECT stubctl.call('POST', '/__admin/seed', jsonb_build_object('name', name))->>'first_id'
$$;

-- Live router keys in the stub.
CREATE FUNCTION stubctl.live_keys() RETURNS int
LANGUAGE sql AS $$ SELECT (stubctl.call('GET', '/__admin/state')->>'keys')::int $$;

-- The request log since the last clear_log(), oldest first.
CREATE FUNCTION stubctl.log()
RETURNS TABLE (seq int, method text, path text, query text, auth text, status int, body text)
LANGUAGE sql AS $$
    SELECT e.seq, e.method, e.path, e.query, e.auth, e.status, e.body
    FROM jsonb_to_recordset(stubctl.call('GET', '/__admin/log')->'entries')
         AS e(seq int, method text, path text, query text, auth text, status int, body text)
    ORDER BY e.seq
$$;

CREATE FUNCTION stubctl.clear_log() RETURNS void
LANGUAGE sql AS $$ SELECT stubctl.call('DELETE', '/__admin/log') $$;

SELECT stubctl.reset();
SELECT stubctl.live_keys();

-- The configuration every other test uses: one server, one mapping for the test role.
CREATE SERVER stub FOREIGN DATA WRAPPER routerkeys OPTIONS (url :'stub_url');
CREATE USER MAPPING FOR CURRENT_USER SERVER stub
    OPTIONS (provisioning_key 'rk-test-provisioning-valid');

-- With nothing in the account, a listing is empty, and it took one request.
SELECT stubctl.clear_log();
SELECT count(*) FROM routerkeys.list_keys();
SELECT method, path, query, auth, status FROM stubctl.log();

-- Polls a condition every 50 ms until it holds (true) or the seconds are up (false).
CREATE FUNCTION stubctl.wait_until(condition text, seconds int DEFAULT 30) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
BEGIN
    FOR i IN 1 .. seconds * 20 LOOP
        EXECUTE 'SELECT (' || condition || ')' INTO ok;
        IF ok THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END
$$;

-- Runs a statement and shows how it failed: SQLSTATE, message, detail and hint.
CREATE FUNCTION stubctl.try(statement text,
                            OUT code text, OUT message text, OUT detail text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    code := '00000';
    message := 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
END
$$;
