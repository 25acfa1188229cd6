/**
 * A steady webhook load and a ledger of what the workflows did, for the fault scenarios
 * (test/faults). Every request carries a unique `i`; the workflow's last node calls the ledger with
 * it, so an execution that ran twice (a re-run) or never (lost) shows up by its `i`, independently
 * of what n8n wrote to PostgreSQL.
 */
import { createServer, type Server as HttpServer } from "node:http";

export interface Ledger {
  port: number;
  /** How many times each `i` reached the ledger. */
  seen: Map<string, number>;
  /** Waits (up to `timeoutMs`) until every id has reached the ledger, then counts. */
  settle(ids: string[], timeoutMs?: number): Promise<Tally>;
  close(): Promise<void>;
}

export interface Tally {
  /** Accepted but never ran. */
  lostIds: string[];
  lost: number;
  /** Ran more than once. */
  duplicated: number;
}

/** An HTTP server on loopback that counts GET /seen?i=<i>. */
export function startLedger(): Promise<Ledger> {
  const seen = new Map<string, number>();
  const server: HttpServer = createServer((req, res) => {
    const i = new URL(req.url ?? "/", "http://ledger").searchParams.get("i");
    if (i) seen.set(i, (seen.get(i) ?? 0) + 1);
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  });
  return new Promise((done) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      const tally = (ids: string[]): Tally => {
        const lostIds = ids.filter((i) => !seen.has(i));
        return { lostIds, lost: lostIds.length, duplicated: ids.filter((i) => (seen.get(i) ?? 0) > 1).length };
      };
      done({
        port,
        seen,
        async settle(ids, timeoutMs = 90_000) {
          const deadline = Date.now() + timeoutMs;
          while (Date.now() < deadline && !ids.every((i) => seen.has(i))) await new Promise((r) => setTimeout(r, 250));
          return tally(ids);
        },
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}

export interface Request {
  i: string;
  /** Milliseconds since the load started. */
  at: number;
  ok: boolean;
  why?: string;
}

export interface LoadResult {
  requests: Request[];
  accepted: string[];
  failed: Request[];
  /**
   * The longest time during which requests failed: from the last success before a failure to the
   * first success after it, in seconds (0 when nothing failed).
   */
  outageSeconds: number;
}

/** Summarises the requests of a load run. */
export function summarise(requests: Request[]): LoadResult {
  const ordered = [...requests].sort((a, b) => a.at - b.at);
  let outage = 0;
  let lastOk = 0;
  let failingSince: number | undefined;
  for (const r of ordered) {
    if (!r.ok) failingSince ??= lastOk;
    else {
      if (failingSince !== undefined) outage = Math.max(outage, r.at - failingSince);
      failingSince = undefined;
      lastOk = r.at;
    }
  }
  if (failingSince !== undefined) outage = Math.max(outage, (ordered.at(-1)?.at ?? 0) - failingSince);
  return {
    requests: ordered,
    accepted: ordered.filter((r) => r.ok).map((r) => r.i),
    failed: ordered.filter((r) => !r.ok),
    outageSeconds: outage / 1000,
  };
}

export interface Load {
  stop(): Promise<LoadResult>;
  /** Requests so far. */
  readonly requests: Request[];
}

/**
 * POSTs {"i": "<prefix>-<n>"} to `url` at a fixed rate until stopped; each request times out after
 * `timeoutMs`. A request counts as accepted on a 2xx answer.
 */
export function steadyLoad(url: string, perSecond: number, prefix: string, timeoutMs = 10_000): Load {
  const requests: Request[] = [];
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  let n = 0;
  const send = () => {
    const i = `${prefix}-${n++}`;
    const at = performance.now() - started;
    const p = fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ i }),
      signal: AbortSignal.timeout(timeoutMs),
    })
      .then(async (res) => {
        await res.arrayBuffer();
        requests.push({ i, at, ok: res.ok, ...(res.ok ? {} : { why: `HTTP ${res.status}` }) });
      })
      .catch((err: unknown) => {
        requests.push({
          i,
          at,
          ok: false,
          why: err instanceof Error ? ((err.cause as Error)?.message ?? err.message) : String(err),
        });
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  const timer = setInterval(send, 1000 / perSecond);
  return {
    requests,
    async stop() {
      clearInterval(timer);
      await Promise.all([...inFlight]);
      return summarise(requests);
    },
  };
}

/** Sends one request like the load does; true when accepted. */
export async function post(url: string, i: string): Promise<boolean> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ i }),
    signal: AbortSignal.timeout(10_000),
  }).catch(() => undefined);
  await res?.arrayBuffer();
  return res?.ok === true;
}
