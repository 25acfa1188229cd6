/**
 * The test suites' stand-in for cert-manager's namespace CA (components/postgres/tls.ts): one CA
 * per test process, which signs every local PostgreSQL's certificate, and the paths where the
 * rendered pods find the CA (their Secret mounts) mapped to it. The servers run on loopback, so the
 * certificates also name 127.0.0.1 and localhost: the tests substitute those for the Service names.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CA_MOUNTS } from "../components/n8n/env";
import { JOB_CA_DIR, serverDnsNames } from "../components/postgres/tls";

function openssl(args: string[]): void {
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
}

let ca: { dir: string; crt: string; key: string } | undefined;

/** The test CA (created on first use): dir/ca.crt, as the pods see it in their CA mounts. */
export function testCa() {
  if (!ca || !existsSync(ca.crt)) {
    const dir = mkdtempSync(join(tmpdir(), "test-ca-"));
    const crt = join(dir, "ca.crt");
    const key = join(dir, "ca.key");
    openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=n8n-postgres-ca",
      "-keyout",
      key,
      "-out",
      crt,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    ca = { dir, crt, key };
  }
  return ca;
}

/**
 * server.crt/server.key in `dir`, owned by `owner`, signed by the test CA for the names of the
 * rendered Certificate (namespace `namespace`) plus localhost and 127.0.0.1.
 */
export function signedServerCertificate(dir: string, namespace = "n8n", owner = "postgres"): void {
  const { crt: caCrt, key: caKey } = testCa();
  const key = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const crt = join(dir, "server.crt");
  const names = [...serverDnsNames(namespace), "localhost"].map((n) => `DNS:${n}`).concat("IP:127.0.0.1");
  openssl([
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-subj",
    "/CN=n8n-postgres",
    "-keyout",
    key,
    "-out",
    csr,
  ]);
  const ext = join(dir, "server.ext");
  writeFileSync(ext, `subjectAltName=${names.join(",")}\nextendedKeyUsage=serverAuth\n`);
  openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    caCrt,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    ext,
    "-out",
    crt,
  ]);
  spawnSync("chown", [`${owner}:${owner}`, key, crt]);
  spawnSync("chmod", ["600", key]);
}

/** Env values under a pod's CA mounts, pointed at the test CA's directory (the kubelet's projection). */
export function localCaPaths(env: Record<string, string>): Record<string, string> {
  const mounts = [CA_MOUNTS.database, JOB_CA_DIR];
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    const mount = mounts.find((m) => value.startsWith(`${m}/`));
    out[name] = mount ? join(testCa().dir, value.slice(mount.length + 1)) : value;
  }
  return out;
}
