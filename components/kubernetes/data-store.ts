/**
 * What guards a data store's StatefulSet (PostgreSQL, Redis). A change to a field Kubernetes cannot
 * update in place (spec.volumeClaimTemplates: volume size or class; the selector) makes the
 * Kubernetes provider replace the StatefulSet, and its name is fixed, so the old one is deleted first.
 * Two guards, read off the real engine (test/engine/immutable.test.ts):
 * - the StatefulSet is `protect`ed unless the section's `allowReplace` is set, so such a change
 *   fails the preview ("unable to replace resource ... marked for protection") instead of running;
 * - with the opt-in, the provider deletes it with propagation "orphan" (its annotation
 *   pulumi.com/deletionPropagationPolicy): the pods keep running on their volumes and the new
 *   StatefulSet adopts them; PVCs are never deleted by a StatefulSet deletion here either.
 */
import type * as pulumi from "@pulumi/pulumi";

export const ORPHAN_ON_DELETE = { "pulumi.com/deletionPropagationPolicy": "orphan" } as const;

export function dataStoreOptions(allowReplace: boolean): pulumi.CustomResourceOptions {
  return { protect: !allowReplace };
}
