/**
 * PostgreSQL's server certificate from cert-manager (postgres.serverCertificate "cert-manager"): a
 * CA of the namespace signs it, so n8n (DB_POSTGRESDB_SSL_CA_FILE) and the Jobs (PGSSLROOTCERT,
 * verify-full) check the server instead of trusting whatever answers. Four cert-manager objects,
 * the CA bootstrap cert-manager documents ("Bootstrapping CA Issuers"): a self-signed Issuer signs
 * the CA Certificate; a CA Issuer on that Secret signs the server Certificate. Pure builders.
 */
import type { DatabaseConnection } from "../../config/resolve";
import { labels } from "../kubernetes/labels";
import { NAMES } from "../kubernetes/names";
import type { PostgresProps } from "./props";

const CERT_MANAGER = "cert-manager.io/v1";
/** Files of a cert-manager Secret (kubernetes.io/tls plus the issuing CA). */
export const TLS_FILES = { cert: "tls.crt", key: "tls.key", ca: "ca.crt" } as const;
/** Where Spilo reads its certificate (SSL_*_FILE), and where the Jobs read the CA. */
export const SPILO_TLS_DIR = "/tls";
export const JOB_CA_DIR = "/etc/postgres-ca";

/** Whether cert-manager signs the in-cluster server's certificate (and the clients verify it). */
export const certManagerSigns = (props: PostgresProps) =>
  props.postgres.tls && props.postgres.serverCertificate === "cert-manager";

/** Every name a client may use for the servers: the Services, short and qualified, and the members. */
export function serverDnsNames(namespace: string): string[] {
  const services = [NAMES.postgres, NAMES.postgresReplicas, NAMES.postgresHeadless];
  return [
    ...services.flatMap((s) => [
      s,
      `${s}.${namespace}`,
      `${s}.${namespace}.svc`,
      `${s}.${namespace}.svc.cluster.local`,
    ]),
    `*.${NAMES.postgresHeadless}.${namespace}.svc`,
    `*.${NAMES.postgresHeadless}.${namespace}.svc.cluster.local`,
  ];
}

const meta = (props: PostgresProps, name: string) => ({
  name,
  namespace: props.ctx.namespace,
  labels: labels(props.ctx, "postgres"),
});

export function certificateObjects(props: PostgresProps) {
  const issuer = (name: string) => ({ name, kind: "Issuer", group: "cert-manager.io" });
  return [
    {
      apiVersion: CERT_MANAGER,
      kind: "Issuer",
      metadata: meta(props, NAMES.postgresSelfSigned),
      spec: { selfSigned: {} },
    },
    {
      apiVersion: CERT_MANAGER,
      kind: "Certificate",
      metadata: meta(props, NAMES.postgresCa),
      spec: {
        isCA: true,
        commonName: NAMES.postgresCa,
        secretName: NAMES.postgresCa,
        // Ten years, and its key is kept when cert-manager renews it: a renewed CA certificate with
        // the same key still verifies against the ca.crt the running pods read at start. A new key
        // is a CA replacement, done by hand (README).
        duration: "87600h",
        privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Never" },
        issuerRef: issuer(NAMES.postgresSelfSigned),
      },
    },
    {
      apiVersion: CERT_MANAGER,
      kind: "Issuer",
      metadata: meta(props, NAMES.postgresCa),
      spec: { ca: { secretName: NAMES.postgresCa } },
    },
    {
      apiVersion: CERT_MANAGER,
      kind: "Certificate",
      metadata: meta(props, NAMES.postgresTls),
      spec: {
        secretName: NAMES.postgresTls,
        commonName: NAMES.postgres,
        dnsNames: serverDnsNames(props.namespaceName),
        // Renewed a month before expiry; Spilo's cron (SSL_TEST_RELOAD) reloads PostgreSQL on change.
        duration: "2160h",
        renewBefore: "720h",
        privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
        usages: ["server auth", "digital signature", "key encipherment"],
        issuerRef: issuer(NAMES.postgresCa),
      },
    },
  ];
}

/** Spilo's env for the cert-manager certificate: configure_spilo.py writes these into ssl_*_file. */
export function spiloTlsEnv(props: PostgresProps) {
  if (!certManagerSigns(props)) return [];
  return [
    { name: "SSL_CERTIFICATE_FILE", value: `${SPILO_TLS_DIR}/${TLS_FILES.cert}` },
    { name: "SSL_PRIVATE_KEY_FILE", value: `${SPILO_TLS_DIR}/${TLS_FILES.key}` },
    { name: "SSL_CA_FILE", value: `${SPILO_TLS_DIR}/${TLS_FILES.ca}` },
  ];
}

/**
 * The certificate Secret mounted into Spilo. 0640: the files are root's with the pod's fsGroup, the
 * one ownership PostgreSQL accepts for a key it does not own (u=rw,g=r at most).
 */
export function spiloTlsVolume(props: PostgresProps) {
  if (!certManagerSigns(props)) return [];
  return [{ name: "tls", secret: { secretName: NAMES.postgresTls, defaultMode: 0o640 } }];
}

export function spiloTlsMount(props: PostgresProps) {
  if (!certManagerSigns(props)) return [];
  return [{ name: "tls", mountPath: SPILO_TLS_DIR, readOnly: true }];
}

/** libpq settings of a Job: verify-full against the namespace CA, or encryption only. */
export function jobSslEnv(props: PostgresProps, connection: DatabaseConnection) {
  if (connection.sslMode === "verify-full") {
    return [
      { name: "PGSSLMODE", value: "verify-full" },
      { name: "PGSSLROOTCERT", value: `${JOB_CA_DIR}/${TLS_FILES.ca}` },
    ];
  }
  return [{ name: "PGSSLMODE", value: props.postgres.tls ? "require" : "prefer" }];
}

/** The CA file of a Job (only the CA certificate of the server's Secret is projected). */
export const jobCaVolume = {
  name: "postgres-ca",
  secret: { secretName: NAMES.postgresTls, items: [{ key: TLS_FILES.ca, path: TLS_FILES.ca }] },
};
export const jobCaMount = { name: "postgres-ca", mountPath: JOB_CA_DIR, readOnly: true };
