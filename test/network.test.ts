import { beforeAll, describe, expect, it } from "vitest";
import { cidrContains, cidrContainsIp } from "../components/kubernetes/cidr";
import { PORTS } from "../components/kubernetes/names";
import { type Endpoint as FlowEndpoint, networkFlows, networkProps } from "../components/network";
import { parseStackConfig, type StackConfig } from "../config";
import type { StackRun } from "../render/run";
import { findManifest, podsOf, rawStackConfig, runProgram, runStackFile } from "./harness";
import { type Endpoint, mayConnect, type NetworkPolicy, type Pod, selects, type World } from "./network-eval";

describe("CIDR arithmetic", () => {
  it("contains addresses and CIDRs", () => {
    expect(cidrContainsIp("10.0.0.0/8", "10.255.1.2")).toBe(true);
    expect(cidrContainsIp("10.0.0.0/8", "11.0.0.1")).toBe(false);
    expect(cidrContainsIp("0.0.0.0/0", "93.184.216.34")).toBe(true);
    expect(cidrContains("0.0.0.0/0", "192.168.0.0/16")).toBe(true);
    expect(cidrContains("52.0.0.0/8", "10.0.0.0/8")).toBe(false);
    expect(cidrContains("10.0.0.0/8", "10.1.0.0/16")).toBe(true);
  });
});

describe("the evaluator (pure)", () => {
  const pod = (name: string, namespace: string, labels: Record<string, string>, ip: string): Pod => ({
    name,
    namespace,
    labels,
    ip,
    namedPorts: { http: 8080 },
  });
  const a = pod("a", "ns", { app: "a" }, "10.0.0.1");
  const b = pod("b", "ns", { app: "b", tier: "db" }, "10.0.0.2");
  const ext = pod("x", "other", { app: "x" }, "10.9.0.1");
  const world = (policies: NetworkPolicy[]): World => ({ policies, namespaces: { other: { team: "x" } } });
  const deny: NetworkPolicy = {
    metadata: { name: "deny", namespace: "ns" },
    spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
  };

  it("with no policy everything is open; default deny closes both directions", () => {
    expect(mayConnect(world([]), { pod: a }, { pod: b }, 80)).toBe(true);
    expect(mayConnect(world([deny]), { pod: a }, { pod: b }, 80)).toBe(false);
    expect(mayConnect(world([deny]), { pod: ext }, { pod: b }, 80)).toBe(false);
    expect(mayConnect(world([deny]), { pod: a }, { ip: "1.1.1.1" }, 443)).toBe(false);
  });

  it("needs both the source's egress and the destination's ingress", () => {
    const egress: NetworkPolicy = {
      metadata: { name: "e", namespace: "ns" },
      spec: {
        podSelector: { matchLabels: { app: "a" } },
        policyTypes: ["Egress"],
        egress: [{ to: [{ podSelector: { matchLabels: { app: "b" } } }], ports: [{ port: 5432 }] }],
      },
    };
    const ingress: NetworkPolicy = {
      metadata: { name: "i", namespace: "ns" },
      spec: {
        podSelector: { matchExpressions: [{ key: "tier", operator: "In", values: ["db"] }] },
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: { matchLabels: { app: "a" } } }], ports: [{ port: 5432 }] }],
      },
    };
    expect(mayConnect(world([deny, egress]), { pod: a }, { pod: b }, 5432)).toBe(false);
    expect(mayConnect(world([deny, egress, ingress]), { pod: a }, { pod: b }, 5432)).toBe(true);
    expect(mayConnect(world([deny, egress, ingress]), { pod: a }, { pod: b }, 5433)).toBe(false);
    expect(mayConnect(world([deny, egress, ingress]), { pod: a }, { pod: b }, 5432, "UDP")).toBe(false);
    expect(mayConnect(world([deny, egress, ingress]), { pod: b }, { pod: a }, 5432)).toBe(false);
  });

  it("ipBlocks honour except; namespace selectors use namespace labels; named ports resolve", () => {
    const out: NetworkPolicy = {
      metadata: { name: "o", namespace: "ns" },
      spec: {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [{ to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["10.0.0.0/8"] } }], ports: [{ port: 443 }] }],
      },
    };
    expect(mayConnect(world([out]), { pod: a }, { ip: "93.184.216.34" }, 443)).toBe(true);
    expect(mayConnect(world([out]), { pod: a }, { ip: "10.1.1.1" }, 443)).toBe(false);
    const fromTeam: NetworkPolicy = {
      metadata: { name: "t", namespace: "ns" },
      spec: {
        podSelector: { matchLabels: { app: "a" } },
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "x" } } }], ports: [{ port: "http" }] }],
      },
    };
    expect(mayConnect(world([fromTeam]), { pod: ext }, { pod: a }, 8080)).toBe(true);
    expect(mayConnect(world([fromTeam]), { pod: ext }, { pod: a }, 8081)).toBe(false);
    expect(mayConnect(world([fromTeam]), { pod: b }, { pod: a }, 8080)).toBe(false);
  });

  it("label selectors: In, NotIn, Exists, DoesNotExist", () => {
    const l = { a: "1" };
    expect(selects({ matchExpressions: [{ key: "a", operator: "In", values: ["1", "2"] }] }, l)).toBe(true);
    expect(selects({ matchExpressions: [{ key: "a", operator: "NotIn", values: ["1"] }] }, l)).toBe(false);
    expect(selects({ matchExpressions: [{ key: "b", operator: "Exists" }] }, l)).toBe(false);
    expect(selects({ matchExpressions: [{ key: "b", operator: "DoesNotExist" }] }, l)).toBe(true);
    expect(selects({}, l)).toBe(true);
  });
});

