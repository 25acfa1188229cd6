import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { PROJECT } from "../components/kubernetes/names";
import { apiVersionKind, CLUSTER_SCOPED_KINDS, type Manifest, summary } from "../render/manifests";
import { renderFiles, type StackRun } from "../render/run";
import { listStacks, placeholderFor, stackConfigFromYaml } from "../render/stack-files";
import { ROOT, runProgram, runStackFile } from "./harness";

const LABELS = [
  "app.kubernetes.io/name",
  "app.kubernetes.io/instance",
  "app.kubernetes.io/component",
  "app.kubernetes.io/part-of",
  "app.kubernetes.io/version",
  "app.kubernetes.io/managed-by",
];

describe("render helpers (pure)", () => {
  it("maps type tokens to apiVersion and kind", () => {
    expect(apiVersionKind("kubernetes:apps/v1:Deployment")).toEqual({ apiVersion: "apps/v1", kind: "Deployment" });
    expect(apiVersionKind("kubernetes:core/v1:Secret")).toEqual({ apiVersion: "v1", kind: "Secret" });
    expect(apiVersionKind("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")?.apiVersion).toBe("autoscaling/v2");
    expect(apiVersionKind("pulumi:providers:kubernetes")).toBeUndefined();
    expect(apiVersionKind("random:index/randomPassword:RandomPassword")).toBeUndefined();
  });

  it("turns secure values into placeholders and marks their keys secret", () => {
    const file = stackConfigFromYaml(
      "config:\n  n8n-cluster:domain: a.example.com\n  n8n-cluster:encryptionKey:\n    secure: v1:abc\n  n8n-cluster:workers:\n    minReplicas: 2\n",
      PROJECT,
    );
    expect(file.config["n8n-cluster:domain"]).toBe("a.example.com");
    expect(file.config["n8n-cluster:encryptionKey"]).toBe(placeholderFor("encryptionKey"));
    expect(file.config["n8n-cluster:workers"]).toBe('{"minReplicas":2}');
    expect(file.secretKeys).toEqual(["n8n-cluster:encryptionKey"]);
  });

  it("sums workloads now and at HPA maximum", () => {
    const pod = (cpu: string, memory: string) => ({
      template: {
        spec: { containers: [{ name: "c", resources: { requests: { cpu, memory }, limits: { cpu, memory } } }] },
      },
    });
    const manifests: Manifest[] = [
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "w" },
        spec: { replicas: 2, ...pod("500m", "1Gi") },
      },
      {
        apiVersion: "autoscaling/v2",
        kind: "HorizontalPodAutoscaler",
        metadata: { name: "w" },
        spec: { scaleTargetRef: { kind: "Deployment", name: "w" }, maxReplicas: 10 },
      },
    ];
    const text = summary("s", manifests, 2);
    expect(text).toMatch(/now\s+1\s+2Gi\s+1\s+2Gi/);
    expect(text).toMatch(/at HPA max\s+5\s+10Gi\s+5\s+10Gi/);
  });

  it("refuses to write a secret value", () => {
    const run: StackRun = {
      stack: "s",
      resources: [
        {
          type: "kubernetes:core/v1:ConfigMap",
          name: "leak",
          custom: true,
          protect: false,
          ignoreChanges: [],
          urn: "urn:pulumi:s::p::kubernetes:core/v1:ConfigMap::leak",
          dependencies: [],
          propertyDependencies: {},
          inputs: { metadata: { name: "leak", namespace: "n" }, data: { k: "s3cr3t-value" } },
        },
      ],
      manifests: [],
      exports: {},
      secretValues: ["s3cr3t-value"],
    };
    expect(() => renderFiles(run)).toThrow(/would contain a secret value/);
  });
});

