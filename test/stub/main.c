/*-------------------------------------------------------------------------
 *
 * main.c
 *		rkstub's entry point: command-line options, start-up, the
 *		"listening on" line and port file, and a clean exit on SIGTERM or
 *		SIGINT.
 *
 * Usage:
 *	  rkstub [--host 127.0.0.1] [--port N] [--port-file PATH]
 *			 [--generation current|legacy] [--latency-ms N]
 *			 [--tls-cert FILE --tls-key FILE] [--quiet]
 *			 [--key valid=TOKEN] [--key disabled=TOKEN] [--key revoked=TOKEN]
 *
 * The signals are blocked before any thread starts and taken with
 * sigwait() here, so no handler ever runs inside a server thread; they
 * stop the stub during a down period too (POST /__admin/down: http.c).
 * The certificate and key are read into memory and freed at exit.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "rkstub.h"

bool		rk_quiet = false;

/* Options as given on the command line. */
typedef struct Options
{
	const char *host;
	int			port;
	const char *port_file;
	RkGeneration generation;
	int			latency_ms;
	const char *tls_cert;
	const char *tls_key;
} Options;

/* Print usage to stream. */
static void
usage(FILE *stream)
{
	fprintf(stream,
			"usage: rkstub [--host 127.0.0.1] [--port N] [--port-file PATH]\n"
			"              [--generation current|legacy] [--latency-ms N]\n"
			"              [--tls-cert FILE --tls-key FILE] [--quiet]\n"
			"              [--key valid=TOKEN] [--key disabled=TOKEN] [--key revoked=TOKEN]\n");
}

/* Print an error and the usage, then exit with status 2. */
static void
die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "rkstub: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	usage(stderr);
	exit(2);
}

/* Parse a non-negative decimal integer up to max, or exit. */
static int
parse_number(const char *s, long max, const char *what)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max)
		die_usage(what, s);
	return (int) v;
}

/* Register a --key STATE=TOKEN option, or exit. */
static void
add_key_option(const char *arg)
{
	const char *eq = strchr(arg, '=');
	RkAuth		state;

	if (eq == NULL || eq[1] == '\0')
		die_usage("--key takes STATE=TOKEN, got \"%s\"", arg);
	if (strncmp(arg, "valid=", 6) == 0)
		state = RK_AUTH_VALID;
	else if (strncmp(arg, "disabled=", 9) == 0)
		state = RK_AUTH_DISABLED;
	else if (strncmp(arg, "revoked=", 8) == 0)
		state = RK_AUTH_REVOKED;
	else
		die_usage("--key state must be valid, disabled or revoked, got \"%s\"", arg);
	rk_config_add_key(state, eq + 1);
}

/* Parse the command line into opts (and the key table), or exit. */
static void
parse_options(int argc, char **argv, Options *opts)
{
	static const struct option longopts[] = {
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"port-file", required_argument, NULL, 'f'},
		{"generation", required_argument, NULL, 'g'},
		{"latency-ms", required_argument, NULL, 'l'},
		{"tls-cert", required_argument, NULL, 'c'},
		{"tls-key", required_argument, NULL, 'k'},
		{"quiet", no_argument, NULL, 'q'},
		{"key", required_argument, NULL, 'K'},
		{"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	memset(opts, 0, sizeof(*opts));
	opts->host = "127.0.0.1";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1)
	{
		switch (c)
		{
			case 'h':
				opts->host = optarg;
				break;
			case 'p':
				opts->port = parse_number(optarg, 65535, "invalid --port \"%s\"");
				break;
			case 'f':
				opts->port_file = optarg;
				break;
			case 'g':
				if (!rk_generation_parse(optarg, &opts->generation))
					die_usage("--generation must be current or legacy, got \"%s\"", optarg);
				break;
			case 'l':
				opts->latency_ms = parse_number(optarg, 600000, "invalid --latency-ms \"%s\"");
				break;
			case 'c':
				opts->tls_cert = optarg;
				break;
			case 'k':
				opts->tls_key = optarg;
				break;
			case 'q':
				rk_quiet = true;
				break;
			case 'K':
				add_key_option(optarg);
				break;
			default:
				usage(stderr);
				exit(2);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument \"%s\"", argv[optind]);
	if ((opts->tls_cert == NULL) != (opts->tls_key == NULL))
		die_usage("%s", "--tls-cert and --tls-key go together");
}

/* Read a whole file into a NUL-terminated string, or exit. */
static char *
read_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf = NULL;
	size_t		len = 0;
	size_t		cap = 0;
	size_t		n;

	if (f == NULL)
	{
		fprintf(stderr, "rkstub: could not open \"%s\": %s\n", path, strerror(errno));
		exit(1);
	}
	do
	{
		if (len + 4096 + 1 > cap)
		{
			cap = (len + 4096 + 1) * 2;
			buf = rk_xrealloc(buf, cap);
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* Write "PORT\n" to path atomically (temporary file, then rename). */
static void
write_port_file(const char *path, int port)
{
	size_t		len = strlen(path) + 16;
	char	   *tmp = rk_xmalloc(len);
	FILE	   *f;

	snprintf(tmp, len, "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 ||
		rename(tmp, path) != 0)
	{
		fprintf(stderr, "rkstub: could not write port file \"%s\": %s\n",
				path, strerror(errno));
		exit(1);
	}
	free(tmp);
}

/* Start the stub, serve until SIGTERM or SIGINT, then shut down cleanly. */
int
main(int argc, char **argv)
{
	Options		opts;
	sigset_t	sigs;
	char	   *cert = NULL;
	char	   *key = NULL;
	int			port = 0;
	int			sig = 0;
	bool		ipv6;

	parse_options(argc, argv, &opts);
	if (!rk_config_has_keys())
	{
		rk_config_add_key(RK_AUTH_VALID, "rk-test-provisioning-valid");
		rk_config_add_key(RK_AUTH_DISABLED, "rk-test-provisioning-disabled");
		rk_config_add_key(RK_AUTH_REVOKED, "rk-test-provisioning-revoked");
	}
	if (opts.tls_cert)
	{
		cert = read_file(opts.tls_cert);
		key = read_file(opts.tls_key);
	}
	rk_config_init(opts.generation, opts.latency_ms);
	rk_random_init();
	rk_store_init();
	rk_log_init();

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	if (!rk_http_start(opts.host, opts.port, cert, key, &port))
		return 1;
	if (opts.port_file)
		write_port_file(opts.port_file, port);
	ipv6 = strchr(opts.host, ':') != NULL;
	printf("listening on %s%s%s:%d%s\n", ipv6 ? "[" : "",
		   strcmp(opts.host, "localhost") == 0 ? "127.0.0.1" : opts.host,
		   ipv6 ? "]" : "", port, cert ? " (https)" : "");
	fflush(stdout);

	sigwait(&sigs, &sig);
	if (!rk_quiet)
		fprintf(stderr, "rkstub: signal %d, shutting down\n", sig);
	rk_http_stop();
	rk_faults_clear();
	rk_log_free();
	rk_store_free();
	rk_config_free();
	free(cert);
	free(key);
	return 0;
}
