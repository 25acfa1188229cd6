/** What the n8n part takes: the stack's context and the config sections its processes read. */
import type { Input } from "@pulumi/pulumi";
import type { StackConfig } from "../../config";
import type { SecretSource } from "../../config/resolve";
import { type PartContext, partContext } from "../kubernetes/context";
import type { SecretRefs } from "../kubernetes/names";

export interface N8nProps {
  /** Namespace, instance, and n8n's version as the version label. */
  readonly ctx: PartContext;
  /** The namespace's name, for addresses built before deployment (KEDA's Redis address). */
  readonly namespaceName: string;
  /** The public host: N8N_HOST, the webhook and editor URLs. */
  readonly domain: string;
  readonly n8n: StackConfig["n8n"];
  readonly main: StackConfig["main"];
  readonly workers: StackConfig["workers"];
  readonly webhooks: StackConfig["webhooks"];
  readonly runners: StackConfig["runners"];
  /** Where n8n finds PostgreSQL and Redis, and how it checks their certificates. */
  readonly connections: StackConfig["connections"];
  /** Where the encryption key, runner token and the database and Redis passwords are read from. */
  readonly secretRefs: SecretRefs;
  /** n8n's object storage (binary or execution data in s3 mode); undefined when both stay in PostgreSQL. */
  readonly objectStorage: StackConfig["objectStorage"];
  /** Where the encryption key comes from; the pods declare it when it is not the program's (policy pack). */
  readonly encryptionKeySource: SecretSource;
}

export function n8nProps(config: StackConfig, namespace: Input<string>): N8nProps {
  return {
    ctx: partContext(config, "n8n", namespace),
    namespaceName: config.namespace,
    domain: config.domain,
    n8n: config.n8n,
    main: config.main,
    workers: config.workers,
    webhooks: config.webhooks,
    runners: config.runners,
    connections: config.connections,
    objectStorage: config.objectStorage,
    secretRefs: config.secrets.refs,
    encryptionKeySource: config.secrets.sources.encryptionKey,
  };
}
