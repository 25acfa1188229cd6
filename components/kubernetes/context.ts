/**
 * What every part of the cluster shares besides its own settings: the namespace its objects live
 * in and how they are labelled. Each component gets this and the slice of the stack config it
 * uses, nothing more.
 */
import type { Input } from "@pulumi/pulumi";
import type { StackConfig } from "../../config";
import { type AppName, type LabelContext, partVersion } from "./labels";

export interface PartContext extends LabelContext {
  /** The stack's namespace (an Output when the Namespace is created in the same program). */
  readonly namespace: Input<string>;
}

/** The context of the part that runs `app`'s software, labelled with that software's version. */
export function partContext(config: StackConfig, app: AppName, namespace: Input<string>): PartContext {
  return { namespace, instance: config.stack, version: partVersion(config, app) };
}
