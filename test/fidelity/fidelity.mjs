// Fidelity check: drives the stub of the provisioning API through the vendor's official SDK,
// @orq-ai/node, in the two versions that speak the two response generations of
// shared/API.md: 4.15.11 against the stub's "current" generation and 4.11.10 against its
// "legacy" one. The SDK validates every answer against its generated schemas, so a shape
// the real service would not send shows up here as a ResponseValidationError: any such
// error, and any unexpected value, fails the check it happens in.
//
// Usage: RK_STUB_URL=http://127.0.0.1:PORT node fidelity.mjs  (run.sh installs the SDKs)
// Prints TAP, the plan first; exits 0 only when every check passes. Resets the stub when it
// starts and leaves it reset, in the current generation, with no fault armed.

import { Orq as OrqCurrent } from "orq-current";
import * as errorsCurrent from "orq-current/models/errors/index.js";
import { Orq as OrqLegacy } from "orq-legacy";
import * as errorsLegacy from "orq-legacy/models/errors/index.js";

const STUB = process.env.RK_STUB_URL;
if (!STUB) {
	console.log("1..1\nnot ok 1 - RK_STUB_URL is not set");
	process.exit(1);
}
const VALID = "rk-test-provisioning-valid";
const DISABLED = "rk-test-provisioning-disabled";
const REVOKED = "rk-test-provisioning-revoked";
const WRONG = "rk-test-provisioning-not-a-key";
const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
const DAY = 86400 * 1000;

const lines = [];
let count = 0;
let failures = 0;

function pass(desc) {
	lines.push(`ok ${++count} - ${desc}`);
}

function fail(desc, diag) {
	failures++;
	lines.push(`not ok ${++count} - ${desc}`);
	for (const d of String(diag).slice(0, 3000).split("\n")) {
		lines.push(`#   ${d}`);
	}
}

// Prints the plan, then the results collected so far.
function finish() {
	process.stdout.write(`1..${count}\n${lines.join("\n")}\n`);
}

class Unexpected extends Error {}

function assert(cond, what) {
	if (!cond) {
		throw new Unexpected(what);
	}
}

function show(v) {
	return JSON.stringify(v, (k, x) => (typeof x === "bigint" ? String(x) : x));
}

// Describes an error thrown by an SDK call, naming its class and, for validation errors,
// the raw answer and the schema complaint.
function describe(e) {
	if (e instanceof Unexpected) {
		return e.message;
	}
	const parts = [`${e?.name ?? typeof e}: ${e?.message ?? e}`];
	if (typeof e?.pretty === "function") {
		parts.push(e.pretty());
	}
	if (e?.rawValue !== undefined) {
		parts.push(`raw value: ${show(e.rawValue).slice(0, 1500)}`);
	}
	if (e?.body) {
		parts.push(`body: ${String(e.body).slice(0, 500)}`);
	}
	return parts.join("\n");
}

async function check(desc, fn) {
	try {
		await fn();
		pass(desc);
	} catch (e) {
		fail(desc, describe(e));
	}
}

// expectError(promise, errors, status): the SDK call fails with its documented HTTP error
// class (APIError, an OrqError) carrying the status, and not with a validation error.
async function expectError(promise, errors, status, bodyHas) {
	let result;
	try {
		result = await promise;
	} catch (e) {
		assert(!(e instanceof errors.ResponseValidationError) && !(e instanceof errors.SDKValidationError),
			`expected an APIError ${status}, got a validation error: ${describe(e)}`);
		assert(e instanceof errors.APIError && e instanceof errors.OrqError,
			`expected an APIError ${status}, got ${describe(e)}`);
		assert(e.statusCode === status, `expected status ${status}, got ${e.statusCode}: ${e.body}`);
		if (bodyHas) {
			assert(String(e.body).includes(bodyHas), `expected "${bodyHas}" in the error body: ${e.body}`);
		}
		return e;
	}
	throw new Unexpected(`expected an APIError ${status}, the call succeeded: ${show(result)}`);
}

async function admin(method, path, body) {
	const res = await fetch(STUB + path, {
		method,
		headers: body === undefined ? {} : { "content-type": "application/json" },
		body: body === undefined ? undefined : JSON.stringify(body),
		signal: AbortSignal.timeout(10000),
	});
	const text = await res.text();
	if (res.status >= 300) {
		throw new Unexpected(`admin ${method} ${path} -> ${res.status} ${text}`);
	}
	return text ? JSON.parse(text) : {};
}

