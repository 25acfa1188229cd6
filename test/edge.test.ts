import { beforeAll, describe, expect, it } from "vitest";
import { clusterIssuerObject, edgeProps, N8N_ENDPOINTS, productionEdgePaths } from "../components/edge";
import { gatewayEdgeObjects, httpRouteObjects } from "../components/gateway";
import { ingressObjects, productionPaths } from "../components/ingress";
import { NAMES } from "../components/kubernetes/names";
import { ConfigError, parseStackConfig, type StackConfig } from "../config";
import type { StackRun } from "../render/run";
import { findManifest, runProgram, runStackFile } from "./harness";

const base = { domain: "n8n.example.com" };
const cfg = (raw: Record<string, unknown> = {}): StackConfig => parseStackConfig("t", { ...base, ...raw });
const props = (raw: Record<string, unknown> = {}) => {
  const c = cfg(raw);
  return edgeProps(c, c.namespace);
};
const ingressEdge = (raw: Record<string, unknown> = {}) => {
  const p = props({ ...raw, edge: { kind: "ingress", ...((raw.edge as object) ?? {}) } });
  return ingressObjects(p, p.edge.ingress as NonNullable<StackConfig["edge"]["ingress"]>);
};
const gatewayOf = (raw: Record<string, unknown> = {}) => {
  const p = props(raw);
  return { p, objects: gatewayEdgeObjects(p, p.edge.gateway as NonNullable<StackConfig["edge"]["gateway"]>) };
};
/** The problems a config yields, as "path: message". */
function problems(raw: Record<string, unknown>): string[] {
  try {
    cfg(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

describe("Ingress edge (pure)", () => {
  it("routes webhooks to the webhook processors when they exist, everything else to main", () => {
    const { editor, webhooks } = ingressEdge({ webhooks: { enabled: true } });
    const backends = (i: typeof editor) =>
      i.spec.rules[0]?.http.paths.map((p) => [p.path, p.backend.service.name, p.pathType]);
    expect(backends(editor)).toEqual([["/", NAMES.main, "Prefix"]]);
    expect(backends(webhooks)).toEqual(productionPaths().map((p) => [p.path, NAMES.webhook, p.pathType]));
    expect(productionPaths().map((p) => p.path)).toEqual([
      "/webhook/",
      "/webhook-waiting/",
      "/form/",
      "/form-waiting/",
      "/mcp/",
      "/webhook-waiting-slack",
      "/webhook-waiting-telegram",
    ]);
    // No production route may swallow a test endpoint (Prefix matches whole path elements).
    for (const t of Object.values(N8N_ENDPOINTS.test)) {
      expect(productionPaths().some((p) => p.path === `/${t}/`)).toBe(false);
    }
    const single = ingressEdge({ webhooks: { enabled: false } }).webhooks;
    expect(single.spec.rules[0]?.http.paths.every((p) => p.backend.service.name === NAMES.main)).toBe(true);
  });

  it("TLS from cert-manager on the editor Ingress only (one Certificate), shared Secret, limits on both", () => {
    const { editor, webhooks } = ingressEdge({ edge: { rateLimitRps: 7, bodySizeMb: 32 } });
    expect(editor.metadata.annotations["cert-manager.io/cluster-issuer"]).toBe("letsencrypt-prod");
    expect(webhooks.metadata.annotations["cert-manager.io/cluster-issuer"]).toBeUndefined();
    for (const i of [editor, webhooks]) {
      expect(i.spec.ingressClassName).toBe("nginx");
      expect(i.spec.tls).toEqual([{ hosts: ["n8n.example.com"], secretName: NAMES.tls }]);
      expect(i.metadata.annotations["nginx.ingress.kubernetes.io/limit-rps"]).toBe("7");
      expect(i.metadata.annotations["nginx.ingress.kubernetes.io/proxy-body-size"]).toBe("32m");
      expect(i.metadata.annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"]).toBe("true");
    }
  });

  it("an allowlist guards the editor, never the webhooks", () => {
    const { editor, webhooks } = ingressEdge({ edge: { allowlistCidrs: ["203.0.113.0/24"] } });
    expect(editor.metadata.annotations["nginx.ingress.kubernetes.io/whitelist-source-range"]).toBe("203.0.113.0/24");
    expect(webhooks.metadata.annotations).not.toHaveProperty("nginx.ingress.kubernetes.io/whitelist-source-range");
  });

  it("another controller gets no ingress-nginx annotation, only the issuer", () => {
    const { editor, webhooks } = ingressEdge({ edge: { ingress: { controller: "other", className: "haproxy" } } });
    expect(editor.metadata.annotations).toEqual({ "cert-manager.io/cluster-issuer": "letsencrypt-prod" });
    expect(webhooks.metadata.annotations).toEqual({});
    expect(editor.spec.ingressClassName).toBe("haproxy");
  });

  it("the ClusterIssuer solves HTTP-01 on the ingress class", () => {
    const issuer = clusterIssuerObject(
      props({
        edge: { kind: "ingress", createClusterIssuer: true, acmeEmail: "ops@example.com", clusterIssuer: "le" },
      }),
    );
    expect(issuer).toMatchObject({
      kind: "ClusterIssuer",
      metadata: { name: "le" },
      spec: { acme: { email: "ops@example.com", solvers: [{ http01: { ingress: { ingressClassName: "nginx" } } }] } },
    });
  });
});

describe("Gateway edge (pure)", () => {
  it("the own Gateway: an HTTPS listener for the domain that cert-manager's gateway-shim can issue for, and HTTP", () => {
    const { objects } = gatewayOf();
    const gw = objects.gateway as NonNullable<typeof objects.gateway>;
    expect(gw.metadata.annotations).toEqual({ "cert-manager.io/cluster-issuer": "letsencrypt-prod" });
    expect(gw.spec.gatewayClassName).toBe("eg");
    const [https, http] = gw.spec.listeners;
    // The shim issues only for a listener with a hostname, tls.mode Terminate and a Secret ref here.
    expect(https).toMatchObject({
      name: "https",
      port: 443,
      protocol: "HTTPS",
      hostname: "n8n.example.com",
      tls: { mode: "Terminate", certificateRefs: [{ kind: "Secret", name: NAMES.tls }] },
      allowedRoutes: { namespaces: { from: "Same" } },
    });
    expect(http).toMatchObject({ name: "http", port: 80, protocol: "HTTP", hostname: "n8n.example.com" });
    expect(objects.tls).toEqual([]);
  });

  it("routes: production paths (whole-segment prefixes, exact HITL paths) to the webhook processors, the rest to main", () => {
    const { p } = gatewayOf({ webhooks: { enabled: true } });
    const { editor, production } = httpRouteObjects(p, p.edge.gateway as NonNullable<StackConfig["edge"]["gateway"]>);
    expect(editor.spec.rules).toEqual([
      { matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs: [{ name: NAMES.main, port: 5678 }] },
    ]);
    const rule = production.spec.rules[0] as {
      matches: { path: { type: string; value: string } }[];
      backendRefs: unknown[];
      timeouts: unknown;
    };
    expect(rule.matches.map((m) => `${m.path.type} ${m.path.value}`)).toEqual([
      "PathPrefix /webhook",
      "PathPrefix /webhook-waiting",
      "PathPrefix /form",
      "PathPrefix /form-waiting",
      "PathPrefix /mcp",
      "Exact /webhook-waiting-slack",
      "Exact /webhook-waiting-telegram",
    ]);
    expect(rule.matches).toHaveLength(productionEdgePaths().length);
    expect(rule.backendRefs).toEqual([{ name: NAMES.webhook, port: 5678 }]);
    expect(rule.timeouts).toEqual({ request: "300s" });
    for (const r of [editor, production]) {
      expect(r.spec.hostnames).toEqual(["n8n.example.com"]);
      expect(r.spec.parentRefs).toEqual([
        { group: "gateway.networking.k8s.io", kind: "Gateway", name: "n8n", namespace: "n8n", sectionName: "https" },
      ]);
    }
  });

  it("HTTP redirects to HTTPS on the own Gateway's HTTP listener", () => {
    const { objects } = gatewayOf();
    const redirect = objects.routes.find((r) => r.metadata.name === NAMES.redirectRoute);
    expect(redirect?.spec).toMatchObject({
      parentRefs: [{ name: "n8n", sectionName: "http" }],
      rules: [{ filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", statusCode: 301 } }] }],
    });
  });

  it("Envoy Gateway's policies carry the limits: per-client rate, body buffer, and the allowlist on the editor only", () => {
    const { objects } = gatewayOf({ edge: { rateLimitRps: 7, bodySizeMb: 32, allowlistCidrs: ["203.0.113.0/24"] } });
    const byName = Object.fromEntries(objects.policies.map((x) => [x.metadata.name, x]));
    expect(Object.keys(byName)).toEqual(["n8n-main-limits", "n8n-webhooks-limits", "n8n-main-allowlist"]);
    expect(byName["n8n-webhooks-limits"]?.spec).toEqual({
      targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "n8n-webhooks" }],
      rateLimit: {
        local: {
          rules: [
            {
              clientSelectors: [{ sourceCIDR: { type: "Distinct", value: "0.0.0.0/0" } }],
              limit: { requests: 7, unit: "Second" },
            },
          ],
        },
      },
      requestBuffer: { limit: "32Mi" },
    });
    // The editor: the same average as a per-minute budget, so a page load's burst of assets passes.
    expect(byName["n8n-main-limits"]?.spec).toMatchObject({
      rateLimit: { local: { rules: [{ limit: { requests: 420, unit: "Minute" } }] } },
    });
    expect(byName["n8n-main-allowlist"]?.spec).toEqual({
      targetRefs: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: "n8n-main" }],
      authorization: {
        defaultAction: "Deny",
        rules: [{ name: "allowlist", action: "Allow", principal: { clientCIDRs: ["203.0.113.0/24"] } }],
      },
    });
  });

  it("a platform Gateway: routes attach by parentRef, a Certificate for the domain and a ReferenceGrant for its Secret", () => {
    const { objects } = gatewayOf({
      edge: { gateway: { parentRef: { name: "shared", namespace: "gateways", sectionName: "https-n8n" } } },
    });
    expect(objects.gateway).toBeUndefined();
    expect(objects.routes.map((r) => r.metadata.name)).toEqual(["n8n-main", "n8n-webhooks"]);
    for (const r of objects.routes) {
      expect(r.spec.parentRefs).toEqual([
        {
          group: "gateway.networking.k8s.io",
          kind: "Gateway",
          name: "shared",
          namespace: "gateways",
          sectionName: "https-n8n",
        },
      ]);
    }
    const [cert, grant] = objects.tls;
    expect(cert).toMatchObject({ kind: "Certificate", spec: { secretName: NAMES.tls, dnsNames: ["n8n.example.com"] } });
    expect(grant).toMatchObject({
      kind: "ReferenceGrant",
      metadata: { namespace: "n8n" },
      spec: {
        from: [{ group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "gateways" }],
        to: [{ group: "", kind: "Secret", name: NAMES.tls }],
      },
    });
    // The proxy pods the NetworkPolicies admit are that Gateway's.
    expect(
      props({ edge: { gateway: { parentRef: { name: "shared", namespace: "gateways" } } } }).edge.gateway?.dataPlane,
    ).toEqual({
      namespace: "envoy-gateway-system",
      podLabels: {
        "gateway.envoyproxy.io/owning-gateway-name": "shared",
        "gateway.envoyproxy.io/owning-gateway-namespace": "gateways",
      },
    });
  });

  it("generic: Core objects only, no Envoy Gateway policy and no timeout", () => {
    const { objects } = gatewayOf({ edge: { gateway: { implementation: "generic", dataPlane: { namespace: "gw" } } } });
    expect(objects.policies).toEqual([]);
    for (const r of objects.routes) expect(JSON.stringify(r)).not.toContain("timeouts");
  });

  it("the ClusterIssuer solves HTTP-01 through the Gateway's HTTP listener", () => {
    const issuer = clusterIssuerObject(props({ edge: { createClusterIssuer: true, acmeEmail: "ops@example.com" } }));
    expect(issuer.spec.acme.solvers).toEqual([
      {
        http01: {
          gatewayHTTPRoute: { parentRefs: [{ kind: "Gateway", name: "n8n", namespace: "n8n", sectionName: "http" }] },
        },
      },
    ]);
  });
});

describe("edge config: what cannot be enforced is refused, moved keys name their new place", () => {
  it("a limit the chosen implementation cannot enforce", () => {
    expect(
      problems({ edge: { rateLimitRps: 50, gateway: { implementation: "generic", dataPlane: { namespace: "gw" } } } }),
    ).toEqual([
      'edge.rateLimitRps: cannot be enforced by edge.gateway.implementation "generic" (Core Gateway API has no such field): unset it, or choose "envoy-gateway"',
    ]);
    expect(
      problems({ edge: { kind: "ingress", allowlistCidrs: ["10.0.0.0/8"], ingress: { controller: "other" } } }),
    ).toEqual([
      'edge.allowlistCidrs: cannot be enforced by edge.ingress.controller "other" (no annotation of that controller is known): unset it, or choose "ingress-nginx"',
    ]);
    // During a migration both edges must enforce it.
    expect(
      problems({ edge: { keepIngress: true, bodySizeMb: 8, ingress: { controller: "other" } } }).map(
        (p) => p.split(":")[0],
      ),
    ).toEqual(["edge.bodySizeMb"]);
  });

  it("generic needs the data-plane namespace; keepIngress needs kind gateway; className belongs to the own Gateway", () => {
    expect(problems({ edge: { gateway: { implementation: "generic" } } })).toEqual([
      'edge.gateway.dataPlane.namespace: is required with edge.gateway.implementation "generic": the NetworkPolicies admit that namespace\'s proxy pods',
    ]);
    expect(problems({ edge: { kind: "ingress", keepIngress: true } })[0]).toMatch(/^edge.keepIngress: only applies/);
    expect(problems({ edge: { gateway: { className: "x", parentRef: { name: "g", namespace: "n" } } } })[0]).toMatch(
      /^edge.gateway.className: applies to the program's own Gateway only/,
    );
    expect(problems({ edge: { createClusterIssuer: true } })).toEqual([
      "edge.acmeEmail: is required when edge.createClusterIssuer is true (ACME registration needs a contact)",
    ]);
  });

  it("the keys of earlier releases fail with their new place, before anything renders", () => {
    expect(problems({ ingress: { className: "nginx" } })[0]).toMatch(/^ingress: moved to edge: .*edge.kind "ingress"/);
    expect(problems({ network: { ingressControllerNamespace: "x" } })).toEqual([
      "network.ingressControllerNamespace: moved to edge.ingress.controllerNamespace",
    ]);
  });
});

describe.each(["staging", "prod"])("stack %s: the Gateway edge", (stack) => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStackFile(stack);
  });

  it("renders the Gateway, its routes and Envoy Gateway's policies, and no Ingress", () => {
    const domain = stack === "prod" ? "n8n.example.com" : "n8n.staging.example.com";
    const gw = findManifest(run, "Gateway", NAMES.gateway);
    expect((gw.spec as { listeners: { hostname: string }[] }).listeners.map((l) => l.hostname)).toEqual([
      domain,
      domain,
    ]);
    expect(
      run.manifests
        .filter((m) => m.kind === "HTTPRoute")
        .map((m) => m.metadata.name)
        .sort(),
    ).toEqual(["n8n-https-redirect", "n8n-main", "n8n-webhooks"]);
    expect(run.manifests.filter((m) => m.kind === "BackendTrafficPolicy")).toHaveLength(2);
    expect(run.manifests.filter((m) => m.kind === "Ingress")).toEqual([]);
  });
});

