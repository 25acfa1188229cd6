/**
 * The Gateway edge for real: the rendered Gateway, HTTPRoutes and Envoy Gateway policies go to the
 * engine loop's API server (Gateway API v1.6.1 Standard CRDs and Envoy Gateway v1.9.1's CRDs, with
 * their CEL rules), Envoy Gateway reads them from there and programs a real Envoy 1.39.1, and real
 * n8n main, webhook processor and worker (the rendered env and args, on loopback) answer behind it.
 *
 * Why Envoy Gateway: its policy objects are what the program renders for the limits (allowlist,
 * rate limit, body size), and its Host infrastructure runs Envoy as a process, so the whole path is
 * the real implementation; the proxy's own access log says which backend served each request.
 *
 * Stand-ins, all test-side: the TLS Secret n8n-tls is a self-signed certificate written by the test
 * where cert-manager's gateway-shim would write the issued one (cert-manager cannot run here; the
 * shim's rules are in test/edge.test.ts); the EndpointSlices of n8n-main and n8n-webhook are written
 * by the test (no kubelet runs pods) and point at relays on the network namespace's host side,
 * which forward to the n8n processes on loopback (the API server refuses loopback endpoints); the
 * GatewayClass is what a platform team installs with Envoy Gateway.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { edgeProps, HITL_SUFFIXES, N8N_ENDPOINTS } from "../../components/edge";
import { gatewayEdgeObjects } from "../../components/gateway";
import { NAMES, PORTS } from "../../components/kubernetes/names";
import { parseStackConfig, type StackConfig } from "../../config";
import { type Cluster, type Pod, startCluster } from "../../support/cluster";
import { type ControlPlane, crdFiles, startControlPlane } from "../../support/engine/controlplane";
import { type EnvoyGateway, gatewayClassObjects, startEnvoyGateway } from "../../support/engine/envoy-gateway";
import { KubeError, type KubeObject, objectPath } from "../../support/engine/kube";
import { formWorkflow, mcpWorkflow, SET_NODE, waitingWorkflow, webhookWorkflow } from "../../support/n8n";
import { relay } from "../../support/netns";
import { find, manifests, type Server, scratchDir, waitFor } from "../../support/servers";
import { rawStackConfig } from "../harness";

const STACK = "prod";
/** Test-sized limits, so that a burst and a body can pass them quickly. */
const RATE = 10;
const BODY_MB = 1;

/** A self-signed certificate for a host: where cert-manager would write the issued one. */
function selfSigned(domain: string): { crt: string; key: string } {
  const dir = scratchDir("edge-tls");
  const [key, crt] = [join(dir, "tls.key"), join(dir, "tls.crt")];
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", key, "-out", crt].concat([
      "-subj",
      `/CN=${domain}`,
      "-addext",
      `subjectAltName=DNS:${domain}`,
    ]),
    { stdio: "ignore" },
  );
  return { crt: readFileSync(crt, "utf8"), key: readFileSync(key, "utf8") };
}

const tlsSecret = (namespace: string, tls: { crt: string; key: string }) =>
  ({
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/tls",
    metadata: { name: NAMES.tls, namespace },
    data: { "tls.crt": Buffer.from(tls.crt).toString("base64"), "tls.key": Buffer.from(tls.key).toString("base64") },
  }) as never;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

