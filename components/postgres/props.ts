/** What the PostgreSQL part takes: the stack's context and the config it reads. */
import type { Input } from "@pulumi/pulumi";
import type { StackConfig } from "../../config";
import { type PartContext, partContext } from "../kubernetes/context";
import type { SecretRef } from "../kubernetes/names";

export interface PostgresProps {
  /** Namespace, instance, and the Spilo image's tag as the version label. */
  readonly ctx: PartContext;
  /** The namespace's name: the IRSA trust names `system:serviceaccount:<namespace>:<sa>`. */
  readonly namespaceName: string;
  /** The `postgres` section, resolved (instances, storage and max_connections filled in). */
  readonly postgres: StackConfig["postgres"];
  /** Production refuses two members on one node (required anti-affinity). */
  readonly production: boolean;
  /** statement_timeout the bootstrap Job sets on the app role (n8n.statementTimeoutSeconds). */
  readonly appStatementTimeoutSeconds: number;
  /** The app role's password, as n8n reads it (secrets.existing.postgresPassword, or the program's). */
  readonly appPasswordRef: SecretRef;
  /** How n8n reaches the in-cluster server (the Jobs connect the same way): TLS mode and CA. */
  readonly connection: StackConfig["connections"]["database"];
  /** The n8n release: the pre-upgrade dump is named after it. */
  readonly n8nVersion: string;
}

export function postgresProps(config: StackConfig, namespace: Input<string>): PostgresProps {
  return {
    ctx: partContext(config, "postgres", namespace),
    namespaceName: config.namespace,
    postgres: config.postgres,
    production: config.production,
    appStatementTimeoutSeconds: config.n8n.statementTimeoutSeconds,
    appPasswordRef: config.secrets.refs.postgresPassword,
    connection: config.connections.database,
    n8nVersion: config.n8n.version,
  };
}
