#!/usr/bin/env bash
# TAP suite: what a release promises. META.json has what PGXN's META spec 1.0.0 requires,
# with the version of routerkeys.control (as semver), of the C library and of CHANGELOG.md;
# every version has its install script and an upgrade path from 0.1; a user's plain make
# builds with no -Werror, which only RK_WERROR=1 adds. Reads files only; no server.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
n=0
failed=0
# shellcheck source=common.bash
. "$(dirname "$0")/common.bash"

echo "1..6"

control=$(sed -n "s/^default_version = '\(.*\)'/\1/p" routerkeys.control)
library=$(sed -n 's/^#define ROUTERKEYS_VERSION "\(.*\)"/\1/p' src/routerkeys.h)
problems=$(python3 - "$control" <<'PY'
import json, re, sys
control = sys.argv[1]
meta = json.load(open("META.json"))
problems = []
for key in ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec"):
    if key not in meta:
        problems.append("no " + key)
semver = re.compile(r"^\d+\.\d+\.\d+$")
if not semver.match(meta.get("version", "")):
    problems.append("version is not semver")
if meta.get("version") != control + ".0":
    problems.append("version %s is not the control file's %s" % (meta.get("version"), control))
if meta.get("license") != "postgresql":
    problems.append("license is not postgresql")
if meta.get("meta-spec", {}).get("version") != "1.0.0":
    problems.append("meta-spec is not 1.0.0")
for ext, p in meta.get("provides", {}).items():
    for key in ("file", "version"):
        if key not in p:
            problems.append("provides.%s has no %s" % (ext, key))
    if p.get("version") != meta.get("version"):
        problems.append("provides.%s.version differs" % ext)
    try:
        open(p.get("file", ""))
    except OSError:
        problems.append("provides.%s.file does not exist" % ext)
for phase in meta.get("prereqs", {}).values():
    for rel in phase.values():
        for name, v in rel.items():
            if not semver.match(v) and v != "0":
                problems.append("prereq %s is not semver" % name)
print("; ".join(problems))
PY
)
[ -z "$problems" ]
ok $? "META.json has every key the spec requires, version ${control}.0 (${problems:-no problems})"

[ "$library" = "$control" ]
ok $? "the C library's version ($library) is the control file's ($control)"

grep -q "^## $control\b" CHANGELOG.md
ok $? "CHANGELOG.md has a section for $control"

[ -f "sql/routerkeys--$control.sql" ]
ok $? "sql/routerkeys--$control.sql installs the default version"

# Every script version is reachable from 0.1 through upgrade scripts.
path_ok=0
for script in sql/routerkeys--*.sql; do
    v=${script#sql/routerkeys--}
    v=${v%.sql}
    case "$v" in *--*) continue ;; esac
    [ "$v" = 0.1 ] && continue
    ls sql/routerkeys--*--"$v".sql >/dev/null 2>&1 || { path_ok=1; echo "# no upgrade script to $v"; }
done
ok $path_ok "every version has an upgrade script to it"

# make -n prints the compiler lines without building anything.
plain=$(env -u RK_WERROR -u MAKEFLAGS -u MAKELEVEL make -n -B src/keys.o 2>/dev/null | grep -cE -- '-Werror( |$)' || true)
strict=$(env -u RK_WERROR -u MAKEFLAGS -u MAKELEVEL make -n -B RK_WERROR=1 src/keys.o 2>/dev/null | grep -cE -- '-Werror( |$)' || true)
[ "$plain" = 0 ] && [ "$strict" -gt 0 ]
ok $? "a plain make compiles without -Werror ($plain lines), RK_WERROR=1 with it ($strict)"

[ "$failed" -eq 0 ]