/** The actors of a reachability matrix: every rendered pod kind, outside pods, outside addresses. */
interface Actors {
  pods: Record<string, Pod>;
  addresses: Record<string, string>;
}

function actorsOf(config: StackConfig, run: StackRun): Actors {
  const ns = config.namespace;
  const pods: Record<string, Pod> = {};
  let n = 1;
  const add = (
    name: string,
    namespace: string,
    labels: Record<string, string>,
    namedPorts: Record<string, number> = {},
  ) => {
    pods[name] = { name, namespace, labels, ip: `10.244.0.${n++}`, namedPorts };
  };
  for (const p of podsOf(run.manifests)) {
    const named = Object.fromEntries(
      [...(p.spec.initContainers ?? []), ...p.spec.containers].flatMap((c) =>
        ((c.ports ?? []) as { name: string; containerPort: number }[]).map((x) => [x.name, x.containerPort]),
      ),
    );
    const name = p.owner.metadata.name;
    if (p.owner.kind === "StatefulSet" && name === "n8n-postgres") {
      add("postgres-primary", ns, { ...p.labels, "spilo-role": "master" }, named);
      add("postgres-replica", ns, { ...p.labels, "spilo-role": "replica" }, named);
    } else {
      add(name, ns, p.labels, named);
    }
  }
  add("rogue-in-namespace", ns, { app: "debug" });
  add("acme-solver", ns, { "acme.cert-manager.io/http01-solver": "true" });
  // The edge's proxy pods: Envoy Gateway's for the Gateway edge, the ingress controller's otherwise;
  // a proxy of another Gateway in the same namespace must not get in.
  const gateway = config.edge.gateway;
  if (gateway) {
    const dp = gateway.dataPlane;
    add("edge-proxy", dp.namespace, { "app.kubernetes.io/name": "envoy", ...dp.podLabels });
    add("other-gateway-proxy", dp.namespace, {
      "app.kubernetes.io/name": "envoy",
      "gateway.envoyproxy.io/owning-gateway-name": "other",
      "gateway.envoyproxy.io/owning-gateway-namespace": "other",
    });
  } else if (config.edge.ingress) {
    add("edge-proxy", config.edge.ingress.controllerNamespace, { "app.kubernetes.io/name": "ingress-nginx" });
  }
  add("prometheus", config.network.prometheusNamespace, { "app.kubernetes.io/name": "prometheus" });
  add("kube-dns", config.network.dns.namespace, config.network.dns.podLabels);
  add("keda-operator", config.network.kedaNamespace, { app: "keda-operator" });
  add("other-namespace", "other", { app: "other" });
  return {
    pods,
    addresses: {
      internet: "93.184.216.34",
      "cloud-metadata": "169.254.169.254",
      "private-host": "10.200.0.5",
      "api-server": (config.network.apiServer.cidrs[0] as string).replace(/0\/\d+$/, "1"),
      s3: "52.216.0.1",
    },
  };
}

/** The flow table read directly: does some flow allow this connection? */
function flowAllows(config: StackConfig, from: Endpoint, to: Endpoint, port: number, protocol: string): boolean {
  const inStack = (e: Endpoint) => "pod" in e && e.pod.namespace === config.namespace;
  const matches = (fe: FlowEndpoint, e: Endpoint): boolean => {
    switch (fe.kind) {
      case "all":
        return inStack(e);
      case "pods":
        return (
          inStack(e) &&
          "pod" in e &&
          fe.components.includes(e.pod.labels["app.kubernetes.io/component"] as never) &&
          Object.entries(fe.extraLabels ?? {}).every(([k, v]) => e.pod.labels[k] === v)
        );
      case "labelled":
        return inStack(e) && "pod" in e && selects({ matchLabels: fe.labels }, e.pod.labels);
      case "namespace":
        return "pod" in e && e.pod.namespace === fe.namespace && selects({ matchLabels: fe.podLabels }, e.pod.labels);
      case "cidrs": {
        // Addresses beyond this namespace only: a CIDR flow never opens a pod of the stack.
        if (inStack(e)) return false;
        const ip = "pod" in e ? e.pod.ip : e.ip;
        return fe.cidrs.some((c) => cidrContainsIp(c, ip)) && !fe.except.some((x) => cidrContainsIp(x, ip));
      }
    }
  };
  return networkFlows(networkProps(config, config.namespace)).some(
    (f) =>
      matches(f.from, from) && matches(f.to, to) && f.ports.some((p) => p.port === port && p.protocol === protocol),
  );
}

