# routerkeys: PGXS build, plus the test bed commands (deps, stub, test, demo, bench).

EXTENSION = routerkeys
MODULE_big = routerkeys
OBJS = \
	src/routerkeys.o \
	src/options.o \
	src/json.o \
	src/dialect_orq.o \
	src/http.o \
	src/errors.o \
	src/rows.o \
	src/keys.o \
	src/followup.o \
	src/xact.o \
	src/reconcile.o \
	src/outbox.o \
	src/worker.o \
	src/functions.o \
	src/fdw.o
DATA = $(wildcard sql/routerkeys--*.sql)
PGFILEDESC = "routerkeys - Router API keys of an AI Router as SQL objects"

PG_CONFIG ?= pg_config

# Dependencies are appended, never replacing what PGXS puts in CFLAGS; before `make deps`
# has installed them, their configuration tools are quietly missing.
PG_CPPFLAGS += $(shell curl-config --cflags 2>/dev/null) $(shell pkg-config --cflags json-c 2>/dev/null)
# -Wno-unused-parameter: PostgreSQL's own headers and callback signatures need it.
# Warnings are errors only where RK_WERROR=1 (CI, developers): a newer compiler's new
# warning must never break a user's make install.
PG_CFLAGS += -Wall -Wextra -Wno-unused-parameter
ifeq ($(RK_WERROR),1)
PG_CFLAGS += -Werror
endif
SHLIB_LINK += $(shell curl-config --libs 2>/dev/null) $(shell pkg-config --libs json-c 2>/dev/null)

EXTRA_CLEAN = test/stub/rkstub results regression.diffs regression.out
# PGXS's installcheck knows nothing of the stub: ours (below) starts it.
NO_INSTALLCHECK = 1

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifeq ($(PGXS),)
# Without pg_config only the test bed targets work: they install what is missing.
all install:
	@echo "pg_config not found: run 'make deps' first" >&2; exit 1
else
include $(PGXS)
endif

# PGXS knows nothing of headers: every object depends on the project's own.
$(OBJS): src/routerkeys.h src/json.h

# The stub of the provisioning API used by the tests, the demo and the benchmark.
STUB_SRCS = $(wildcard test/stub/*.c)
STUB_HDRS = $(wildcard test/stub/*.h)

stub: test/stub/rkstub

test/stub/rkstub: $(STUB_SRCS) $(STUB_HDRS)
	$(CC) -O2 -g -Wall -Wextra -Werror -std=gnu11 -o $@ $(STUB_SRCS) \
		$(shell pkg-config --cflags --libs libmicrohttpd json-c) -lpthread

deps:
	PG_CONFIG=$(PG_CONFIG) test/deps.sh

test: deps
	$(MAKE) all stub
	test/run.sh test

# The pg_regress suite against the running server that PG_CONFIG, PGHOST, PGPORT and PGUSER
# name (a superuser; the server on this machine, with routerkeys installed), the stub
# started for the run, as other extensions' installcheck does.
installcheck: stub
	test/run.sh installcheck

demo: deps
	$(MAKE) all stub
	test/run.sh demo

bench:
	PG_CONFIG=$(PG_CONFIG) test/deps.sh --bench
	$(MAKE) all stub
	test/run.sh bench

# The libFuzzer harness of the response parser (not part of make test, which only
# replays its seeds): FUZZ_SECONDS bounds the run.
FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) -C test/fuzz run FUZZ_SECONDS=$(FUZZ_SECONDS)

.PHONY: stub deps test installcheck demo bench fuzz
