/**
 * `pulumi up` of both stacks with the real engine and Kubernetes provider against a real API server
 * (scripts/engine-setup.sh builds them; README: The engine test loop). The program runs through the
 * language-host stand-in (support/engine/program-host.ts); random and aws are stand-in providers
 * (support/engine/providers), the AWS one backed by moto. kwok's nodes run no container.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { NAMES } from "../../components/kubernetes/names";
import { type EngineWorld, liveOf, notReady, startWorld } from "../../support/engine/cluster";
import { KubeError, objectPath } from "../../support/engine/kube";
import { type EngineStack, type PreviewJson, previewJson } from "../../support/engine/pulumi";
import { manifests, ROOT, waitFor } from "../../support/servers";
import { rawStackConfig, runProgram } from "../harness";

const STACKS = ["staging", "prod"] as const;
let world: EngineWorld;
const stacks: Record<string, EngineStack> = {};

beforeAll(async () => {
  world = await startWorld();
  for (const s of STACKS) stacks[s] = await world.stack(s);
}, 600_000);

afterAll(async () => {
  await world?.stop();
});

function namespaceOf(stack: string): string {
  const ns = manifests(stack).find((m) => m.kind === "Namespace");
  if (!ns) throw new Error(`${stack} renders no Namespace`);
  return ns.metadata.name;
}

describe.sequential("pulumi up with the real engine", () => {
  for (const stack of STACKS) {
    it(`${stack}: up completes; every rendered object exists; workloads are ready; Jobs complete`, async () => {
      const run = await stacks[stack]!.up();
      expect(run.stdout).toMatch(/Resources:/);
      const missing: string[] = [];
      const waiting: string[] = [];
      for (const m of manifests(stack)) {
        const live = await liveOf(world.kube, m);
        if (!live) {
          missing.push(`${m.kind}/${m.metadata.namespace ?? ""}/${m.metadata.name}`);
          continue;
        }
        const why = notReady(live);
        if (why) waiting.push(why);
      }
      expect(missing).toEqual([]);
      // Pulumi waited for them: right after `up`, nothing is still rolling out.
      expect(waiting).toEqual([]);
    });

    it(`${stack}: the Namespace's restricted level is enforced by the PodSecurity admission plugin`, async () => {
      const ns = namespaceOf(stack);
      // A pod the "baseline" level admits but "restricted" does not: no seccomp profile, root allowed,
      // privilege escalation allowed, capabilities kept.
      const pod = (name: string, securityContext: Record<string, unknown>) => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: ns },
        spec: {
          containers: [
            {
              name: "c",
              image: "busybox:1.37",
              securityContext,
              resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "10m", memory: "16Mi" } },
            },
          ],
        },
      });
      const pods = objectPath("v1", "Pod", undefined, ns);
      const err = await world.kube
        .json("POST", pods, pod("baseline-probe", { allowPrivilegeEscalation: true }))
        .catch((e) => e);
      expect(err).toBeInstanceOf(KubeError);
      expect((err as KubeError).status, (err as KubeError).body).toBe(403);
      expect(JSON.parse((err as KubeError).body).message).toMatch(/violates PodSecurity "restricted:latest"/);
      // The same pod made restricted is admitted (dry run): the refusal is the level, not the pod.
      const restricted = {
        allowPrivilegeEscalation: false,
        runAsNonRoot: true,
        runAsUser: 1000,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
      };
      await world.kube.json("POST", `${pods}?dryRun=All`, pod("restricted-probe", restricted));
      // The program's own pods were admitted under the same level: they exist.
      expect((await world.kube.list(pods)).length).toBeGreaterThan(0);
    });

    it(`${stack}: a second preview --expect-no-changes passes`, async () => {
      const run = await stacks[stack]!.preview(["--expect-no-changes", "--diff"], { allowFailure: true });
      expect(run.code, run.stdout + run.stderr).toBe(0);
    });
  }
});

describe.sequential("immutable fields: a data volume's size", () => {
  const sts = () => objectPath("apps/v1", "StatefulSet", NAMES.postgres, namespaceOf("staging"));
  const uids = async (kind: "Pod" | "PersistentVolumeClaim") =>
    (await world.kube.list(objectPath("v1", kind, undefined, namespaceOf("staging"))))
      // The members and their volumes (n8n-postgres-0, pgdata-n8n-postgres-0), not the Jobs' pods.
      .filter((o) => new RegExp(`^([a-z]+-)?${NAMES.postgres}-\\d+$`).test(o.metadata.name))
      .map((o) => `${o.metadata.name}=${o.metadata.uid}`)
      .sort();

  it("staging: a new postgres.storageSize fails the preview (StatefulSet protected), and changes nothing", async () => {
    const before = (await world.kube.get(sts())).metadata.uid;
    await staging().configSet("n8n-cluster:postgres.storageSize", "20Gi", false, true);
    const run = await staging().preview([], { allowFailure: true });
    expect(run.code).not.toBe(0);
    expect(run.stdout + run.stderr).toMatch(
      /unable to replace resource[\s\S]*postgres-statefulset[\s\S]*marked for protection/,
    );
    expect((await world.kube.get(sts())).metadata.uid).toBe(before);
  });

  it("staging: the resize runbook (PVCs grown, StatefulSet deleted with --cascade=orphan, up --refresh) keeps the PVCs; members roll one by one", async () => {
    const ns = namespaceOf("staging");
    const before = {
      sts: (await world.kube.get(sts())).metadata.uid,
      pods: await uids("Pod"),
      pvcs: await uids("PersistentVolumeClaim"),
    };
    expect(before.pods.length).toBeGreaterThan(0);
    // 1. Grow each PVC (its StorageClass allows expansion): kubectl patch pvc ...
    for (const pvc of before.pvcs.map((p) => p.split("=")[0] as string)) {
      await world.kube.mergePatch(objectPath("v1", "PersistentVolumeClaim", pvc, ns), {
        spec: { resources: { requests: { storage: "20Gi" } } },
      });
    }
    // 2. kubectl delete statefulset n8n-postgres --cascade=orphan: the pods keep running.
    await world.kube.json("DELETE", sts(), { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: "Orphan" });
    await waitFor("the StatefulSet gone", async () => ((await world.kube.find(sts())) ? undefined : true));
    // Orphaned, not deleted: the same members still run.
    expect(await uids("Pod")).toEqual(before.pods);
    // 3. pulumi up --refresh with the new size (already in config): the refresh drops the missing
    //    StatefulSet from the state, the up creates it with the new template, and it adopts the pods.
    await staging().up(["--refresh"]);
    const after = await world.kube.get(sts());
    const events = (await world.kube.list(objectPath("v1", "Event", undefined, ns)))
      .filter((e) => JSON.stringify(e.involvedObject ?? {}).includes(NAMES.postgres))
      .map(
        (e) =>
          `${(e.involvedObject as { kind: string; name: string }).kind}/${(e.involvedObject as { name: string }).name} ${e.reason}: ${e.message}`,
      );
    const why = `${JSON.stringify(after.status)}\n${events.join("\n")}`;
    expect(after.metadata.uid).not.toBe(before.sts);
    expect(JSON.stringify(after.spec)).toContain('"storage":"20Gi"');
    // The volumes are the same PVCs. The members are then rolled one at a time, as for any change
    // of their template: max_wal_size follows the volume size (components/postgres/spilo.ts).
    expect(await uids("PersistentVolumeClaim"), why).toEqual(before.pvcs);
    const rolled = events.filter((e) => /^StatefulSet\/n8n-postgres SuccessfulDelete: Delete Pod/.test(e));
    expect(rolled.length, why).toBe(before.pods.length);
    await waitFor("the new StatefulSet owns the pods", async () => {
      const pods = await world.kube.list(objectPath("v1", "Pod", undefined, ns));
      const owned = pods.filter((p) =>
        p.metadata.ownerReferences?.some((o) => o.kind === "StatefulSet" && o.name === NAMES.postgres),
      );
      return owned.length === before.pods.length || undefined;
    });
    // The guard is still on, and nothing else is left to change.
    const { deployment } = await staging().exportState();
    expect(deployment.resources.find((r) => r.urn.endsWith("::n8n-postgres-statefulset"))?.protect).toBe(true);
    const run = await staging().preview(["--expect-no-changes"], { allowFailure: true });
    expect(run.code, run.stdout).toBe(0);
  });
});

/** Polls an object's field while `during` runs; returns every value seen (in order, deduplicated). */
async function watchField<T>(read: () => Promise<T>, during: () => Promise<unknown>, everyMs = 200): Promise<T[]> {
  const seen: T[] = [];
  let done = false;
  const poll = (async () => {
    while (!done) {
      try {
        const v = await read();
        if (seen.length === 0 || seen.at(-1) !== v) seen.push(v);
      } catch {
        // the next round reads again
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  try {
    await during();
  } finally {
    done = true;
    await poll;
  }
  return seen;
}

describe.sequential("the HPA owns the replica count", () => {
  it("prod: workers scaled to 9 through the scale subresource stay at 9 through an env change; no conflict, no scale-down", async () => {
    const ns = namespaceOf("prod");
    const path = objectPath("apps/v1", "Deployment", NAMES.worker, ns);
    // What the HPA controller does: an update of the scale subresource, as kube-controller-manager.
    const scale = await world.kube.get(`${path}/scale`);
    (scale.spec as { replicas: number }).replicas = 9;
    await world.kube.json("PUT", `${path}/scale?fieldManager=kube-controller-manager`, scale);
    await waitFor("9 ready workers", async () => {
      const d = await world.kube.get(path);
      return (d.status as { readyReplicas?: number }).readyReplicas === 9 || undefined;
    });
    // An env change of the workers: their concurrency.
    const prod = stacks.prod!;
    await prod.configSet("n8n-cluster:workers.concurrency", "11", false, true);
    const seen = await watchField(
      async () => ((await world.kube.get(path)).spec as { replicas: number }).replicas,
      () => prod.up(),
    );
    expect(
      seen.every((n) => n === 9),
      `spec.replicas seen during the update: ${seen.join(", ")}`,
    ).toBe(true);
    const after = await world.kube.get(path);
    expect((after.spec as { replicas: number }).replicas).toBe(9);
    // The update reached the pods: the new template carries the new concurrency.
    expect(JSON.stringify((after.spec as { template: unknown }).template)).toContain("--concurrency=11");
  });
});

/** `type::name` of each resource of a mock render whose inputs differ, appear or disappear. */
async function expectedChanges(stack: string, path: string, value: unknown) {
  const key = (r: { type: string; name: string }) => `${r.type}::${r.name}`;
  const before = await runProgram(stack, rawStackConfig(stack));
  const raw = structuredClone(rawStackConfig(stack)) as Record<string, Record<string, unknown>>;
  const [section, field] = path.split(".") as [string, string];
  raw[section] = { ...(raw[section] ?? {}), [field]: value };
  const after = await runProgram(stack, raw);
  // The mock runtime draws new random values (passwords, access keys) on every run: they are
  // not a change, so both runs' generated values read the same.
  const generated = new Set([...before.secretValues, ...after.secretValues]);
  const redact = (v: unknown): unknown =>
    typeof v === "string"
      ? generated.has(v)
        ? "<generated>"
        : v
      : Array.isArray(v)
        ? v.map(redact)
        : v && typeof v === "object"
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redact(x)]))
          : v;
  const inputsOf = (run: typeof before) =>
    new Map(run.resources.filter((r) => r.custom).map((r) => [key(r), redact(r.inputs)]));
  const b = inputsOf(before);
  const a = inputsOf(after);
  return {
    create: [...a.keys()].filter((k) => !b.has(k)).sort(),
    delete: [...b.keys()].filter((k) => !a.has(k)).sort(),
    update: [...a.keys()].filter((k) => b.has(k) && !isDeepStrictEqual(b.get(k), a.get(k))).sort(),
  };
}

/** The same, from the real engine's `pulumi preview --json`. */
function previewChanges(preview: PreviewJson) {
  const key = (urn: string) => {
    // urn:pulumi:<stack>::<project>::<qualified type>::<name>
    const [, , qualifiedType, name] = urn.split("::") as string[];
    return `${(qualifiedType ?? "").split("$").pop()}::${name}`;
  };
  const of = (...ops: string[]) =>
    preview.steps
      .filter((s) => ops.includes(s.op) && !s.urn.includes("::pulumi:pulumi:Stack::"))
      .map((s) => key(s.urn))
      .filter((k) => !k.startsWith("n8n-cluster:"))
      .sort();
  return { create: of("create"), delete: of("delete"), update: of("update", "replace", "create-replacement") };
}

describe.sequential("a real change: an n8n version bump", () => {
  const NEXT = "2.40.8";

  it("staging: the preview holds exactly the updates and replacements the render predicts", async () => {
    const staging = stacks.staging!;
    await staging.configSet("n8n-cluster:n8n.version", NEXT, false, true);
    const preview = previewJson(await staging.preview(["--json"]));
    const expected = await expectedChanges("staging", "n8n.version", NEXT);
    expect(previewChanges(preview)).toEqual(expected);
    // The dump Job is named after the release (an immutable name): the engine replaces it, and
    // updates the n8n Deployments in place.
    const op = (suffix: string) => preview.steps.filter((s) => s.urn.endsWith(suffix)).map((s) => s.op);
    expect(op("::n8n-postgres-pre-upgrade-dump")).toContain("replace");
    expect(op("::n8n-main-deployment")).toEqual(["update"]);
  });

  it("staging: up applies them in the declared order: pre-upgrade dump, main, then workers", async () => {
    const ns = namespaceOf("staging");
    const order: string[] = [];
    const generations = new Map<string, number>();
    for (const name of [NAMES.main, NAMES.worker]) {
      const d = await world.kube.get(objectPath("apps/v1", "Deployment", name, ns));
      generations.set(name, d.metadata.generation as number);
    }
    const dumpName = `${NAMES.postgresPreUpgradeDump}-${NEXT.replaceAll(".", "-")}`;
    const seen = await watchField(
      async () => {
        if (!order.includes("dump") && (await world.kube.find(objectPath("batch/v1", "Job", dumpName, ns))))
          order.push("dump");
        for (const name of [NAMES.main, NAMES.worker]) {
          if (order.includes(name)) continue;
          const d = await world.kube.get(objectPath("apps/v1", "Deployment", name, ns));
          if ((d.metadata.generation as number) > (generations.get(name) ?? 0)) order.push(name);
        }
        return order.join(",");
      },
      () => staging().up(),
      100,
    );
    expect(seen.length).toBeGreaterThan(0);
    expect(order).toEqual(["dump", NAMES.main, NAMES.worker]);
    const job = await world.kube.get(objectPath("batch/v1", "Job", dumpName, ns));
    expect(notReady(job)).toBeUndefined();
  });
});

function staging() {
  return stacks.staging!;
}

describe.sequential("the policy pack under the real analyzer", () => {
  const pack = (stack: string) => [
    "--policy-pack",
    join(ROOT, "policies"),
    "--policy-pack-config",
    join(ROOT, "policies", `config.${stack}.json`),
  ];

  for (const stack of STACKS) {
    it(`${stack}: preview with the pack and its stack config passes`, async () => {
      const run = await stacks[stack]!.preview(pack(stack), { allowFailure: true });
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).toMatch(/Policies:|n8n-cluster-policies/);
    });
  }

  it("staging: a literal encryption key added by a transform fails the preview with the policy's message", async () => {
    const run = await stacks.staging!.preview(pack("staging"), {
      allowFailure: true,
      env: { ENGINE_TRANSFORM: join(ROOT, "support", "engine", "fixtures", "literal-key-transform.ts") },
    });
    expect(run.code).not.toBe(0);
    expect(run.stdout).toContain("n8n-encryption-key-from-secret");
    expect(run.stdout).toContain("N8N_ENCRYPTION_KEY must use valueFrom.secretKeyRef");
  });
});