const PROBE_PORTS: [number, string][] = [
  [8089, "TCP"],
  [53, "UDP"],
  [53, "TCP"],
  [80, "TCP"],
  [443, "TCP"],
  [5432, "TCP"],
  [5678, "TCP"],
  [5679, "TCP"],
  [6379, "TCP"],
  [6443, "TCP"],
  [8008, "TCP"],
  [9121, "TCP"],
  [22, "TCP"],
];

function worldOf(config: StackConfig, run: StackRun): World {
  const ns = run.manifests.find((m) => m.kind === "Namespace");
  return {
    policies: run.manifests.filter((m) => m.kind === "NetworkPolicy") as unknown as NetworkPolicy[],
    namespaces: { [config.namespace]: (ns?.metadata.labels ?? {}) as Record<string, string> },
  };
}

function matrixCases(config: StackConfig, run: StackRun) {
  const actors = actorsOf(config, run);
  const world = worldOf(config, run);
  const sources = Object.values(actors.pods);
  const targets: [string, Endpoint][] = [
    ...Object.values(actors.pods).map((p): [string, Endpoint] => [p.name, { pod: p }]),
    ...Object.entries(actors.addresses).map(([name, ip]): [string, Endpoint] => [name, { ip }]),
  ];
  const mismatches: string[] = [];
  let allowed = 0;
  let checked = 0;
  for (const s of sources) {
    for (const [targetName, target] of targets) {
      if ("pod" in target && target.pod === s) continue;
      // Traffic between other namespaces and the outside is not this stack's to govern.
      const touchesStack =
        s.namespace === config.namespace || ("pod" in target && target.pod.namespace === config.namespace);
      if (!touchesStack) continue;
      for (const [port, protocol] of PROBE_PORTS) {
        const actual = mayConnect(world, { pod: s }, target, port, protocol);
        const expected = flowAllows(config, { pod: s }, target, port, protocol);
        checked++;
        if (actual) allowed++;
        if (actual !== expected) {
          mismatches.push(`${s.name} -> ${targetName}:${port}/${protocol}: policies ${actual}, flows ${expected}`);
        }
      }
    }
  }
  return { mismatches, allowed, checked, actors, world };
}

