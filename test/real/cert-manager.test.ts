/**
 * The rendered cert-manager objects of the in-cluster PostgreSQL (components/postgres/tls.ts)
 * against cert-manager itself, which cannot run here: its CRD schemas (what the API server
 * validates and prunes) and the rules of its validating webhook, encoded from
 * internal/apis/certmanager/validation/certificate.go, both read at the tag below from a git
 * checkout of cert-manager/cert-manager (CERT_MANAGER_GIT_DIR, or the team's snapshot).
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { NAMES } from "../../components/kubernetes/names";
import type { Manifest } from "../../render/manifests";
import { checkAgainstSchema, crdSchemaAt } from "../../support/crd-schema";
import { requireGitCheckout } from "../../support/mirror";
import { find, manifests } from "../../support/servers";

const TAG = "v1.21.1";
const CRDS = {
  Certificate: "deploy/crds/cert-manager.io_certificates.yaml",
  Issuer: "deploy/crds/cert-manager.io_issuers.yaml",
};

const gitDir = () => requireGitCheckout("CERT_MANAGER_GIT_DIR", "cert-manager/cert-manager");

/** The webhook's source at TAG, to check that the rules below are still the ones it applies. */
function webhookSource(): string {
  const r = spawnSync(
    "git",
    ["--git-dir", gitDir(), "show", `${TAG}:internal/apis/certmanager/validation/certificate.go`],
    {
      encoding: "utf8",
    },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

const hours = (d: string) => {
  const m = /^(\d+)h$/.exec(d);
  if (!m) throw new Error(`duration ${d} is not in whole hours`);
  return Number(m[1]);
};

/** ValidateCertificateSpec's rules that apply to what the program sets (cert-manager v1.21). */
function webhookProblems(spec: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (!spec.secretName) out.push("secretName: must be specified");
  const sans = ["commonName", "dnsNames", "emailAddresses", "ipAddresses", "uris", "otherNames"];
  if (!sans.some((k) => (Array.isArray(spec[k]) ? (spec[k] as unknown[]).length > 0 : Boolean(spec[k])))) {
    out.push("at least one of commonName, dnsNames, ... must be set");
  }
  const key = spec.privateKey as { algorithm?: string; size?: number } | undefined;
  if (key?.algorithm === "ECDSA" && key.size && ![256, 384, 521].includes(key.size)) out.push("privateKey.size");
  const issuer = spec.issuerRef as { name?: string; kind?: string; group?: string };
  if (!issuer?.name) out.push("issuerRef.name: must be specified");
  if (
    (!issuer?.group || issuer.group === "cert-manager.io") &&
    issuer?.kind &&
    !["Issuer", "ClusterIssuer"].includes(issuer.kind)
  ) {
    out.push("issuerRef.kind: must be one of Issuer or ClusterIssuer");
  }
  // MinimumCertificateDuration 1h, MinimumRenewBefore 5m, renewBefore < duration.
  if (spec.duration && hours(spec.duration as string) < 1) out.push("duration: must be greater than 1h");
  if (spec.renewBefore && spec.duration && hours(spec.renewBefore as string) >= hours(spec.duration as string)) {
    out.push("duration must be greater than renewBefore");
  }
  return out;
}

describe(`cert-manager ${TAG} accepts the PostgreSQL certificate objects`, () => {
  const list = manifests("prod");
  const objects = list.filter((m) => m.apiVersion === "cert-manager.io/v1");

  it("renders the CA bootstrap: a self-signed Issuer, the CA Certificate, a CA Issuer on its Secret, the server Certificate", () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      `Certificate/${NAMES.postgresCa}`,
      `Certificate/${NAMES.postgresTls}`,
      `Issuer/${NAMES.postgresCa}`,
      `Issuer/${NAMES.postgresSelfSigned}`,
    ]);
    const spec = (kind: string, name: string) => find(list, kind, name).spec as Record<string, unknown>;
    expect(spec("Certificate", NAMES.postgresCa).isCA).toBe(true);
    expect((spec("Issuer", NAMES.postgresCa).ca as { secretName: string }).secretName).toBe(
      spec("Certificate", NAMES.postgresCa).secretName,
    );
    expect((spec("Certificate", NAMES.postgresTls).issuerRef as { name: string }).name).toBe(NAMES.postgresCa);
  });

  it.each(["Certificate", "Issuer"] as const)("every %s passes its CRD schema: no error and nothing pruned", (kind) => {
    const schema = crdSchemaAt(gitDir(), TAG, CRDS[kind], "v1");
    for (const o of objects.filter((x) => x.kind === kind)) {
      expect(checkAgainstSchema(schema, o).errors, o.metadata.name).toEqual([]);
    }
  });

  it("every Certificate passes the webhook's rules, which are still in its source", () => {
    const source = webhookSource();
    for (const text of [
      "at least one of commonName",
      "must be one of Issuer or ClusterIssuer",
      "must be greater than renewBefore",
      `"256", "384", "521"`,
    ]) {
      expect(source, text).toContain(text);
    }
    for (const o of objects.filter((x) => x.kind === "Certificate")) {
      expect(webhookProblems(o.spec as Record<string, unknown>), o.metadata.name).toEqual([]);
    }
    // The checks can fail: a certificate without names, a bad kind, renewBefore beyond duration.
    expect(
      webhookProblems({
        secretName: "x",
        issuerRef: { name: "a", kind: "Vault" },
        duration: "24h",
        renewBefore: "48h",
      }),
    ).toEqual([
      "at least one of commonName, dnsNames, ... must be set",
      "issuerRef.kind: must be one of Issuer or ClusterIssuer",
      "duration must be greater than renewBefore",
    ]);
  });

  it("the server certificate names every host the clients use", () => {
    const tls = find(list, "Certificate", NAMES.postgresTls).spec as { dnsNames: string[] };
    const hosts = new Set<string>();
    for (const m of list as Manifest[]) {
      const t = m.spec as
        | {
            template?: { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } };
            jobTemplate?: {
              spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
            };
          }
        | undefined;
      const pod = t?.template?.spec ?? t?.jobTemplate?.spec.template.spec;
      for (const c of pod?.containers ?? []) {
        for (const e of c.env ?? []) {
          if ((e.name === "DB_POSTGRESDB_HOST" || e.name === "PGHOST") && e.value) hosts.add(e.value);
        }
      }
    }
    expect([...hosts].sort()).toEqual([NAMES.postgres, NAMES.postgresReplicas].sort());
    for (const h of hosts) expect(tls.dnsNames, h).toContain(h);
  });
});
