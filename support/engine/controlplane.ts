/**
 * A real Kubernetes control plane on loopback for the engine suites (test/engine): etcd,
 * kube-apiserver (RBAC on, the PodSecurity admission plugin on), kube-controller-manager,
 * kube-scheduler, all built from their Go modules by scripts/engine-setup.sh, and kwok for the nodes.
 *
 * Stand-ins, named so in the README: kwok's nodes run no container; kwok's own "fast" stages move
 * every scheduled pod to Running and Ready and every Job pod to Succeeded. `ingressStatus` plays the
 * one part of an ingress controller that Pulumi waits for (the Ingress's load-balancer address).
 * Volumes come from StorageClasses without a provisioner and PersistentVolumes made here, which the
 * real PersistentVolume controller binds.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { freePort, Server, scratchDir, waitFor } from "../servers";
import { makeCa, signCertificate } from "../tls";
import { Kube, type KubeObject, objectPath } from "./kube";

export const ENGINE_CACHE =
  process.env.ENGINE_CACHE ?? join(process.env.HOME ?? "/root", ".cache", "n8n-cluster", "engine");
export const ENGINE_BIN = join(ENGINE_CACHE, "bin");

export function engineBinary(name: string): string {
  const path = join(ENGINE_BIN, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run bash scripts/engine-setup.sh`);
  return path;
}

export interface ControlPlane {
  kube: Kube;
  kubeconfig: string;
  dir: string;
  servers: Server[];
  stop(): Promise<void>;
}

/** Zones and nodes of the fake cluster: enough for the prod stack's spread and anti-affinity. */
export const NODES = ["a", "b", "c"].flatMap((zone) => [1, 2].map((i) => ({ name: `kwok-${zone}${i}`, zone })));

/** The StorageClasses the stacks ask for: the default one (staging) and gp3 (prod). */
export const STORAGE_CLASSES = [
  { name: "standard", isDefault: true },
  { name: "gp3", isDefault: false },
];

function openssl(args: string[]): void {
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
}

/** The log tail of a server, for an error message. */
function tail(s: Server, n = 30): string {
  return s.output.slice(-n).join("\n");
}

export async function startControlPlane(options: { crds?: string[] } = {}): Promise<ControlPlane> {
  const dir = scratchDir("controlplane");
  const servers: Server[] = [];
  const stop = async () => {
    for (const s of [...servers].reverse()) await s.stop(10_000);
  };
  try {
    // etcd
    const etcdClient = await freePort();
    const etcdPeer = await freePort();
    const etcd = new Server("etcd", engineBinary("etcd"), [
      "--name=default",
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      "--unsafe-no-fsync",
      "--log-level=warn",
    ]);
    servers.push(etcd);
    await waitFor(
      "etcd",
      async () => (await fetch(`http://127.0.0.1:${etcdClient}/health`).catch(() => undefined))?.ok,
      60_000,
    ).catch((e) => {
      throw new Error(`${e}\n${tail(etcd)}`);
    });

    // Certificates: a CA, the API server's serving certificate, the service-account signing key.
    const ca = makeCa(dir, "kube-ca");
    const serving = signCertificate(dir, ca, [
      "localhost",
      "kubernetes",
      "kubernetes.default",
      "kubernetes.default.svc",
      "IP:127.0.0.1",
      "IP:10.96.0.1",
    ]);
    const saKey = join(dir, "sa.key");
    const saPub = join(dir, "sa.pub");
    openssl(["genrsa", "-out", saKey, "2048"]);
    openssl(["rsa", "-in", saKey, "-pubout", "-out", saPub]);
    const token = randomBytes(24).toString("hex");
    const tokens = join(dir, "tokens.csv");
    writeFileSync(tokens, `${token},admin,admin,system:masters\n`, { mode: 0o600 });

    const apiPort = await freePort();
    const apiserver = new Server("kube-apiserver", engineBinary("kube-apiserver"), [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${serving.crt}`,
      `--tls-private-key-file=${serving.key}`,
      `--client-ca-file=${ca.crt}`,
      `--token-auth-file=${tokens}`,
      "--authorization-mode=RBAC",
      // The admission chain of a production cluster; PodSecurity enforces the Namespace's labels.
      "--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultStorageClass,PodSecurity,ResourceQuota,DefaultTolerationSeconds,StorageObjectInUseProtection,PersistentVolumeClaimResize,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      "--service-cluster-ip-range=10.96.0.0/16",
      // The Service "kubernetes" cannot point at a loopback address: no endpoint reconciler.
      "--endpoint-reconciler-type=none",
      "--profiling=false",
      "--v=0",
    ]);
    servers.push(apiserver);
    const server = `https://127.0.0.1:${apiPort}`;
    const kube = new Kube({ server, token, ca: readFileSync(ca.crt, "utf8") });
    await waitFor(
      "kube-apiserver /readyz",
      async () => (await kube.call("GET", "/readyz")).status === 200,
      180_000,
      1_000,
    ).catch((e) => {
      throw new Error(`${e}\n${tail(apiserver)}`);
    });

    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        `- name: local\n  cluster:\n    server: ${server}\n    certificate-authority: ${ca.crt}`,
        "users:",
        `- name: admin\n  user:\n    token: ${token}`,
        "contexts:",
        "- name: local\n  context:\n    cluster: local\n    user: admin",
        "current-context: local",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );

    servers.push(
      new Server("kube-controller-manager", engineBinary("kube-controller-manager"), [
        `--kubeconfig=${kubeconfig}`,
        `--service-account-private-key-file=${saKey}`,
        `--root-ca-file=${ca.crt}`,
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        // Fast enough for a test: the disruption and endpoint controllers react at once anyway.
        "--concurrent-deployment-syncs=10",
        "--v=0",
      ]),
      new Server("kube-scheduler", engineBinary("kube-scheduler"), [
        `--kubeconfig=${kubeconfig}`,
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        "--v=0",
      ]),
      new Server("kwok", engineBinary("kwok"), [
        `--kubeconfig=${kubeconfig}`,
        `--config=${join(ENGINE_BIN, "kwok-stages.yaml")}`,
        "--manage-all-nodes=true",
        "--cidr=10.244.0.0/16",
        "--node-ip=10.1.0.1",
        "--node-lease-duration-seconds=40",
        "--server-address=127.0.0.1:0",
      ]),
    );

    // The service-account token controller and the default ServiceAccount say the controllers run.
    await waitFor(
      "the default ServiceAccount (kube-controller-manager)",
      () => kube.find("/api/v1/namespaces/default/serviceaccounts/default"),
      120_000,
      1_000,
    ).catch((e) => {
      throw new Error(`${e}\n${servers.map((s) => `--- ${s.name}\n${tail(s, 15)}`).join("\n")}`);
    });

    for (const n of NODES) await kube.json("POST", "/api/v1/nodes", nodeObject(n.name, n.zone));
    await waitFor(
      "kwok nodes Ready",
      async () => {
        const nodes = await kube.list("/api/v1/nodes");
        const ready = nodes.filter((n) =>
          ((n.status?.conditions as { type: string; status: string }[]) ?? []).some(
            (c) => c.type === "Ready" && c.status === "True",
          ),
        );
        return ready.length === NODES.length || undefined;
      },
      60_000,
    );

    for (const sc of STORAGE_CLASSES) {
      await kube.json("POST", "/apis/storage.k8s.io/v1/storageclasses", storageClassObject(sc.name, sc.isDefault));
      for (let i = 0; i < 8; i++) await kube.json("POST", "/api/v1/persistentvolumes", volumeObject(sc.name, i));
    }

    for (const file of options.crds ?? []) await applyFile(kube, file);
    return { kube, kubeconfig, dir, servers, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function nodeObject(name: string, zone: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/zone": `zone-${zone}`,
        "topology.kubernetes.io/region": "local",
        type: "kwok",
      },
    },
    spec: {},
    status: {
      allocatable: { cpu: "32", memory: "256Gi", pods: "110", "ephemeral-storage": "500Gi" },
      capacity: { cpu: "32", memory: "256Gi", pods: "110", "ephemeral-storage": "500Gi" },
      nodeInfo: { architecture: "amd64", operatingSystem: "linux", kubeletVersion: "fake", kubeProxyVersion: "fake" },
    },
  };
}

function storageClassObject(name: string, isDefault: boolean): KubeObject {
  return {
    apiVersion: "storage.k8s.io/v1",
    kind: "StorageClass",
    metadata: {
      name,
      annotations: isDefault ? { "storageclass.kubernetes.io/is-default-class": "true" } : {},
    },
    provisioner: "kubernetes.io/no-provisioner",
    volumeBindingMode: "Immediate",
    allowVolumeExpansion: true,
  };
}

function volumeObject(storageClass: string, i: number): KubeObject {
  return {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name: `${storageClass}-pv-${i}` },
    spec: {
      capacity: { storage: "500Gi" },
      accessModes: ["ReadWriteOnce"],
      persistentVolumeReclaimPolicy: "Retain",
      storageClassName: storageClass,
      hostPath: { path: `/var/lib/fake-volumes/${storageClass}-${i}` },
    },
  };
}