async function apiLog() {
	const log = await admin("GET", "/__admin/log");
	return log.entries.filter((e) => e.path.startsWith("/v2/"));
}

function client(Orq, apiKey, extra = {}) {
	return new Orq({ apiKey, serverURL: STUB, timeoutMs: 10000, ...extra });
}

function sameSecond(a, b) {
	return a instanceof Date && b instanceof Date && Math.floor(a.getTime() / 1000) === Math.floor(b.getTime() / 1000);
}

function recent(d) {
	return d instanceof Date && !isNaN(d) && Math.abs(Date.now() - d.getTime()) < 10 * 60 * 1000;
}

// What the two generations look like through their SDK versions, reduced to one form.
const GENERATIONS = [
	{
		gen: "current",
		sdk: "4.15.11",
		Orq: OrqCurrent,
		errors: errorsCurrent,
		created: (r) => ({ key: r, token: r.token }),
		one: (r) => r,
		page: (r) => ({ keys: r, hasMore: undefined }),
		id: (k) => k.id,
		createdAt: (k) => k.created,
		expiry: (k) => k.expiration,
		isActive: (k) => k.active === true && k.status === "API_KEY_STATUS_ACTIVE",
		isDisabled: (k) => k.active === false && k.status === "API_KEY_STATUS_DISABLED",
		deleted: (r) => r === undefined,
		readLevel: "ACCESS_LEVEL_READ",
	},
	{
		gen: "legacy",
		sdk: "4.11.10",
		Orq: OrqLegacy,
		errors: errorsLegacy,
		created: (r) => ({ key: r.apiKey, token: r.token }),
		one: (r) => r.apiKey,
		page: (r) => ({ keys: r.data, hasMore: r.hasMore, object: r.object }),
		id: (k) => k.apiKeyId,
		createdAt: (k) => k.createdAt,
		expiry: (k) => k.expiresAt,
		isActive: (k) => k.status === "API_KEY_STATUS_ACTIVE" && !("active" in k),
		isDisabled: (k) => k.status === "API_KEY_STATUS_DISABLED",
		deleted: (r) => r && typeof r === "object" && Object.keys(r).length === 0,
		readLevel: 1,
	},
];