/**
 * The pulumi/actions steps of the users' workflows, as CLI commands: each `with:` input maps to the
 * flag the action passes (its documented inputs); an input this map does not know fails the test,
 * so a workflow that drifts from what this suite runs is caught.
 */
const ACTION_INPUTS: Record<string, (v: string, stack: string) => string[]> = {
  command: () => [],
  "stack-name": () => [],
  "cloud-url": () => [],
  policyPacks: (v) => ["--policy-pack", join(ROOT, v)],
  policyPackConfigs: (v, stack) => ["--policy-pack-config", join(ROOT, v.replace("${{ matrix.stack }}", stack))],
  refresh: (v) => (v === "true" ? ["--refresh"] : []),
  // Posting the preview on the pull request is the action's own step, not the CLI's.
  "comment-on-pr": () => [],
  "github-token": () => [],
  diff: (v) => (v === "true" ? ["--diff"] : []),
};

function workflowCommands(file: string): { stack: string; args: string[] }[] {
  const wf = parseYaml(readFileSync(join(ROOT, ".github", "workflows", file), "utf8")) as {
    jobs: Record<
      string,
      { strategy?: { matrix?: { stack?: string[] } }; steps: { uses?: string; with?: Record<string, unknown> }[] }
    >;
  };
  const out: { stack: string; args: string[] }[] = [];
  for (const job of Object.values(wf.jobs)) {
    for (const step of job.steps.filter((s) => s.uses?.startsWith("pulumi/actions@"))) {
      const inputs = step.with ?? {};
      for (const stack of job.strategy?.matrix?.stack ?? []) {
        const args = [String(inputs.command)];
        if (args[0] === "up") args.push("--yes");
        for (const [k, v] of Object.entries(inputs)) {
          const map = ACTION_INPUTS[k];
          if (!map) throw new Error(`${file}: pulumi/actions input "${k}" is not run by this suite`);
          args.push(...map(String(v), stack));
        }
        out.push({ stack, args });
      }
    }
  }
  return out;
}

