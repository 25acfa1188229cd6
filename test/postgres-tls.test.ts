/**
 * The in-cluster server's certificate (postgres.serverCertificate): cert-manager's namespace CA by
 * default, verified by n8n and the Jobs; "spilo" keeps Spilo's self-signed one (encrypted only).
 * test/real/cert-manager.test.ts, postgres-tls.test.ts and spilo.test.ts check the consumers.
 */
import { describe, expect, it } from "vitest";
import { NAMES } from "../components/kubernetes/names";
import { n8nEnv } from "../components/n8n/env";
import { n8nProps } from "../components/n8n/props";
import { postgresProps } from "../components/postgres";
import { bootstrapJob } from "../components/postgres/jobs";
import { spiloEnv } from "../components/postgres/spilo";
import { postgresStatefulSet } from "../components/postgres/statefulset";
import { serverDnsNames } from "../components/postgres/tls";
import { parseStackConfig } from "../config";
import { runProgram } from "./harness";

const BASE = { domain: "n8n.example.com" };
const env = (list: { name: string; value?: string }[]) => Object.fromEntries(list.map((e) => [e.name, e.value]));

describe("postgres.serverCertificate", () => {
  it("cert-manager (default): n8n verifies against the namespace CA, the Jobs use verify-full", () => {
    const c = parseStackConfig("t", BASE);
    const n8n = env(n8nEnv(n8nProps(c, "n8n"), "worker") as { name: string; value?: string }[]);
    expect(n8n.DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED).toBe("true");
    expect(n8n.DB_POSTGRESDB_SSL_CA_FILE).toBe("/etc/n8n/ca/postgres/ca.crt");
    expect(serverDnsNames("n8n")).toContain(n8n.DB_POSTGRESDB_HOST);
    const p = postgresProps(c, "n8n");
    const job = bootstrapJob(p).spec.template.spec;
    const jobEnv = env(job.containers[0]?.env as { name: string; value?: string }[]);
    expect(jobEnv.PGSSLMODE).toBe("verify-full");
    expect(jobEnv.PGSSLROOTCERT).toBe("/etc/postgres-ca/ca.crt");
    // Only the CA certificate of the server's Secret reaches the Job, never its key.
    expect(job.volumes).toContainEqual({
      name: "postgres-ca",
      secret: { secretName: NAMES.postgresTls, items: [{ key: "ca.crt", path: "ca.crt" }] },
    });
    const spilo = env(spiloEnv(p, undefined) as { name: string; value?: string }[]);
    expect(spilo).toMatchObject({
      SSL_CERTIFICATE_FILE: "/tls/tls.crt",
      SSL_PRIVATE_KEY_FILE: "/tls/tls.key",
      SSL_CA_FILE: "/tls/ca.crt",
    });
    const pod = postgresStatefulSet(p, undefined).spec.template.spec;
    expect(pod.volumes).toContainEqual({ name: "tls", secret: { secretName: NAMES.postgresTls, defaultMode: 0o640 } });
  });

  it("spilo: Spilo's own certificate, encrypted and not verified, and no cert-manager objects", async () => {
    const c = parseStackConfig("t", { ...BASE, postgres: { serverCertificate: "spilo" } });
    const n8n = env(n8nEnv(n8nProps(c, "n8n"), "worker") as { name: string; value?: string }[]);
    expect(n8n.DB_POSTGRESDB_SSL_REJECT_UNAUTHORIZED).toBe("false");
    expect(n8n.DB_POSTGRESDB_SSL_CA_FILE).toBeUndefined();
    const p = postgresProps(c, "n8n");
    expect(
      env(bootstrapJob(p).spec.template.spec.containers[0]?.env as { name: string; value?: string }[]).PGSSLMODE,
    ).toBe("require");
    expect(env(spiloEnv(p, undefined) as { name: string; value?: string }[]).SSL_CERTIFICATE_FILE).toBeUndefined();
    const run = await runProgram("spilo-cert", { ...BASE, postgres: { serverCertificate: "spilo" } });
    expect(run.manifests.filter((m) => m.apiVersion === "cert-manager.io/v1")).toEqual([]);
  });

  it("the StatefulSet waits for the certificate objects", async () => {
    const run = await runProgram("cert-deps", BASE);
    const sts = run.resources.find((r) => r.type === "kubernetes:apps/v1:StatefulSet" && r.name.includes("postgres"));
    const certs = run.resources.filter((r) => r.type.startsWith("kubernetes:cert-manager.io/v1:")).map((r) => r.urn);
    expect(certs).toHaveLength(4);
    for (const urn of certs) expect(sts?.dependencies).toContain(urn);
  });
});