async function generationChecks(G, workspaceIds) {
	const tag = `${G.gen} (SDK ${G.sdk})`;
	const sdk = client(G.Orq, VALID);
	const names = ["a", "b", "c", "d", "e"].map((x) => `fid-${G.gen}-${x}`);
	const ids = [];
	let token;

	await check(`${tag}: stub reset and switched to the ${G.gen} generation`, async () => {
		await admin("POST", "/__admin/reset");
		await admin("POST", "/__admin/config", { generation: G.gen, latency_ms: 0 });
		const state = await admin("GET", "/__admin/state");
		assert(state.generation === G.gen, `state.generation is ${state.generation}`);
	});

	await check(`${tag}: apiKeys.create returns the new key with its name and one-time token`, async () => {
		const r = G.created(await sdk.apiKeys.create({ name: names[0] }));
		const id = G.id(r.key);
		ids.push(id);
		token = r.token;
		assert(ULID.test(id), `id ${id} is not a ULID`);
		assert(r.key.name === names[0], `name ${r.key.name}`);
		assert(typeof token === "string" && token.startsWith(`sk-orq-${id}-`) && token.length > `sk-orq-${id}-`.length,
			`token ${token} is not sk-orq-<id>-<secret>`);
		assert(G.isActive(r.key), `not active: ${show(r.key)}`);
		assert(recent(G.createdAt(r.key)), `creation time ${G.createdAt(r.key)}`);
		assert(typeof r.key.tokenPrefix === "string" && token.startsWith(r.key.tokenPrefix),
			`token_prefix ${r.key.tokenPrefix}`);
	});

	await check(`${tag}: apiKeys.get returns the same key, the secret masked`, async () => {
		const k = G.one(await sdk.apiKeys.get({ apiKeyId: ids[0] }));
		assert(G.id(k) === ids[0] && k.name === names[0], `got ${show(k)}`);
		const secret = token.slice(`sk-orq-${ids[0]}-`.length);
		assert(!show(k).includes(secret), `the secret came back: ${show(k)}`);
		assert(G.isActive(k), `not active: ${show(k)}`);
	});

	await check(`${tag}: apiKeys.list pages newest first with limit and startingAfter`, async () => {
		for (const name of names.slice(1)) {
			await new Promise((r) => setTimeout(r, 5));
			ids.push(G.id(G.created(await sdk.apiKeys.create({ name })).key));
		}
		const seen = [];
		const hasMore = [];
		let cursor;
		for (let pages = 0; pages < 10; pages++) {
			const p = G.page(await sdk.apiKeys.list({ limit: 2, ...(cursor ? { startingAfter: cursor } : {}) }));
			if (G.gen === "legacy") {
				assert(p.object === "list", `object is ${p.object}`);
			}
			hasMore.push(p.hasMore);
			seen.push(...p.keys.map((k) => G.id(k)));
			if (p.keys.length < 2) {
				break;
			}
			cursor = G.id(p.keys[p.keys.length - 1]);
		}
		const expected = [...ids].reverse();
		assert(show(seen) === show(expected), `walk ${show(seen)}, expected ${show(expected)}`);
		if (G.gen === "legacy") {
			assert(show(hasMore) === show([true, true, false]), `has_more along the walk: ${show(hasMore)}`);
		}
		const log = (await apiLog()).filter((e) => e.method === "GET" && e.path === "/v2/api-keys");
		const last = log[log.length - 1];
		assert(last && last.auth === "valid" && /(^|&)limit=2(&|$)/.test(last.query) &&
			last.query.includes(`starting_after=${ids[1]}`), `the SDK's last list request was logged as ${show(last)}`);
	});

	await check(`${tag}: apiKeys.list passes search and status filters`, async () => {
		const p = G.page(await sdk.apiKeys.list({ search: names[2].toUpperCase() }));
		assert(show(p.keys.map((k) => G.id(k))) === show([ids[2]]), `search gave ${show(p.keys)}`);
		const all = G.page(await sdk.apiKeys.list({ status: "API_KEY_STATUS_ACTIVE", limit: 10 }));
		assert(all.keys.length === 5, `${all.keys.length} active keys`);
	});

	await check(`${tag}: apiKeys.update renames and disables (sparse), and get sees it`, async () => {
		const k = G.one(await sdk.apiKeys.update({
			apiKeyId: ids[1],
			updateApiKeyRequest: { name: `${names[1]}-renamed`, status: "API_KEY_STATUS_DISABLED" },
		}));
		assert(G.id(k) === ids[1] && k.name === `${names[1]}-renamed`, `got ${show(k)}`);
		assert(G.isDisabled(k), `not disabled: ${show(k)}`);
		assert(k.permissionMode === "PERMISSION_MODE_ALL", `permission mode ${k.permissionMode}`);
		const again = G.one(await sdk.apiKeys.get({ apiKeyId: ids[1] }));
		assert(again.name === `${names[1]}-renamed` && G.isDisabled(again), `get gave ${show(again)}`);
		const only = G.one(await sdk.apiKeys.update({
			apiKeyId: ids[1],
			updateApiKeyRequest: { status: "API_KEY_STATUS_ACTIVE" },
		}));
		assert(only.name === `${names[1]}-renamed` && G.isActive(only), `status-only update gave ${show(only)}`);
		const p = G.page(await sdk.apiKeys.list({ status: "API_KEY_STATUS_DISABLED" }));
		assert(p.keys.length === 0, `disabled keys left: ${show(p.keys)}`);
	});

	await check(`${tag}: apiKeys.update sets expiresAt, then clearExpiresAt removes it`, async () => {
		const when = new Date(Date.now() + 30 * DAY);
		const k = G.one(await sdk.apiKeys.update({ apiKeyId: ids[2], updateApiKeyRequest: { expiresAt: when } }));
		assert(sameSecond(G.expiry(k), when), `expiry ${G.expiry(k)}, expected ${when.toISOString()}`);
		assert(k.name === names[2], `name ${k.name}`);
		const c = G.one(await sdk.apiKeys.update({ apiKeyId: ids[2], updateApiKeyRequest: { clearExpiresAt: true } }));
		assert(G.expiry(c) === undefined, `expiry still ${G.expiry(c)}`);
		const both = sdk.apiKeys.update({
			apiKeyId: ids[2],
			updateApiKeyRequest: { expiresAt: when, clearExpiresAt: true },
		});
		await expectError(both, G.errors, 400);
	});

	await check(`${tag}: apiKeys.create with expiresAt and a project scope round-trips`, async () => {
		const when = new Date(Date.now() + 7 * DAY);
		const r = G.created(await sdk.apiKeys.create({
			name: `fid-${G.gen}-scoped`,
			expiresAt: when,
			projectScope: { single: { projectId: "proj-7" } },
		}));
		assert(sameSecond(G.expiry(r.key), when), `expiry ${G.expiry(r.key)}`);
		assert(r.key.projectScope?.single?.projectId === "proj-7" || r.key.projectScope?.single?.project_id === "proj-7",
			`project scope ${show(r.key.projectScope)}`);
		const p = G.page(await sdk.apiKeys.list({ projectId: "proj-7" }));
		assert(p.keys.length === 1 && p.keys[0].name === `fid-${G.gen}-scoped`, `project filter gave ${show(p.keys)}`);
		await sdk.apiKeys.delete({ apiKeyId: G.id(r.key) });
	});

	await check(`${tag}: apiKeys.create RESTRICTED with an access map round-trips through create, get and list`, async () => {
		const r = G.created(await sdk.apiKeys.create({
			name: `fid-${G.gen}-restricted`,
			permissionMode: "PERMISSION_MODE_RESTRICTED",
			access: { deployments: G.readLevel },
		}));
		assert(r.key.permissionMode === "PERMISSION_MODE_RESTRICTED", `mode ${r.key.permissionMode}`);
		assert(r.key.access?.deployments === G.readLevel, `access ${show(r.key.access)}`);
		const k = G.one(await sdk.apiKeys.get({ apiKeyId: G.id(r.key) }));
		assert(k.access?.deployments === G.readLevel, `get: access ${show(k.access)}`);
		const p = G.page(await sdk.apiKeys.list({ search: `fid-${G.gen}-restricted` }));
		assert(p.keys.length === 1 && p.keys[0].access?.deployments === G.readLevel, `list: ${show(p.keys)}`);
		await sdk.apiKeys.delete({ apiKeyId: G.id(r.key) });
	});

	await check(`${tag}: apiKeys.delete succeeds and the key is then gone (404 as APIError)`, async () => {
		const r = await sdk.apiKeys.delete({ apiKeyId: ids[0] });
		assert(G.deleted(r), `delete returned ${show(r)}`);
		await expectError(sdk.apiKeys.get({ apiKeyId: ids[0] }), G.errors, 404);
		await expectError(sdk.apiKeys.delete({ apiKeyId: ids[0] }), G.errors, 404);
		await expectError(sdk.apiKeys.update({ apiKeyId: ids[0], updateApiKeyRequest: { name: "x" } }), G.errors, 404);
		const p = G.page(await sdk.apiKeys.list({ limit: 50 }));
		assert(!p.keys.some((k) => G.id(k) === ids[0]), `still listed`);
	});

	await check(`${tag}: a wrong or disabled provisioning key is a 401 APIError, a revoked one 403`, async () => {
		await expectError(client(G.Orq, WRONG).apiKeys.list({}), G.errors, 401, "invalid_api_key");
		await expectError(client(G.Orq, DISABLED).apiKeys.get({ apiKeyId: ids[1] }), G.errors, 401);
		await expectError(client(G.Orq, REVOKED).apiKeys.list({}), G.errors, 403);
	});

	await check(`${tag}: duplicate name (409), past expiry (400) and RESTRICTED without access (400) are APIErrors`, async () => {
		await expectError(sdk.apiKeys.create({ name: names[2] }), G.errors, 409);
		await expectError(sdk.apiKeys.create({ name: `fid-${G.gen}-past`, expiresAt: new Date(Date.now() - DAY) }),
			G.errors, 400);
		await expectError(sdk.apiKeys.create({ name: `fid-${G.gen}-r`, permissionMode: "PERMISSION_MODE_RESTRICTED" }),
			G.errors, 400);
	});

	await check(`${tag}: workspace keys are out of reach (403 APIError)`, async () => {
		assert(workspaceIds.length === 3, `the admin state names ${workspaceIds.length} workspace keys`);
		for (const w of workspaceIds) {
			await expectError(sdk.apiKeys.get({ apiKeyId: w }), G.errors, 403, "forbidden");
			await expectError(sdk.apiKeys.delete({ apiKeyId: w }), G.errors, 403);
		}
	});

	await check(`${tag}: gateway failures (HTML 502, empty 503, plain 500) are APIErrors with their status`, async () => {
		await admin("POST", "/__admin/faults",
			{ method: "GET", path: "/v2/api-keys/", count: 1, kind: "status", status: 502, error_form: "html" });
		await expectError(sdk.apiKeys.get({ apiKeyId: ids[1] }), G.errors, 502);
		await admin("POST", "/__admin/faults",
			{ method: "GET", path: "/v2/api-keys", count: 1, kind: "status", status: 503, error_form: "empty" });
		await expectError(sdk.apiKeys.list({}), G.errors, 503);
		await admin("POST", "/__admin/faults",
			{ method: "PATCH", path: "/v2/api-keys/", count: 1, kind: "status", status: 500, error_form: "plain", message: "x" });
		await expectError(sdk.apiKeys.update({ apiKeyId: ids[1], updateApiKeyRequest: { name: "y" } }), G.errors, 500);
		await admin("DELETE", "/__admin/faults");
		const k = G.one(await sdk.apiKeys.get({ apiKeyId: ids[1] }));
		assert(k.name === `${names[1]}-renamed`, `the failed PATCH changed the key: ${show(k)}`);
	});

	await check(`${tag}: the wrong_types and truncate faults are answers the SDK rejects`, async () => {
		await admin("POST", "/__admin/faults", { method: "GET", path: "/v2/api-keys/", count: 1, kind: "wrong_types" });
		let outcome = "succeeded";
		try {
			outcome = `succeeded with ${show(await sdk.apiKeys.get({ apiKeyId: ids[1] }))}`;
		} catch (e) {
			outcome = e instanceof G.errors.ResponseValidationError ? "rejected" : describe(e);
		}
		assert(outcome === "rejected", `wrong_types: expected a ResponseValidationError, the call ${outcome}`);
		await admin("POST", "/__admin/faults", { method: "GET", path: "/v2/api-keys", count: 1, kind: "truncate" });
		let truncated = "succeeded";
		try {
			truncated = `succeeded with ${show(await sdk.apiKeys.list({}))}`;
		} catch (e) {
			truncated = "rejected";
		}
		assert(truncated === "rejected", `truncate: the call ${truncated}`);
	});

	await check(`${tag}: an oversized (2 MB) list answer is still one the SDK accepts`, async () => {
		await admin("POST", "/__admin/faults",
			{ method: "GET", path: "/v2/api-keys", count: 1, kind: "oversized", bytes: 2000000 });
		const p = G.page(await sdk.apiKeys.list({ limit: 10 }));
		assert(Array.isArray(p.keys) && p.keys.length > 0, `keys ${show(p.keys).slice(0, 200)}`);
		assert(p.keys.every((k) => typeof k.name === "string" && ULID.test(G.id(k))), `odd keys in the big answer`);
	});

	await check(`${tag}: the SDK's own retry rides over one 503 (Retry-After 0) on get`, async () => {
		await admin("DELETE", "/__admin/log");
		await admin("POST", "/__admin/faults", {
			method: "GET", path: "/v2/api-keys/", count: 1, kind: "status", status: 503,
			error_form: "object", message: "busy", retry_after: "0",
		});
		const retrying = client(G.Orq, VALID, {
			retryConfig: {
				strategy: "backoff",
				backoff: { initialInterval: 20, maxInterval: 100, exponent: 1.5, maxElapsedTime: 3000 },
				retryConnectionErrors: true,
			},
		});
		const k = G.one(await retrying.apiKeys.get({ apiKeyId: ids[1] }));
		assert(G.id(k) === ids[1], `got ${show(k)}`);
		const log = await apiLog();
		assert(show(log.map((e) => e.status)) === show([503, 200]), `log statuses ${show(log.map((e) => e.status))}`);
	});
}

async function main() {
	const watchdog = setTimeout(() => {
		fail("the fidelity run finished within 100 s", "timed out");
		finish();
		process.exit(1);
	}, 100000);
	let workspaceIds = [];
	try {
		await admin("POST", "/__admin/reset");
		const state = await admin("GET", "/__admin/state");
		const named = state.workspace_key_ids ?? state.workspace_keys;
		if (Array.isArray(named)) {
			workspaceIds = named.map((w) => (typeof w === "object" ? w.id ?? w.api_key_id : w));
		}
	} catch (e) {
		fail("the stub answers its admin endpoints", describe(e));
	}
	for (const G of GENERATIONS) {
		await generationChecks(G, workspaceIds);
	}
	try {
		await admin("DELETE", "/__admin/faults");
		await admin("POST", "/__admin/config", { generation: "current", latency_ms: 0 });
		await admin("POST", "/__admin/reset");
	} catch (e) {
		fail("the stub is restored to the current generation", describe(e));
	}
	clearTimeout(watchdog);
	finish();
	process.exit(failures === 0 ? 0 : 1);
}

main().catch((e) => {
	fail("the fidelity run did not crash", describe(e));
	finish();
	process.exit(1);
});
