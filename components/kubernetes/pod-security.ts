/**
 * Pod Security Standards "restricted", and the volumes pods get, declared once: every pod and container the program builds
 * takes its securityContext from here.
 */

/** Pod-level context for an image that runs as a fixed non-root uid/gid. */
export function restrictedPodSecurityContext(uid: number, gid: number = uid) {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: gid,
    fsGroup: gid,
    fsGroupChangePolicy: "OnRootMismatch",
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** Container-level context: no privilege escalation, no capabilities, read-only root filesystem. */
export function restrictedContainerSecurityContext() {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** A writable emptyDir volume and its mount, for a read-only root filesystem. */
export function scratchVolume(name: string, mountPath: string, sizeLimit = "1Gi") {
  return {
    volume: { name, emptyDir: { sizeLimit } },
    mount: { name, mountPath },
  };
}

/** A ReadWriteOnce volume claim template for a StatefulSet (the cluster's default class when unset). */
export function volumeClaimTemplate(
  name: string,
  labels: Record<string, string>,
  size: string,
  storageClass: string | undefined,
) {
  return {
    metadata: { name, labels },
    spec: {
      accessModes: ["ReadWriteOnce"],
      ...(storageClass ? { storageClassName: storageClass } : {}),
      resources: { requests: { storage: size } },
    },
  };
}
