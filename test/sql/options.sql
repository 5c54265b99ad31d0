-- options: what is legal where. Servers take the connection settings, user mappings
-- take the provisioning key and nothing else; every value is checked, misspellings get
-- a hint, and the key is never accepted anywhere another role could read it.
\set VERBOSITY default

-- A misspelled option gets the closest valid name.
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys
    OPTIONS (url 'https://api.example.com', timeout_msec '100');
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys
    OPTIONS (url 'https://api.example.com', colour 'blue');

-- The provisioning key is refused on a server (whose options every role can read).
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys
    OPTIONS (url 'https://api.example.com', provisioning_key 'rk-test-not-a-key');
-- ... and server options are refused on a user mapping.
CREATE USER MAPPING FOR PUBLIC SERVER stub OPTIONS (provisioning_key 'x', page_size '10');
-- A mapping needs a key, and an empty one is not a key.
CREATE USER MAPPING FOR PUBLIC SERVER stub OPTIONS (provisioning_key '');
-- The wrapper itself takes no options.
ALTER FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'https://api.example.com');

-- A server needs a url; plain http only to loopback; no credentials, query or fragment.
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys;
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'http://api.example.com');
-- Loopback means an address, not a name that starts like one.
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'http://127.attacker.example');
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'http://127.0.0.1.attacker.example/');
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'http://localhost.attacker.example/');
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'http://[::2]:8080/');
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'ftp://127.0.0.1/');
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'https://user:secret@api.example.com');
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'https://api.example.com/?x=1');
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'not a url');

-- Numbers are checked against their ranges.
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys
    OPTIONS (url 'https://api.example.com', page_size '500');
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys
    OPTIONS (url 'https://api.example.com', timeout_ms 'soon');
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys
    OPTIONS (url 'https://api.example.com', ca_file 'relative/ca.pem');
-- The remote API a server speaks is one routerkeys knows.
CREATE SERVER bad FOREIGN DATA WRAPPER routerkeys
    OPTIONS (url 'https://api.example.com', api 'openrouter');

-- Valid settings are accepted: https anywhere, http on loopback (IPv4, IPv6, localhost).
CREATE SERVER good1 FOREIGN DATA WRAPPER routerkeys
    OPTIONS (url 'https://api.orq.ai', connect_timeout_ms '2000', timeout_ms '10000',
             max_retries '2', retry_max_wait_ms '5000', page_size '200',
             max_response_bytes '1048576', ca_file '/etc/ssl/certs/ca-certificates.crt');
CREATE SERVER good2 FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'http://[::1]:8080/');
CREATE SERVER good3 FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'http://localhost:8080/prefix');
CREATE SERVER good4 FOREIGN DATA WRAPPER routerkeys OPTIONS (url 'http://127.1.2.3:8080', api 'orq');
ALTER SERVER good1 OPTIONS (SET page_size '50', DROP ca_file);
SELECT srvname, srvoptions FROM pg_foreign_server WHERE srvname LIKE 'good%' ORDER BY 1;

-- With several servers, a call must say which one (or set routerkeys.default_server).
SELECT count(*) FROM routerkeys.list_keys();
SET routerkeys.default_server = 'stub';
SELECT count(*) FROM routerkeys.list_keys();
RESET routerkeys.default_server;
SELECT count(*) FROM routerkeys.list_keys(server => 'stub');
-- A server of another wrapper is not a routerkeys server.
CREATE FOREIGN DATA WRAPPER other_fdw;
CREATE SERVER other FOREIGN DATA WRAPPER other_fdw;
SELECT count(*) FROM routerkeys.list_keys(server => 'other');
SELECT count(*) FROM routerkeys.list_keys(server => 'nosuch');
DROP SERVER other;
DROP FOREIGN DATA WRAPPER other_fdw;
DROP SERVER good1, good2, good3, good4;

-- No GUC can carry the key: the routerkeys prefix is reserved.
SET routerkeys.provisioning_key = 'rk-test-not-a-key';
SHOW routerkeys.default_server;
