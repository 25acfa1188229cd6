/**
 * Certificates for the test suites. `makeCa` and `signCertificate` build a CA and a server
 * certificate with openssl; `testCa` is the suites' stand-in for cert-manager's namespace CA
 * (components/postgres/tls.ts): one per test process, signing every local PostgreSQL's certificate,
 * and `localCaPaths` maps the paths where rendered pods find that CA (their Secret mounts) to it.
 * The servers run on loopback, so the certificates also name localhost and 127.0.0.1: the tests
 * substitute those for the Service names.
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

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export interface Ca {
  dir: string;
  crt: string;
  key: string;
}

/** A CA in `dir` (<name>.crt, <name>.key), valid two days. */
export function makeCa(dir: string, name: string): Ca {
  const crt = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl([
    "req",
    "-x509",
    ...EC_KEY,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-keyout",
    key,
    "-out",
    crt,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { dir, crt, key };
}

/** server.crt/server.key in `dir`, signed by `ca` for `names` (DNS names, and IP:... entries). */
export function signCertificate(dir: string, ca: Ca, names: string[]): { crt: string; key: string } {
  const key = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const crt = join(dir, "server.crt");
  const ext = join(dir, "server.ext");
  const sans = names.map((n) => (n.startsWith("IP:") ? n : `DNS:${n}`));
  writeFileSync(ext, `subjectAltName=${sans.join(",")}\nextendedKeyUsage=serverAuth\n`);
  openssl(["req", ...EC_KEY, "-subj", `/CN=${names[0]}`, "-keyout", key, "-out", csr]);
  openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.crt,
    "-CAkey",
    ca.key,
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    ext,
    "-out",
    crt,
  ]);
  return { crt, key };
}

let shared: Ca | undefined;

/** The stand-in for the namespace CA (created on first use): dir/ca.crt, as the pods see it mounted. */
export function testCa(): Ca {
  if (!shared || !existsSync(shared.crt)) shared = makeCa(mkdtempSync(join(tmpdir(), "test-ca-")), "ca");
  return shared;
}

/**
 * server.crt/server.key in `dir`, owned by `owner`, signed by the test CA for the names of the
 * rendered Certificate (namespace `namespace`) plus localhost and 127.0.0.1.
 */
export function signedServerCertificate(dir: string, namespace = "n8n", owner = "postgres"): void {
  const { crt, key } = signCertificate(dir, testCa(), [...serverDnsNames(namespace), "localhost", "IP:127.0.0.1"]);
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
