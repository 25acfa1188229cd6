/**
 * Runs the rendered dump (dump.py from the bootstrap ConfigMap, with the env of a rendered dump pod:
 * the nightly CronJob's or the pre-upgrade Job's) against a local PostgreSQL, uploading to s3rver.
 * The one substitution is boto3's endpoint (s3rver instead of AWS); the dump reaches PostgreSQL on
 * loopback and verifies it with the test CA, as the pod would with the namespace CA.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import type { Manifest } from "../render/manifests";
import { type S3, S3RVER_KEYS } from "./s3";
import { type Container, find, resolveEnv, writeFile } from "./servers";

export interface DumpRun {
  status: number | null;
  output: string;
  /** The object key dump.py reports, e.g. dumps/n8n-postgres/n8n-<time>.dump. */
  key: string;
  seconds: number;
}

/** The dump container of a rendered Job or CronJob. */
export function dumpContainer(m: Manifest): Container {
  const spec = m.spec as {
    template?: { spec: { containers: Container[] } };
    jobTemplate?: { spec: { template: { spec: { containers: Container[] } } } };
  };
  const pod = spec.template?.spec ?? spec.jobTemplate?.spec.template.spec;
  const c = pod?.containers.find((x) => x.name === "dump");
  if (!c) throw new Error(`${m.kind}/${m.metadata.name} has no dump container`);
  return c;
}

export function runDump(list: Manifest[], container: Container, pgPort: number, s3: S3, dir: string): DumpRun {
  const script = (find(list, "ConfigMap", "n8n-postgres-bootstrap").data as Record<string, string>)["dump.py"];
  if (!script) throw new Error("the render has no dump.py");
  writeFile(join(dir, "dump.py"), script);
  const rendered = resolveEnv(container);
  const env = {
    PATH: process.env.PATH ?? "",
    ...Object.fromEntries(Object.entries(rendered).filter(([k]) => !k.startsWith("AWS_") || k === "AWS_REGION")),
    ...S3RVER_KEYS,
    PGHOST: "127.0.0.1",
    PGPORT: String(pgPort),
    PGGSSENCMODE: "disable",
    HOME: dir,
  };
  const started = performance.now();
  const run = spawnSync(
    "python3",
    [
      "-c",
      `import boto3, runpy; c = boto3.client; boto3.client = lambda *a, **k: c(*a, endpoint_url="${s3.endpoint}", **k); runpy.run_path("${join(dir, "dump.py")}", run_name="__main__")`,
    ],
    { encoding: "utf8", env, timeout: 600_000 },
  );
  const output = `${run.stdout}\n${run.stderr}`;
  return {
    status: run.status,
    output,
    key: /uploaded s3:\/\/[^/]+\/(\S+) in/.exec(run.stdout)?.[1] ?? "",
    seconds: (performance.now() - started) / 1000,
  };
}
