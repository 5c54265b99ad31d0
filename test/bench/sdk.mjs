// sdk.mjs: the vendor-SDK client of the routerkeys benchmark: @orq-ai/node 4.15.11, the
// official generated SDK (it validates every answer against its schemas and turns times
// into Date objects), used the way its README shows.  Node's fetch keeps connections alive.
//
// Usage (the SDK comes from RK_BENCH_SDK_DIR, else test/fidelity/node_modules/orq-current):
//   node sdk.mjs get    URL ID N           N reads of one key, after one warm-up read
//   node sdk.mjs list   URL LIMIT          the whole listing, page by page, counted
//   node sdk.mjs create URL N CONC PREFIX  N creates, CONC at a time
//   node sdk.mjs report URL IDS_FILE       the listing joined with local ids, per status
//   node sdk.mjs cold   URL ID             one read (for a whole-process timing)
// Prints one line of key=value pairs, as test/bench/rawc.c does.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const sdkDir = process.env.RK_BENCH_SDK_DIR || join(here, "..", "fidelity", "node_modules", "orq-current");
const require = createRequire(import.meta.url);
const { Orq } = require(sdkDir);

const [mode, url, ...args] = process.argv.slice(2);
const orq = new Orq({
	apiKey: process.env.RK_BENCH_KEY || "rk-test-provisioning-valid",
	serverURL: url,
	timeoutMs: 30000,
});

function strip(value, prefix) {
	if (value === undefined || value === null) return null;
	return value.startsWith(prefix) ? value.slice(prefix.length).toLowerCase() : value;
}

// The same fields as routerkeys.key.
function toRow(k) {
	const owner = k.owner || {};
	return {
		id: k.id,
		name: k.name,
		active: k.active ?? (k.status ? k.status === "API_KEY_STATUS_ACTIVE" : null),
		status: strip(k.status, "API_KEY_STATUS_"),
		tokenPrefix: k.tokenPrefix ?? null,
		permissionMode: strip(k.permissionMode, "PERMISSION_MODE_"),
		projectId: k.projectScope?.single?.project_id ?? null,
		ownerType: "user" in owner ? "user" : "service_account" in owner ? "service_account" : null,
		expiresAt: k.expiration ?? null,
		createdAt: k.created ?? null,
		updatedAt: k.updated ?? null,
		lastUsedAt: k.lastUsedAt ?? null,
		createdById: k.createdById ?? null,
		updatedById: k.updatedById ?? null,
		source: k.source ?? null,
	};
}

function hwmKb() {
	const m = /VmHWM:\s*(\d+)/.exec(readFileSync("/proc/self/status", "utf8"));
	return m ? Number(m[1]) : -1;
}

async function listAll(limit, visit) {
	let count = 0;
	let cursor;
	for (let pages = 0; pages < 1000000; pages++) {
		const page = await orq.apiKeys.list({ limit, ...(cursor ? { startingAfter: cursor } : {}) });
		for (const k of page) {
			visit?.(toRow(k));
			count++;
		}
		if (page.length < limit) break;
		cursor = page[page.length - 1].id;
	}
	return count;
}

const t = () => performance.now();
// CPU time of the whole process (all threads) since c0, in ms.
const cpuSince = (c0) => {
	const c = process.cpuUsage(c0);
	return (c.user + c.system) / 1000;
};
let out;
switch (mode) {
	case "get": {
		const [id, n] = [args[0], Number(args[1])];
		await orq.apiKeys.get({ apiKeyId: id });
		let found = 0;
		const c0 = process.cpuUsage();
		const t0 = t();
		for (let i = 0; i < n; i++) {
			const row = toRow(await orq.apiKeys.get({ apiKeyId: id }));
			if (row.id) found++;
		}
		const ms = t() - t0;
		out = { ms, count: found, us_per_call: (ms * 1000) / n, cpu_ms: cpuSince(c0) };
		break;
	}
	case "list": {
		const limit = Number(args[0]);
		const h0 = hwmKb();
		const c0 = process.cpuUsage();
		const t0 = t();
		const count = await listAll(limit);
		const ms = t() - t0;
		const cpu_ms = cpuSince(c0);
		const h1 = hwmKb();
		out = { ms, count, hwm_kb: h1, hwm_growth_kb: h1 - h0, cpu_ms };
		break;
	}
	case "create": {
		const [n, conc, prefix] = [Number(args[0]), Number(args[1]), args[2]];
		let next = 0;
		let created = 0;
		const worker = async () => {
			while (next < n) {
				const i = next++;
				const k = await orq.apiKeys.create({ name: `${prefix}${i}` });
				if (k.token && toRow(k).id) created++;
			}
		};
		const c0 = process.cpuUsage();
		const t0 = t();
		await Promise.all(Array.from({ length: conc }, worker));
		out = { ms: t() - t0, count: created, cpu_ms: cpuSince(c0) };
		break;
	}
	case "report": {
		const ids = readFileSync(args[0], "utf8").split("\n").filter(Boolean);
		const c0 = process.cpuUsage();
		const t0 = t();
		const byId = new Map();
		await listAll(200, (row) => byId.set(row.id, row.status));
		const perStatus = {};
		let joined = 0;
		for (const id of ids) {
			const status = byId.get(id);
			if (status !== undefined) {
				perStatus[status] = (perStatus[status] || 0) + 1;
				joined++;
			}
		}
		out = { ms: t() - t0, count: joined, cpu_ms: cpuSince(c0), ...perStatus };
		break;
	}
	case "cold": {
		const row = toRow(await orq.apiKeys.get({ apiKeyId: args[0] }));
		out = { count: row.id ? 1 : 0 };
		break;
	}
	default:
		console.error(`usage: node sdk.mjs get|list|create|report|cold URL ...`);
		process.exit(2);
}
console.log(Object.entries(out).map(([k, v]) => `${k}=${typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : v}`).join(" "));
