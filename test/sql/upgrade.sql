-- upgrade: ALTER EXTENSION routerkeys UPDATE from 0.1 gives the objects a fresh install of
-- the default version has: the same functions with the same arguments, results,
-- volatility and parallel safety, the same types and views.
\set home :DBNAME
CREATE DATABASE rk_upgrade_from_01;
CREATE DATABASE rk_upgrade_fresh;
\c rk_upgrade_from_01
CREATE EXTENSION routerkeys VERSION '0.1';
ALTER EXTENSION routerkeys UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'routerkeys';
CREATE VIEW objects AS
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS object,
       CASE WHEN d.classid = 'pg_proc'::regclass THEN
            (SELECT pg_get_function_arguments(p.oid) || ' -> ' || pg_get_function_result(p.oid)
                    || ' ' || p.provolatile::text || p.proparallel::text || CASE WHEN p.proisstrict THEN 's' ELSE '' END
             FROM pg_proc p WHERE p.oid = d.objid) END AS signature
FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'routerkeys' AND d.deptype = 'e'
  -- array types and a view's row type are members from PostgreSQL 17 on: left out
  AND NOT EXISTS (SELECT FROM pg_type t WHERE d.classid = 'pg_type'::regclass AND t.oid = d.objid
                  AND (t.typcategory = 'A' OR t.typrelid IN (SELECT oid FROM pg_class WHERE relkind = 'v')));
SELECT md5(string_agg(object || coalesce(signature, ''), ',' ORDER BY object)) AS upgraded,
       count(*) AS objects FROM objects \gset
\c rk_upgrade_fresh
CREATE EXTENSION routerkeys;
SELECT extversion FROM pg_extension WHERE extname = 'routerkeys';
CREATE VIEW objects AS
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS object,
       CASE WHEN d.classid = 'pg_proc'::regclass THEN
            (SELECT pg_get_function_arguments(p.oid) || ' -> ' || pg_get_function_result(p.oid)
                    || ' ' || p.provolatile::text || p.proparallel::text || CASE WHEN p.proisstrict THEN 's' ELSE '' END
             FROM pg_proc p WHERE p.oid = d.objid) END AS signature
FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'routerkeys' AND d.deptype = 'e'
  -- array types and a view's row type are members from PostgreSQL 17 on: left out
  AND NOT EXISTS (SELECT FROM pg_type t WHERE d.classid = 'pg_type'::regclass AND t.oid = d.objid
                  AND (t.typcategory = 'A' OR t.typrelid IN (SELECT oid FROM pg_class WHERE relkind = 'v')));
SELECT md5(string_agg(object || coalesce(signature, ''), ',' ORDER BY object)) = :'upgraded'
       AS same_as_upgraded, count(*) = :objects AS same_count
FROM objects;
SELECT object, signature FROM objects ORDER BY object;
\c :home
DROP DATABASE rk_upgrade_from_01;
DROP DATABASE rk_upgrade_fresh;