describe.each(["staging", "prod"])("stack %s: the full flow matrix", (stack) => {
  let run: StackRun;
  let config: StackConfig;
  let can: (from: string, to: string, port: number, protocol?: string) => boolean;
  let matrix: ReturnType<typeof matrixCases>;
  beforeAll(async () => {
    run = await runStackFile(stack);
    config = parseStackConfig(stack, rawStackConfig(stack));
    matrix = matrixCases(config, run);
    const { actors, world } = matrix;
    can = (from, to, port, protocol = "TCP") => {
      const source = actors.pods[from];
      if (!source) throw new Error(`no actor ${from}`);
      const target: Endpoint = actors.pods[to] ? { pod: actors.pods[to] } : { ip: actors.addresses[to] as string };
      return mayConnect(world, { pod: source }, target, port, protocol);
    };
  });

  it("the rendered policies allow exactly what the flow table declares", () => {
    const { mismatches, allowed, checked } = matrix;
    expect(mismatches).toEqual([]);
    expect(checked).toBeGreaterThan(1000);
    expect(allowed).toBeGreaterThan(20);
  });

  it("every intended flow is open", () => {
    expect(can("edge-proxy", "n8n-main", PORTS.n8n)).toBe(true);
    expect(can("n8n-main", "postgres-primary", PORTS.postgres)).toBe(true);
    expect(can("n8n-worker", "postgres-primary", PORTS.postgres)).toBe(true);
    expect(can("n8n-worker", "n8n-redis", PORTS.redis)).toBe(true);
    expect(can("n8n-main", "kube-dns", 53, "UDP")).toBe(true);
    expect(can("postgres-replica", "postgres-primary", PORTS.postgres)).toBe(true);
    expect(can("postgres-primary", "postgres-replica", PORTS.patroni)).toBe(true);
    expect(can("postgres-primary", "api-server", 443)).toBe(true);
    expect(can("postgres-primary", "s3", 443)).toBe(true);
    expect(can("n8n-postgres-bootstrap", "postgres-primary", PORTS.postgres)).toBe(true);
    expect(can("n8n-postgres-dump", "postgres-replica", PORTS.postgres)).toBe(true);
    expect(can("n8n-postgres-dump", "s3", 443)).toBe(true);
    expect(can("n8n-worker", "internet", 443)).toBe(true);
    expect(can("prometheus", "n8n-worker", PORTS.n8n)).toBe(true);
    expect(can("prometheus", "postgres-primary", PORTS.patroni)).toBe(true);
    expect(can("prometheus", "n8n-redis", PORTS.redisExporter)).toBe(true);
    // cert-manager's HTTP-01 solver answers the challenge through the edge's proxy.
    expect(can("edge-proxy", "acme-solver", 8089)).toBe(true);
  });

  it("and nothing else: the flows that must stay closed", () => {
    // Workers reach the database, not Patroni's API, and never a replica.
    expect(can("n8n-worker", "postgres-primary", PORTS.patroni)).toBe(false);
    expect(can("n8n-worker", "postgres-replica", PORTS.postgres)).toBe(false);
    // Redis talks to DNS and nobody else.
    expect(can("n8n-redis", "kube-dns", 53, "UDP")).toBe(true);
    for (const [to, port] of [
      ["internet", 443],
      ["postgres-primary", 5432],
      ["n8n-main", 5678],
      ["api-server", 443],
    ] as const) {
      expect(can("n8n-redis", to, port), `redis -> ${to}`).toBe(false);
    }
    // The edge's proxy reaches n8n's HTTP port only on main and webhook processors; another
    // Gateway's proxy in the same namespace reaches nothing.
    if (config.edge.gateway) {
      expect(can("other-gateway-proxy", "n8n-main", PORTS.n8n)).toBe(false);
      expect(can("other-gateway-proxy", "acme-solver", 8089)).toBe(false);
    }
    expect(can("edge-proxy", "postgres-primary", PORTS.postgres)).toBe(false);
    expect(can("edge-proxy", "n8n-worker", PORTS.n8n)).toBe(false);
    expect(can("edge-proxy", "n8n-redis", PORTS.redis)).toBe(false);
    // Nothing outside the namespace reaches the database.
    for (const from of ["other-namespace", "edge-proxy", "prometheus", "kube-dns", "keda-operator"]) {
      expect(can(from, "postgres-primary", PORTS.postgres), from).toBe(false);
    }
    // Workflows cannot reach private ranges, the cloud metadata service, or the task broker of another pod.
    expect(can("n8n-worker", "private-host", 443)).toBe(false);
    expect(can("n8n-worker", "cloud-metadata", 80)).toBe(false);
    expect(can("n8n-worker", "n8n-main", PORTS.runnerBroker)).toBe(false);
    // The solver is reachable from the edge's proxy only, on its port only.
    expect(can("other-namespace", "acme-solver", 8089)).toBe(false);
    expect(can("edge-proxy", "acme-solver", 80)).toBe(false);
    // A stray pod in the namespace gets nothing but DNS.
    expect(can("rogue-in-namespace", "postgres-primary", PORTS.postgres)).toBe(false);
    expect(can("rogue-in-namespace", "n8n-redis", PORTS.redis)).toBe(false);
    expect(can("rogue-in-namespace", "internet", 443)).toBe(false);
    // No SSH anywhere.
    expect(can("n8n-main", "internet", 22)).toBe(false);
  });
});

describe("variants", () => {
  it("KEDA mode lets the KEDA operator, and only it, read the queue length", async () => {
    const raw = { domain: "n8n.example.com", workers: { queueScaling: "keda" } };
    const config = parseStackConfig("keda", raw);
    const run = await runProgram("keda", raw);
    const { actors, world, mismatches } = matrixCases(config, run);
    expect(mismatches).toEqual([]);
    const keda = actors.pods["keda-operator"] as Pod;
    const redis = actors.pods["n8n-redis"] as Pod;
    expect(mayConnect(world, { pod: keda }, { pod: redis }, PORTS.redis)).toBe(true);
    expect(mayConnect(world, { pod: actors.pods["other-namespace"] as Pod }, { pod: redis }, PORTS.redis)).toBe(false);
  });

  it("narrow egress CIDRs drop excepts they do not contain (Kubernetes would reject them)", async () => {
    const run = await runProgram("narrow", {
      domain: "n8n.example.com",
      network: { egress: { cidrs: ["52.0.0.0/8"] } },
    });
    const egress = findManifest(run, "NetworkPolicy", "allow-n8n-to-internet-egress");
    const blocks = (egress.spec as { egress: { to: { ipBlock: { cidr: string; except?: string[] } }[] }[] }).egress[0]
      ?.to;
    expect(blocks).toEqual([{ ipBlock: { cidr: "52.0.0.0/8" } }]);
  });
});