/** Every YAML document of a file, applied server-side; CRDs are then awaited until Established. */
export async function applyFile(kube: Kube, file: string): Promise<KubeObject[]> {
  const docs = parseAllDocuments(readFileSync(file, "utf8"))
    .map((d) => d.toJS() as KubeObject | null)
    .filter((d): d is KubeObject => !!d?.kind);
  for (const d of docs) {
    await kube.apply(objectPath(d.apiVersion, d.kind, d.metadata.name, d.metadata.namespace), d, "engine-tests");
  }
  for (const d of docs.filter((x) => x.kind === "CustomResourceDefinition")) {
    await waitFor(`CRD ${d.metadata.name} Established`, async () => {
      const crd = await kube.get(objectPath(d.apiVersion, d.kind, d.metadata.name));
      const conds = (crd.status?.conditions as { type: string; status: string }[]) ?? [];
      return conds.some((c) => c.type === "Established" && c.status === "True") || undefined;
    });
  }
  return docs;
}

/** The CRD files scripts/engine-setup.sh took from the operators' Go module zips. */
export function crdFiles(...projects: string[]): string[] {
  return projects.flatMap((p) => {
    const dir = join(ENGINE_CACHE, "crds", p);
    if (!existsSync(dir)) throw new Error(`${dir} is missing: run bash scripts/engine-setup.sh`);
    return readdirSync(dir)
      .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
      .map((f) => join(dir, f));
  });
}

/**
 * Stand-in for the one thing an ingress controller does that Pulumi's await reads: it writes a
 * load-balancer address into every Ingress's status. Returns a function that stops it.
 */
export function ingressStatus(kube: Kube, everyMs = 1_000): () => void {
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      try {
        for (const ing of await kube.list("/apis/networking.k8s.io/v1/ingresses")) {
          const lb = (ing.status?.loadBalancer as { ingress?: unknown[] } | undefined)?.ingress;
          if (lb?.length) continue;
          await kube.mergePatch(
            `${objectPath("networking.k8s.io/v1", "Ingress", ing.metadata.name, ing.metadata.namespace)}/status`,
            { status: { loadBalancer: { ingress: [{ ip: "10.1.0.100" }] } } },
          );
        }
      } catch {
        // the next round tries again
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  };
  void loop();
  return () => {
    stopped = true;
  };
}