describe("edge under mocks", () => {
  it("the ClusterIssuer is rendered, cluster-scoped, when asked for", async () => {
    const run = await runProgram("ci", { ...base, edge: { createClusterIssuer: true, acmeEmail: "ops@example.com" } });
    expect(findManifest(run, "ClusterIssuer", "letsencrypt-prod").metadata.namespace).toBeUndefined();
  });

  it("keepIngress: the Ingress keeps owning TLS (DNS still points at it), the Gateway serves the same Secret", () => {
    const { p, objects } = gatewayOf({
      edge: { keepIngress: true, createClusterIssuer: true, acmeEmail: "ops@example.com" },
    });
    const gw = objects.gateway as NonNullable<typeof objects.gateway>;
    expect(gw.metadata.annotations).toBeUndefined();
    expect((gw.spec.listeners[0] as { tls?: unknown }).tls).toEqual({
      mode: "Terminate",
      certificateRefs: [{ kind: "Secret", name: NAMES.tls }],
    });
    expect(objects.issuer).toBeUndefined();
    expect(clusterIssuerObject(p).spec.acme.solvers).toEqual([{ http01: { ingress: { ingressClassName: "nginx" } } }]);
    const ing = ingressObjects(p, p.edge.ingress as NonNullable<StackConfig["edge"]["ingress"]>);
    expect(ing.editor.metadata.annotations["cert-manager.io/cluster-issuer"]).toBe("letsencrypt-prod");
    // A platform Gateway: the grant is there from the start, the Certificate once the Ingress's is gone.
    const platform = { gateway: { parentRef: { name: "shared", namespace: "gateways" } } };
    expect(gatewayOf({ edge: { keepIngress: true, ...platform } }).objects.tls.map((t) => t.kind)).toEqual([
      "ReferenceGrant",
    ]);
    expect(gatewayOf({ edge: platform }).objects.tls.map((t) => t.kind)).toEqual(["Certificate", "ReferenceGrant"]);
  });

  it("keepIngress: both edges at once, one ClusterIssuer, NetworkPolicies for both proxies", async () => {
    const run = await runProgram("mig", {
      ...base,
      edge: { keepIngress: true, createClusterIssuer: true, acmeEmail: "ops@example.com" },
    });
    expect(run.manifests.filter((m) => m.kind === "Ingress")).toHaveLength(2);
    expect(run.manifests.filter((m) => m.kind === "HTTPRoute")).toHaveLength(3);
    expect(run.manifests.filter((m) => m.kind === "ClusterIssuer")).toHaveLength(1);
    const policies = run.manifests.filter((m) => m.kind === "NetworkPolicy").map((m) => m.metadata.name);
    for (const n of [
      "allow-ingress-to-n8n-ingress",
      "allow-gateway-to-n8n-ingress",
      "allow-gateway-to-acme-solver-ingress",
    ]) {
      expect(policies).toContain(n);
    }
  });
});