describe.each(["staging", "prod"])("stack %s under mocks", (stack) => {
  let run: StackRun;
  beforeAll(async () => {
    run = await runStackFile(stack);
  });

  it("renders every Kubernetes object with apiVersion, kind, name and namespace", () => {
    expect(run.manifests.length).toBeGreaterThan(0);
    const namespace = run.manifests.find((m) => m.kind === "Namespace")?.metadata.name;
    expect(namespace).toBe(`n8n-${stack}`);
    for (const m of run.manifests) {
      expect(m.apiVersion, JSON.stringify(m.metadata)).toMatch(/^([a-z0-9.-]+\/)?v[0-9a-z]+$/);
      expect(m.kind).toMatch(/^[A-Z]/);
      expect(m.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      if (CLUSTER_SCOPED_KINDS.has(m.kind)) continue;
      // Only the Grafana dashboard lives elsewhere: where Grafana's sidecar looks for it.
      const expected = m.metadata.name === `n8n-${stack}-dashboard` ? "monitoring" : namespace;
      expect(m.metadata.namespace, `${m.kind}/${m.metadata.name}`).toBe(expected);
    }
  });

  it("labels every object with the app.kubernetes.io set", () => {
    for (const m of run.manifests) {
      const labels = (m.metadata.labels ?? {}) as Record<string, string>;
      for (const l of LABELS) expect(labels[l], `${m.kind}/${m.metadata.name} ${l}`).toBeTruthy();
      expect(labels["app.kubernetes.io/instance"]).toBe(stack);
    }
  });

  it("parents every resource to a registered component or the stack", () => {
    const names = new Set(run.resources.map((r) => r.name));
    for (const r of run.resources) if (r.parent !== undefined) expect(names, r.name).toContain(r.parent);
    const components = run.resources.filter((r) => !r.custom);
    for (const c of components) expect(c.type).toMatch(/^n8n-cluster:[a-z0-9]+:[A-Z][A-Za-z0-9]+$/);
  });

  it("gives every Kubernetes object an explicit provider (no ambient kubeconfig by accident)", () => {
    expect(run.resources.filter((r) => r.type === "pulumi:providers:kubernetes")).toHaveLength(1);
  });

  it("writes no secret value into the render's files", () => {
    const files = renderFiles(run);
    expect(run.secretValues.length).toBeGreaterThanOrEqual(5);
    for (const text of Object.values(files)) for (const s of run.secretValues) expect(text).not.toContain(s);
  });
});

describe("a configured encryption key never reaches the render", () => {
  it("is absent from manifests, resources and summary", async () => {
    const key = "configured-key-that-must-not-leak-0123456789";
    const run = await runProgram("leakcheck", { domain: "n8n.example.com" }, { encryptionKey: key });
    expect(run.secretValues).toContain(key);
    const files = renderFiles(run);
    for (const text of Object.values(files)) expect(text).not.toContain(key);
  });
});

describe("npm run render (the command)", () => {
  const tsx = join(ROOT, "node_modules", ".bin", "tsx");
  const render = (...args: string[]) =>
    spawnSync(tsx, [join(ROOT, "scripts", "render.ts"), ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "render-"));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it.each(["staging", "prod"])("renders %s: exit 0, both files, summary", (stack) => {
    const res = render(stack);
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toContain(`stack ${stack}:`);
    expect(res.stdout).toMatch(/kind\s+count/);
    const docs = parseAllDocuments(readFileSync(join(ROOT, "out", stack, "manifests.yaml"), "utf8"));
    expect(docs.length).toBeGreaterThan(0);
    for (const d of docs) expect(d.errors).toEqual([]);
    const resources = JSON.parse(readFileSync(join(ROOT, "out", stack, "resources.json"), "utf8")) as {
      type: string;
      name: string;
      parent: string | null;
      inputs: unknown;
    }[];
    expect(resources.some((r) => r.type.startsWith("random:"))).toBe(true);
    for (const r of resources) expect(Object.keys(r).sort()).toEqual(["inputs", "name", "parent", "type"]);
    // The committed stack's secure values are stand-ins; generated ones never print.
    expect(res.stdout + res.stderr).not.toMatch(/[A-Za-z0-9]{40,}/);
  });

  it("names the stacks that exist for an unknown stack, in one line", () => {
    const res = render("nosuchstack");
    expect(res.status).not.toBe(0);
    const lines = res.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(listStacks(ROOT).join(", "));
    expect(lines[0]).toContain("nosuchstack");
  });

  it("exits non-zero with the config message, no stack trace, on an invalid stack file", () => {
    writeFileSync(
      join(tmp, "Pulumi.broken.yaml"),
      "config:\n  n8n-cluster:domain: n8n.example.com\n  n8n-cluster:workers:\n    minReplicas: 3\n    maxReplicas: 2\n",
    );
    const res = render("broken", "--config-dir", tmp);
    expect(res.status).toBe(1);
    expect(res.stderr.trim()).toBe('stack "broken": workers.maxReplicas (2) must be >= workers.minReplicas (3)');
  });

  it("accepts a secure encryption key in the stack file and keeps its stand-in out of the output", () => {
    writeFileSync(
      join(tmp, "Pulumi.sec.yaml"),
      "config:\n  n8n-cluster:domain: n8n.example.com\n  n8n-cluster:encryptionKey:\n    secure: v1:AAAABBBBCCCC\n",
    );
    const res = render("sec", "--config-dir", tmp);
    expect(res.status, res.stderr).toBe(0);
    const yaml = readFileSync(join(ROOT, "out", "sec", "manifests.yaml"), "utf8");
    expect(yaml).not.toContain(placeholderFor("encryptionKey"));
    expect(yaml).not.toContain("v1:AAAABBBBCCCC");
    rmSync(join(ROOT, "out", "sec"), { recursive: true, force: true });
  });

  it("writes parseable YAML whose objects match the in-process run", async () => {
    const run = await runStackFile("staging");
    render("staging");
    const fromFile = parseAllDocuments(readFileSync(join(ROOT, "out", "staging", "manifests.yaml"), "utf8")).map(
      (d) => d.toJS() as Manifest,
    );
    expect(fromFile.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual(
      run.manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort(),
    );
    expect(parse("a: 1")).toEqual({ a: 1 });
  });
});

describe("what the API server keeps", () => {
  // Found by the engine suite: the API server drops an empty metadata map, so an object sent with
  // `annotations: {}` differs from its live self on every preview (--expect-no-changes fails).
  it.each(["staging", "prod"])("%s: no object carries an empty labels or annotations map", async (stack) => {
    const run = await runStackFile(stack);
    const empty = run.manifests.flatMap((m) =>
      (["labels", "annotations"] as const)
        .filter((k) => {
          const v = (m.metadata as Record<string, unknown>)[k];
          return v !== undefined && Object.keys(v as object).length === 0;
        })
        .map((k) => `${m.kind}/${m.metadata.name}: metadata.${k}`),
    );
    expect(empty).toEqual([]);
  });
});
