/**
 * What guards a data store's StatefulSet (PostgreSQL, Redis). A change to a field Kubernetes cannot
 * update in place (spec.volumeClaimTemplates: volume size or class; the selector) makes the
 * Kubernetes provider replace the StatefulSet, and its name is fixed, so the old one is deleted first.
 * Two guards:
 * - the StatefulSet is `protect`ed unless the section's `allowReplace` is set, so such a change
 *   fails the preview ("unable to replace resource ... marked for protection") instead of running
 *   (test/engine/stacks.test.ts, "immutable fields");
 * - any delete by the provider (a replacement with the opt-in, a destroy) uses propagation "orphan"
 *   (its annotation pulumi.com/deletionPropagationPolicy), so the pods keep running on their
 *   volumes; a StatefulSet deletion never deletes the PVCs of its template either. With provider
 *   v4.25 the preview of such a replacement fails before any of this (pulumi-kubernetes #3984,
 *   #4328), so the engine suite proves the README's resize runbook, not the opt-in path.
 */
import type * as pulumi from "@pulumi/pulumi";

export const ORPHAN_ON_DELETE = { "pulumi.com/deletionPropagationPolicy": "orphan" } as const;

export function dataStoreOptions(allowReplace: boolean): pulumi.CustomResourceOptions {
  return { protect: !allowReplace };
}
