/**
 * Spilo's own configuration script, run against a rendered StatefulSet: `configure_spilo.py all`
 * from zalando/spilo at the tag of the rendered image, as the image's launch.sh runs it (as the
 * postgres user, after creating the same directories), with Debian's python3 modules.
 *
 * The script is read from a git checkout of zalando/spilo (SPILO_GIT_DIR, or the snapshot the team's
 * tooling keeps at /work/.mirror/zalando+spilo/repo) or from a directory holding the two files
 * (SPILO_SCRIPTS); it is not copied into this repository.
 *
 * What stands in for the image: directories under a scratch dir instead of /run, /home/postgres and
 * the data volume; a `postgres --version` stub answering 17 (Debian has PostgreSQL 15); a `crontab`
 * stub that keeps what would be installed; SPILO_PROVIDER=local (in the cluster the NetworkPolicies
 * block 169.254.0.0/16, so the image's metadata probe times out and lands on "local" too).
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { imageVersion } from "../components/kubernetes/labels";
import { SPILO_TLS_DIR, TLS_FILES } from "../components/postgres/tls";
import type { Manifest } from "../render/manifests";
import { gitCheckout } from "./mirror";
import { containerOf, find, mkdirSync, resolveEnv, scratchDir, writeFile } from "./servers";
import { signedServerCertificate, testCa } from "./tls";

const SCRIPTS = ["configure_spilo.py", "spilo_commons.py"];

const gitDir = () => gitCheckout("SPILO_GIT_DIR", "zalando/spilo");

/** A directory with Spilo's configure scripts at `tag`. */
export function spiloScripts(tag: string): string {
  const given = process.env.SPILO_SCRIPTS;
  if (given) return given;
  const git = gitDir();
  if (!git) {
    throw new Error(
      `Spilo's scripts at ${tag} are needed: set SPILO_GIT_DIR to a git checkout of zalando/spilo, ` +
        "or SPILO_SCRIPTS to a directory holding configure_spilo.py and spilo_commons.py",
    );
  }
  const dir = scratchDir("spilo-scripts", "postgres");
  for (const name of SCRIPTS) {
    const r = spawnSync("git", ["--git-dir", git, "show", `${tag}:postgres-appliance/scripts/${name}`], {
      encoding: "utf8",
      maxBuffer: 16 * 1024 * 1024,
    });
    if (r.status !== 0) throw new Error(`no ${name} at Spilo tag ${tag}: ${r.stderr}`);
    writeFile(join(dir, name), r.stdout);
  }
  return dir;
}

/** The parts of Spilo's postgres.yml the tests read. */
export interface PatroniYaml {
  scope: string;
  bootstrap: {
    dcs: Record<string, unknown> & { postgresql: { parameters: Record<string, string> } };
    method?: string;
    clone_with_wale?: { recovery_conf: Record<string, string> };
  };
  restapi: { authentication?: { username: string; password: string } };
  kubernetes: {
    use_endpoints?: boolean;
    scope_label: string;
    role_label: string;
    leader_label_value: string;
    labels: Record<string, string>;
  };
  postgresql: { parameters: Record<string, string> };
}

export interface SpiloRun {
  dir: string;
  /** The Patroni configuration Spilo wrote (RW_DIR/postgres.yml). */
  patroni: PatroniYaml;
  /** WAL-G's envdir (RW_DIR/etc/wal-e.d/env): name -> value. */
  envdir: Record<string, string>;
  /** Other envdirs (clone, standby) by directory name. */
  envdirs: Record<string, Record<string, string>>;
  /** What Spilo installs as user postgres's crontab. */
  crontab: string;
  /** Where the image's paths landed here. */
  paths: { rwDir: string; pgroot: string; tls: string };
  log: string;
}

function readEnvdir(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), "utf8")]));
}