describe("the Gateway edge: Envoy Gateway in front of real n8n", () => {
  let cp: ControlPlane;
  let eg: EnvoyGateway;
  let cluster: Cluster;
  let config: StackConfig;
  let objects: ReturnType<typeof gatewayEdgeObjects>;
  let ca: string;
  const relays: Server[] = [];
  const backends: Record<string, string> = {};
  const pods: Record<string, Pod> = {};
  const token = () => randomUUID().replaceAll("-", "").slice(0, 12);
  const wf = {
    hook: { id: `hook${token()}`, path: `hook-${randomUUID()}` },
    form: { id: `form${token()}`, path: `form-${randomUUID()}`, title: `Form ${token()}` },
    waitHook: { id: `whook${token()}`, path: `wait-${randomUUID()}` },
    waitForm: { id: `wform${token()}`, path: `waitform-${randomUUID()}`, title: `Resume ${token()}` },
    mcp: { id: `mcp${token()}`, path: `mcp-${randomUUID()}` },
  };
  type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: unknown } };
  const apply = (o: Obj) =>
    cp.kube.apply(objectPath(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace as string), o, "engine-tests");

  /** A request through the Gateway's HTTPS listener (HTTP/1.1, SNI and Host the domain, the test CA), from `from`. */
  const via = (
    path: string,
    init: {
      method?: string;
      body?: string | Buffer;
      from?: string;
      headers?: Record<string, string>;
    } = {},
  ) =>
    new Promise<Reply>((done, fail) => {
      const req = request(
        {
          host: eg.netns.inside,
          port: 443,
          path,
          method: init.method ?? "GET",
          servername: config.domain,
          ca,
          localAddress: init.from,
          headers: { host: config.domain, ...(init.headers ?? {}) },
          timeout: 30_000,
        },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d) => {
            body += d;
          });
          res.on("end", () => done({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${path}: timed out`)));
      req.on("error", fail);
      if (init.body) req.write(init.body);
      req.end();
    });

  /** The backend Envoy sent a request for `path` (without its query) to, from Envoy's own access log (JSON lines on stdout). */
  const servedBy = (path: string) =>
    waitFor(
      `Envoy's access log line for ${path}`,
      () => {
        for (const line of eg.server.output) {
          if (!line.startsWith("{") || !line.includes(path)) continue;
          const entry = JSON.parse(line) as { "x-envoy-origin-path"?: string; upstream_host?: string | null };
          if (entry["x-envoy-origin-path"]?.split("?")[0] === path) return entry.upstream_host ?? "none";
        }
        return undefined;
      },
      15_000,
      250,
    );
  const backendOf = (host: string) => Object.entries(backends).find(([, a]) => `${a}:${PORTS.n8n}` === host)?.[0];

  /** A rendered Service in `namespace`, and the EndpointSlice a kubelet's pods would give it (a relay address). */
  const serviceWithEndpoints = async (namespace: string, service: string, address: string) => {
    const svc = structuredClone(find(manifests(STACK), "Service", service));
    svc.metadata.namespace = namespace;
    await apply(svc as never);
    await apply({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: `${service}-test`,
        namespace,
        labels: { "kubernetes.io/service-name": service, "endpointslice.kubernetes.io/managed-by": "engine-tests" },
      },
      addressType: "IPv4",
      ports: [{ name: "http", port: PORTS.n8n, protocol: "TCP" }],
      endpoints: [{ addresses: [address], conditions: { ready: true } }],
    } as never);
  };

  beforeAll(async () => {
    cp = await startControlPlane({ crds: crdFiles("gateway-api", "envoy-gateway", "cert-manager") });
    eg = await startEnvoyGateway(cp, { hostAddresses: 3 });
    // The prod stack with test-sized limits and an allowlist that admits the host's first address only.
    const raw = rawStackConfig(STACK);
    config = parseStackConfig(STACK, {
      ...raw,
      edge: {
        ...(raw.edge as object),
        allowlistCidrs: [`${eg.netns.host}/32`],
        rateLimitRps: RATE,
        bodySizeMb: BODY_MB,
      },
    });
    const ns = config.namespace;
    objects = gatewayEdgeObjects(
      edgeProps(config, ns),
      config.edge.gateway as NonNullable<StackConfig["edge"]["gateway"]>,
    );

    cluster = await startCluster({
      stack: STACK,
      workflows: [
        webhookWorkflow(wf.hook.id, wf.hook.path, { ...SET_NODE }),
        formWorkflow(wf.form.id, wf.form.path, wf.form.title),
        waitingWorkflow(wf.waitHook.id, wf.waitHook.path, "webhook", "unused"),
        waitingWorkflow(wf.waitForm.id, wf.waitForm.path, "form", wf.waitForm.title),
        mcpWorkflow(wf.mcp.id, wf.mcp.path),
      ],
    });
    pods.main = await cluster.start("main");
    pods.webhook = await cluster.start("webhook");
    pods.worker = await cluster.start("worker");

    // The cluster side: namespace, GatewayClass, the TLS Secret, the Services as rendered, and
    // their endpoints (relays on the host side of the namespace to the processes).
    await apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    for (const o of gatewayClassObjects(config.edge.gateway?.own?.className as string)) await apply(o);
    const tls = selfSigned(config.domain);
    ca = tls.crt;
    await apply(tlsSecret(ns, tls));
    const services: [string, Pod][] = [
      [NAMES.main, pods.main as Pod],
      [NAMES.webhook, pods.webhook as Pod],
    ];
    for (const [i, [service, pod]] of services.entries()) {
      const address = eg.netns.hostAddress(i);
      backends[service] = address;
      relays.push(await relay(address, PORTS.n8n, { host: "127.0.0.1", port: pod.port }));
      await serviceWithEndpoints(ns, service, address);
    }
    // The edge as rendered.
    for (const o of [objects.gateway, ...objects.routes, ...objects.policies]) if (o) await apply(o as never);
    let last = "";
    await waitFor(
      "the editor through the Gateway",
      async () => {
        const r = await via("/healthz");
        last = `${r.status} ${r.body.slice(0, 200)}`;
        return r.status === 200 || undefined;
      },
      120_000,
      1_000,
    ).catch((e) => {
      throw new Error(`${e} (last answer: ${last})\n${eg.server.output.slice(-30).join("\n")}`);
    });
  }, 900_000);

  afterAll(async () => {
    for (const r of relays) await r.stop(2_000);
    await cluster?.stop();
    await eg?.stop();
    await cp?.stop();
  });

  const statusOf = (o: Obj) =>
    cp.kube.get(objectPath(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace as string));
  const conditions = (o: KubeObject, key: "parents" | "ancestors") =>
    ((o.status?.[key] ?? []) as { conditions: { type: string; status: string; reason: string }[] }[]).flatMap(
      (p) => p.conditions,
    );

  it("the API server admits every rendered object (CEL included), and Envoy Gateway accepts each", async () => {
    const gw = await statusOf(objects.gateway as NonNullable<typeof objects.gateway>);
    const gwConditions = (gw.status?.conditions ?? []) as { type: string; status: string }[];
    expect(gwConditions.find((c) => c.type === "Accepted")?.status).toBe("True");
    const listeners = (gw.status?.listeners ?? []) as {
      name: string;
      conditions: { type: string; status: string }[];
    }[];
    for (const l of listeners) {
      expect(l.conditions.find((c) => c.type === "ResolvedRefs")?.status, l.name).toBe("True");
    }
    for (const r of objects.routes) {
      const c = conditions(await statusOf(r), "parents");
      expect(c.find((x) => x.type === "Accepted")?.status, r.metadata.name).toBe("True");
      expect(c.find((x) => x.type === "ResolvedRefs")?.status, r.metadata.name).toBe("True");
    }
    expect(objects.policies.map((p) => p.kind).sort()).toEqual([
      "BackendTrafficPolicy",
      "BackendTrafficPolicy",
      "SecurityPolicy",
    ]);
    for (const p of objects.policies) {
      const c = conditions(await statusOf(p), "ancestors");
      expect(c.find((x) => x.type === "Accepted")?.status, p.metadata.name).toBe("True");
    }
  });

  it("and refuses what breaks the CRDs' validation: the checks are live, not assumed", async () => {
    const route = structuredClone(objects.routes[1]) as {
      spec: { rules: { matches: { path: { value: string } }[] }[] };
    };
    (route.spec.rules[0] as { matches: { path: { value: string } }[] }).matches[0] = {
      path: { value: "webhook" },
    } as never;
    const refusal = await apply({
      ...(route as object),
      metadata: { name: "broken-route", namespace: config.namespace },
    } as never).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(KubeError);
    expect((refusal as KubeError).status).toBe(422);
    const policy = structuredClone(objects.policies[0]) as { spec: { requestBuffer: { limit: string } } };
    policy.spec.requestBuffer.limit = "16MB";
    const bad = await apply({
      ...(policy as object),
      metadata: { name: "broken-policy", namespace: config.namespace },
    } as never).catch((e: unknown) => e);
    expect((bad as KubeError).status).toBe(422);
  });

  it("production endpoints reach the webhook processor: a webhook runs, a form renders, MCP answers initialize", async () => {
    const hook = `/webhook/${wf.hook.path}`;
    const ran = await via(hook, {
      method: "POST",
      body: JSON.stringify({ i: 1 }),
      headers: { "content-type": "application/json" },
    });
    expect(ran.status, ran.body).toBe(200);
    expect(backendOf(await servedBy(hook))).toBe(NAMES.webhook);
    await waitFor(
      "the webhook's execution to succeed",
      () => (cluster.executions([wf.hook.id]).success ?? 0) > 0 || undefined,
      60_000,
    );

    const form = await via(`/form/${wf.form.path}`);
    expect(form.status).toBe(200);
    expect(form.body).toContain(wf.form.title);
    expect(backendOf(await servedBy(`/form/${wf.form.path}`))).toBe(NAMES.webhook);

    const mcpPath = `/mcp/${wf.mcp.path}`;
    const mcp = await via(mcpPath, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: { name: "edge-test", version: "1" } },
      }),
    });
    expect(mcp.status, mcp.body).toBe(200);
    expect(mcp.body).toContain("serverInfo");
    expect(backendOf(await servedBy(mcpPath))).toBe(NAMES.webhook);
  });

  it("a waiting execution resumes through its signed URL, and the waiting form renders, through the Gateway", async () => {
    const resumeUrls = async (workflowPath: string) => {
      const res = await via(`/webhook/${workflowPath}`, {
        method: "POST",
        body: "{}",
        headers: { "content-type": "application/json" },
      });
      expect(res.status, res.body).toBe(200);
      const urls = JSON.parse(res.body) as { resume: string; form: string };
      const local = (u: string) => {
        const url = new URL(u);
        expect(url.host).toBe(config.domain);
        return `${url.pathname}${url.search}`;
      };
      return { resume: local(urls.resume), form: local(urls.form) };
    };
    const hook = await resumeUrls(wf.waitHook.path);
    expect(hook.resume.startsWith(`/${N8N_ENDPOINTS.production.webhookWaiting}/`)).toBe(true);
    await waitFor(
      "a waiting execution",
      () => (cluster.executions([wf.waitHook.id]).waiting ?? 0) > 0 || undefined,
      60_000,
    );
    const resumed = await via(hook.resume);
    expect(resumed.status, resumed.body).toBe(200);
    expect(backendOf(await servedBy(hook.resume.split("?")[0] as string))).toBe(NAMES.webhook);
    await waitFor(
      "the resumed execution",
      () => (cluster.executions([wf.waitHook.id]).success ?? 0) > 0 || undefined,
      60_000,
    );

    const waitForm = await resumeUrls(wf.waitForm.path);
    expect(waitForm.form.startsWith(`/${N8N_ENDPOINTS.production.formWaiting}/`)).toBe(true);
    await waitFor(
      "a waiting form execution",
      () => (cluster.executions([wf.waitForm.id]).waiting ?? 0) > 0 || undefined,
      60_000,
    );
    const page = await via(waitForm.form);
    expect(page.status).toBe(200);
    expect(page.body).toContain(wf.waitForm.title);
  });

  it("exact HITL paths go to the webhook processor; test URLs and the rest go to main", async () => {
    // PathPrefix matches whole segments and Exact one path, as Envoy Gateway implements them: a
    // test URL, a path below an exact HITL path, or a longer first segment stays on main.
    const expected: [string, string, string][] = [
      ...HITL_SUFFIXES.map(
        (suffix) =>
          [`/${N8N_ENDPOINTS.production.webhookWaiting}${suffix}`, "POST", NAMES.webhook] as [string, string, string],
      ),
      ...Object.values(N8N_ENDPOINTS.test).map(
        (name) => [`/${name}/${randomUUID()}`, "GET", NAMES.main] as [string, string, string],
      ),
      [`/${N8N_ENDPOINTS.production.webhookWaiting}${HITL_SUFFIXES[0]}/${randomUUID()}`, "GET", NAMES.main],
      [`/${N8N_ENDPOINTS.production.webhook}x${randomUUID()}`, "GET", NAMES.main],
      ["/rest/settings", "GET", NAMES.main],
    ];
    for (const [path, method] of expected) await via(path, method === "POST" ? { method, body: "{}" } : {});
    // Envoy flushes its access log every few seconds: send everything first, then read it.
    const served = await Promise.all(expected.map(async ([path]) => backendOf(await servedBy(path))));
    expect(served).toEqual(expected.map(([, , backend]) => backend));
  });

  it("plain HTTP answers with a redirect to HTTPS and nothing else", async () => {
    const reply = await new Promise<Reply>((done, fail) => {
      const req = httpRequest(
        { host: eg.netns.inside, port: 80, path: "/rest/settings", headers: { host: config.domain }, timeout: 10_000 },
        (res) => {
          res.resume();
          res.on("end", () => done({ status: res.statusCode ?? 0, headers: res.headers, body: "" }));
        },
      );
      req.on("error", fail);
      req.end();
    });
    expect(reply.status).toBe(301);
    expect(reply.headers.location).toBe(`https://${config.domain}/rest/settings`);
  });

  it("the allowlist refuses a client outside it on the editor and API, never on the production endpoints", async () => {
    const outside = eg.netns.hostAddress(2);
    const refused = await via("/rest/settings", { from: outside });
    expect(refused.status).toBe(403);
    expect((await via("/rest/settings")).status).toBe(200);
    const hook = await via(`/webhook/${wf.hook.path}`, { method: "POST", body: "{}", from: outside });
    expect(hook.status).toBe(200);
  });

  it("the rate limit answers 429 past a client's budget, per client", async () => {
    await new Promise((r) => setTimeout(r, 1_100));
    const burst = await Promise.all(
      Array.from({ length: RATE * 3 }, () => via(`/webhook/${wf.hook.path}`, { method: "POST", body: "{}" })),
    );
    const codes = burst.map((r) => r.status);
    expect(codes.filter((c) => c === 429).length).toBeGreaterThanOrEqual(RATE);
    expect(codes.filter((c) => c === 200).length).toBeGreaterThan(0);
    expect(codes.filter((c) => c !== 200 && c !== 429)).toEqual([]);
    // Another client address has its own budget.
    const other = await via(`/webhook/${wf.hook.path}`, { method: "POST", body: "{}", from: eg.netns.hostAddress(2) });
    expect(other.status).toBe(200);
  });

  it("a body over the limit gets 413; one under it passes", async () => {
    await new Promise((r) => setTimeout(r, 1_100));
    const over = await via(`/webhook/${wf.hook.path}`, {
      method: "POST",
      body: Buffer.alloc(BODY_MB * 1024 * 1024 + 1024, 97),
    });
    expect(over.status).toBe(413);
    const under = await via(`/webhook/${wf.hook.path}`, {
      method: "POST",
      body: JSON.stringify({ pad: "a".repeat(100_000) }),
      headers: { "content-type": "application/json" },
    });
    expect(under.status).toBe(200);
  });

  it("a platform team's Gateway in another namespace: the routes attach by parentRef, its listener reads n8n-tls only through the ReferenceGrant (status, not traffic)", async () => {
    const PLATFORM = "gateways";
    const raw = rawStackConfig(STACK);
    const c = parseStackConfig(STACK, {
      ...raw,
      namespace: "n8n-platform",
      domain: "n8n-platform.example.com",
      edge: { gateway: { parentRef: { name: "shared", namespace: PLATFORM, sectionName: "https-n8n" } } },
    });
    const o = gatewayEdgeObjects(
      edgeProps(c, c.namespace),
      c.edge.gateway as NonNullable<StackConfig["edge"]["gateway"]>,
    );
    expect(o.gateway).toBeUndefined();
    expect(o.tls.map((t) => t.kind)).toEqual(["Certificate", "ReferenceGrant"]);
    for (const name of [PLATFORM, c.namespace])
      await apply({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
    // The platform's Gateway: an HTTPS listener for the host whose certificate is our Secret.
    const shared = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "shared", namespace: PLATFORM },
      spec: {
        gatewayClassName: config.edge.gateway?.own?.className,
        listeners: [
          {
            name: "https-n8n",
            protocol: "HTTPS",
            port: 8443,
            hostname: c.domain,
            tls: { mode: "Terminate", certificateRefs: [{ kind: "Secret", name: NAMES.tls, namespace: c.namespace }] },
            allowedRoutes: { namespaces: { from: "All" } },
          },
        ],
      },
    };
    await apply(shared);
    // What the Certificate would make (cert-manager does not run here), the Services, and the edge as rendered.
    await apply(tlsSecret(c.namespace, selfSigned(c.domain)));
    for (const service of [NAMES.main, NAMES.webhook]) {
      await serviceWithEndpoints(c.namespace, service, backends[service] as string);
    }
    for (const x of [...o.tls, ...o.routes, ...o.policies]) await apply(x as never);

    const listener = async () => {
      const gw = await statusOf(shared);
      const l = (
        (gw.status?.listeners ?? []) as { conditions: { type: string; status: string; reason: string }[] }[]
      )[0];
      return l?.conditions.find((x) => x.type === "ResolvedRefs");
    };
    await waitFor(
      "the platform listener to resolve n8n-tls",
      async () => (await listener())?.status === "True" || undefined,
      60_000,
    );
    for (const r of o.routes) {
      await waitFor(
        `${r.metadata.name} accepted by the platform Gateway`,
        async () =>
          conditions(await statusOf(r), "parents").find((x) => x.type === "Accepted")?.status === "True" || undefined,
        60_000,
      );
    }
    // Traffic through this second Gateway is not checked: on the Host infrastructure Envoy Gateway
    // runs one Envoy per Gateway, and the second one's listener refused connections here.
    // Without the grant the listener may not read a Secret of another namespace.
    const grant = o.tls.find((t) => t.kind === "ReferenceGrant") as Obj;
    await cp.kube.call("DELETE", objectPath(grant.apiVersion, grant.kind, grant.metadata.name, c.namespace));
    await waitFor(
      "the listener to lose n8n-tls",
      async () => ((await listener())?.reason === "RefNotPermitted" ? true : undefined),
      60_000,
    );
  });
});