describe.sequential("the users' CI workflows, run against the control plane", () => {
  for (const file of ["preview.yml", "deploy.yml"]) {
    it(`${file}: every pulumi/actions step succeeds, stack by stack in the matrix's order`, async () => {
      const commands = workflowCommands(file);
      expect(commands.map((c) => c.stack)).toEqual(["staging", "prod"]);
      for (const c of commands) {
        const run = await stacks[c.stack]!.program(c.args, { allowFailure: true });
        expect(run.code, `${c.args.join(" ")}\n${run.stderr}\n${run.stdout.slice(-8000)}`).toBe(0);
      }
    });
  }
});

/** Every value of the stack's Secrets in the cluster that is long enough to be generated. */
async function generatedSecretValues(stack: string): Promise<{ where: string; value: string }[]> {
  const secrets = await world.kube.list(objectPath("v1", "Secret", undefined, namespaceOf(stack)));
  return secrets
    .flatMap((s) =>
      Object.entries(s.data ?? {}).map(([key, b64]) => ({
        where: `${s.metadata.name}/${key}`,
        value: Buffer.from(b64, "base64").toString("utf8"),
      })),
    )
    .filter((v) => v.value.length >= 16);
}

describe.sequential("secrets in the engine's state", () => {
  for (const stack of STACKS) {
    it(`${stack}: stack export holds no generated secret in plain text (nor base64)`, async () => {
      const values = await generatedSecretValues(stack);
      expect(values.length).toBeGreaterThan(0);
      const { text, deployment } = await stacks[stack]!.exportState();
      // A resource's ID is public by Pulumi's model (an IAM access key's ID is one): not a secret.
      const ids = new Set(deployment.resources.map((r) => r.id));
      const leaked = values.filter(
        ({ value }) =>
          !ids.has(value) && (text.includes(value) || text.includes(Buffer.from(value).toString("base64"))),
      );
      expect(leaked.map((l) => l.where)).toEqual([]);
      expect(text).toContain("ciphertext");
    });
  }

  it("prod: stack output ownerPassword is [secret]; with --show-secrets it is the password in the cluster", async () => {
    const prod = stacks.prod!;
    const hidden = await prod.cli(["stack", "output", "ownerPassword", "--stack", "prod"]);
    expect(hidden.stdout.trim()).toBe("[secret]");
    const shown = await prod.cli(["stack", "output", "ownerPassword", "--stack", "prod", "--show-secrets"]);
    const password = shown.stdout.trim();
    expect(password.length).toBeGreaterThanOrEqual(16);
    expect((await generatedSecretValues("prod")).map((v) => v.value)).toContain(password);
  });
});