/** Runs configure_spilo.py all with the rendered env of the StatefulSet's `postgres` container. */
export function configureSpilo(list: Manifest[]): SpiloRun {
  const sts = find(list, "StatefulSet", "n8n-postgres");
  const container = containerOf(sts, "postgres");
  const scripts = spiloScripts(imageVersion(container.image));
  const dir = scratchDir("spilo", "postgres");
  const rwDir = join(dir, "run");
  const pgroot = join(dir, "pgroot");
  // launch.sh: mkdir -p "$PGLOG" "$PGDATA" "$RW_DIR/postgresql" "$RW_DIR/tmp" "$RW_DIR/certs"
  for (const d of [join(rwDir, "postgresql"), join(rwDir, "tmp"), join(rwDir, "certs"), join(pgroot, "pgdata")]) {
    mkdirSync(d, { recursive: true });
  }
  mkdirSync(join(dir, "home"), { recursive: true });
  mkdirSync(join(dir, "bin"), { recursive: true });
  writeFile(join(dir, "bin", "postgres"), '#!/bin/sh\necho "postgres (PostgreSQL) 17.6"\n');
  writeFile(join(dir, "bin", "crontab"), `#!/bin/sh\ncase "$1" in -l*) exit 1;; esac\ncat > "${dir}/crontab.$2"\n`);
  spawnSync("chmod", ["+x", join(dir, "bin", "postgres"), join(dir, "bin", "crontab")]);
  spawnSync("chown", ["-R", "postgres", dir]);

  const namespace = sts.metadata.namespace as string;
  // The server certificate's Secret, as the kubelet mounts it at SPILO_TLS_DIR (cert-manager's files).
  const tlsDir = join(dir, "tls");
  mkdirSync(tlsDir, { recursive: true });
  signedServerCertificate(tlsDir, namespace);
  copyFileSync(join(tlsDir, "server.crt"), join(tlsDir, TLS_FILES.cert));
  copyFileSync(join(tlsDir, "server.key"), join(tlsDir, TLS_FILES.key));
  copyFileSync(testCa().crt, join(tlsDir, TLS_FILES.ca));
  spawnSync("chown", ["-R", "postgres", tlsDir]);
  const env = Object.fromEntries(
    Object.entries(resolveEnv(container, {}, list)).map(([k, v]) => [
      k,
      v.startsWith(`${SPILO_TLS_DIR}/`) ? tlsDir + v.slice(SPILO_TLS_DIR.length) : v,
    ]),
  );
  const spilo = JSON.parse(env.SPILO_CONFIGURATION ?? "{}");
  spilo.postgresql = { ...(spilo.postgresql ?? {}), bin_dir: join(dir, "bin") };
  const processEnv: Record<string, string> = {
    ...env,
    SPILO_CONFIGURATION: JSON.stringify(spilo),
    POD_IP: "127.0.0.1",
    POD_NAMESPACE: namespace,
    KUBERNETES_SERVICE_HOST: "10.0.0.1",
    KUBERNETES_SERVICE_PORT: "443",
    SPILO_PROVIDER: "local",
    PGROOT: pgroot,
    RW_DIR: rwDir,
    PGHOME: join(dir, "home"),
    HOME: join(dir, "home"),
    PATH: `${join(dir, "bin")}:/usr/bin:/bin`,
  };
  const args = ["-u", "postgres", "--", "env", "-i", ...Object.entries(processEnv).map(([k, v]) => `${k}=${v}`)];
  const r = spawnSync("runuser", [...args, "/usr/bin/python3", join(scripts, "configure_spilo.py"), "all"], {
    cwd: dir,
    encoding: "utf8",
    timeout: 60_000,
  });
  const log = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  // Exit 1 means "no WAL archiving configured" (launch.sh then skips the first backup); 0 means archiving.
  if (r.status !== 0 && r.status !== 1) throw new Error(`configure_spilo.py failed (${r.status}): ${log}`);
  const walDir = join(rwDir, "etc", "wal-e.d");
  const envdirs = existsSync(walDir)
    ? Object.fromEntries(readdirSync(walDir).map((d) => [d, readEnvdir(join(walDir, d))]))
    : {};
  const crontabFile = join(dir, "crontab.postgres");
  return {
    dir,
    patroni: parse(readFileSync(join(rwDir, "postgres.yml"), "utf8")),
    envdir: envdirs.env ?? {},
    envdirs,
    crontab: existsSync(crontabFile) ? readFileSync(crontabFile, "utf8") : "",
    paths: { rwDir, pgroot, tls: tlsDir },
    log,
  };
}