describe.sequential("benchmark: the engine's preview of prod against an empty program", () => {
  it("records pulumi preview of prod as a ratio to the preview of an empty program (same run)", async () => {
    const empty = await world.stack("bench");
    const rounds = 3;
    const times = { prod: [] as number[], empty: [] as number[] };
    for (let i = 0; i < rounds; i++) {
      times.empty.push(
        (
          await empty.preview([], {
            env: { ENGINE_PROGRAM: join(ROOT, "support", "engine", "fixtures", "empty-program.ts") },
          })
        ).ms,
      );
      times.prod.push((await stacks.prod!.preview()).ms);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const ratio = median(times.prod) / median(times.empty);
    mkdirSync(join(ROOT, "out"), { recursive: true });
    writeFileSync(join(ROOT, "out", "engine-bench.json"), JSON.stringify({ ...times, ratio }, null, 2));
    // A resource-free preview costs the CLI's and Node's start; prod's adds ~170 registrations and
    // the provider's dry-run applies. It must cost more, and not absurdly more.
    expect(ratio).toBeGreaterThan(1);
    expect(ratio).toBeLessThan(200);
  });
});

describe.sequential("the edge migration runbook: Ingress to Gateway API", () => {
  const NS = "n8n-migration";
  const ISSUER = "letsencrypt-migration";
  let stack: EngineStack;
  const live = (apiVersion: string, kind: string, name: string, ns?: string) =>
    world.kube.find(objectPath(apiVersion, kind, name, ns));
  const uid = async (apiVersion: string, kind: string, name: string, ns?: string) =>
    (await live(apiVersion, kind, name, ns))?.metadata.uid;
  /** metadata.generation of the n8n Deployments: a new pod template would raise it. */
  const generations = async () =>
    Object.fromEntries(
      await Promise.all(
        [NAMES.main, NAMES.worker].map(async (d) => [
          d,
          (await live("apps/v1", "Deployment", d, NS))?.metadata.generation,
        ]),
      ),
    );

  it("from edge.kind ingress, through keepIngress, to the Gateway alone: the ClusterIssuer is kept, nothing of n8n rolls", async () => {
    stack = await world.stack("migration");
    const staging = parseYaml(readFileSync(join(ROOT, "Pulumi.staging.yaml"), "utf8")) as {
      config: Record<string, unknown>;
    };
    const config = {
      ...staging.config,
      "n8n-cluster:namespace": NS,
      "n8n-cluster:domain": "n8n.migration.example.com",
      "n8n-cluster:edge": {
        kind: "ingress",
        clusterIssuer: ISSUER,
        createClusterIssuer: true,
        acmeEmail: "platform@example.com",
      },
    };
    writeFileSync(join(stack.dir, "Pulumi.migration.yaml"), JSON.stringify({ config }));
    await stack.up();
    const issuer = await uid("cert-manager.io/v1", "ClusterIssuer", ISSUER);
    const ingress = await uid("networking.k8s.io/v1", "Ingress", NAMES.editorRoute, NS);
    expect(issuer).toBeDefined();
    expect(ingress).toBeDefined();
    const before = await generations();

    // 1. The Gateway beside the Ingress; the Ingress keeps TLS and the issuer's solver.
    await stack.configSet("n8n-cluster:edge.kind", "gateway", false, true);
    await stack.configSet("n8n-cluster:edge.keepIngress", "true", false, true);
    await stack.up();
    const gateway = await live("gateway.networking.k8s.io/v1", "Gateway", NAMES.gateway, NS);
    expect(gateway).toBeDefined();
    expect(gateway?.metadata.annotations?.["cert-manager.io/cluster-issuer"]).toBeUndefined();
    expect(await uid("networking.k8s.io/v1", "Ingress", NAMES.editorRoute, NS)).toBe(ingress);
    expect(await uid("cert-manager.io/v1", "ClusterIssuer", ISSUER)).toBe(issuer);
    expect(await generations()).toEqual(before);

    // 4. Ingress off: the issuer moves to the Gateway's component by alias (same object), the
    // Gateway takes the issuer annotation, the Ingresses go.
    await stack.configSet("n8n-cluster:edge.keepIngress", "false", false, true);
    const plan = previewJson(await stack.preview(["--json"]));
    const opsOf = (name: string) => plan.steps.filter((st) => st.urn.endsWith(`::${name}`)).map((st) => st.op);
    expect(opsOf("n8n-gateway-clusterissuer")).not.toContain("create");
    expect(opsOf("n8n-ingress-clusterissuer")).not.toContain("delete");
    expect(opsOf("n8n-ingress-editor")).toEqual(["delete"]);
    await stack.up();
    expect(await uid("cert-manager.io/v1", "ClusterIssuer", ISSUER)).toBe(issuer);
    const solvers = (await live("cert-manager.io/v1", "ClusterIssuer", ISSUER))?.spec as {
      acme: { solvers: unknown[] };
    };
    expect(JSON.stringify(solvers.acme.solvers)).toContain("gatewayHTTPRoute");
    expect(
      (await live("gateway.networking.k8s.io/v1", "Gateway", NAMES.gateway, NS))?.metadata.annotations?.[
        "cert-manager.io/cluster-issuer"
      ],
    ).toBe(ISSUER);
    expect(await live("networking.k8s.io/v1", "Ingress", NAMES.editorRoute, NS)).toBeUndefined();
    expect(await generations()).toEqual(before);
  });
});

/** The bucket names moto holds (ListBuckets). */
async function motoBuckets(): Promise<string[]> {
  const res = await fetch(`${world.awsEndpoint}/`, {
    headers: {
      authorization:
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x",
    },
  });
  return [...(await res.text()).matchAll(/<Name>([^<]+)<\/Name>/g)].map((m) => m[1] as string);
}

describe.sequential("pulumi destroy", () => {
  it("prod: the protected encryption key and data stores stop it; the key, the data, the namespace and the buckets survive", async () => {
    const prod = stacks.prod!;
    const ns = namespaceOf("prod");
    const { deployment } = await prod.exportState();
    const buckets = deployment.resources.filter((r) => r.type === "aws:s3/bucket:Bucket").map((r) => r.id as string);
    expect(buckets.length).toBeGreaterThan(0);
    const pvcsBefore = (await world.kube.list(objectPath("v1", "PersistentVolumeClaim", undefined, ns))).length;
    expect(pvcsBefore).toBeGreaterThan(0);

    const run = await prod.cli(["destroy", "--yes", "--stack", "prod"], { allowFailure: true, timeoutMs: 900_000 });
    expect(run.code).not.toBe(0);
    expect(run.stdout + run.stderr).toMatch(/protected/);

    const after = (await prod.exportState()).deployment.resources;
    const key = after.find(
      (r) => r.type === "random:index/randomPassword:RandomPassword" && r.urn.includes("encryptionKey"),
    );
    expect(key?.protect).toBe(true);
    for (const name of [NAMES.postgres, NAMES.redis]) {
      expect(await world.kube.find(objectPath("apps/v1", "StatefulSet", name, ns)), name).toBeDefined();
    }
    expect(await world.kube.find(objectPath("v1", "Namespace", ns))).toBeDefined();
    expect((await world.kube.list(objectPath("v1", "PersistentVolumeClaim", undefined, ns))).length).toBe(pvcsBefore);
    // Buckets are retainOnDelete: gone from the state or not, they stay in AWS.
    expect((await motoBuckets()).filter((b) => buckets.includes(b)).sort()).toEqual([...buckets].sort());
  });
});
