/**
 * Rules for the escape hatches (extraEnv, extraVolumes, extraVolumeMounts): what a user passes by
 * hand must be something the pinned software reads, must not shadow what the program sets, and
 * must fit together. Pure; checked with the other cross-field rules.
 */

import { n8nEnv, runnerEnv } from "../components/n8n/env";
import { n8nProps } from "../components/n8n/props";
import { PROGRAM_VOLUMES } from "../components/n8n/workload";
import { ENV_NAMES_RELEASE, readsEnv } from "./env-names";
import type { StackConfig } from "./resolve";
import type { Problem } from "./rules";

const ROLE_OF = { main: "main", workers: "worker", webhooks: "webhook" } as const;
type Section = keyof typeof ROLE_OF | "runners";

/** Env names the program itself sets on a section's container. */
function programEnv(c: StackConfig, section: Section): Set<string> {
  const props = n8nProps(c, c.namespace);
  const env = section === "runners" ? runnerEnv(props) : n8nEnv(props, ROLE_OF[section]);
  return new Set(env.map((e) => e.name));
}

function sectionProblems(c: StackConfig, section: Section): Problem[] {
  const s = c[section];
  const kind = section === "runners" ? "task-runner" : "n8n";
  const software = section === "runners" ? "the task runner" : "n8n";
  const ours = programEnv(c, section);
  const problems: Problem[] = [];
  s.extraEnv.forEach((e, i) => {
    const path = `${section}.extraEnv[${i}].name`;
    if (e.name === "N8N_ENCRYPTION_KEY") {
      problems.push({
        path,
        value: e.name,
        message: "must not be set here: the encryption key comes only from the program's Secret (encryptionKey)",
      });
    } else if (ours.has(e.name)) {
      problems.push({ path, value: e.name, message: "is set by the program; change the config key that sets it" });
    } else if (!s.allowUnknownEnv && !readsEnv(kind, e.name)) {
      problems.push({
        path,
        value: e.name,
        message: `is not a variable ${software} ${ENV_NAMES_RELEASE} reads; set ${section}.allowUnknownEnv: true to pass it anyway`,
      });
    }
  });
  const volumes = new Set(s.extraVolumes.map((v) => v.name));
  s.extraVolumes.forEach((v, i) => {
    if (PROGRAM_VOLUMES.includes(v.name)) {
      problems.push({
        path: `${section}.extraVolumes[${i}].name`,
        value: v.name,
        message: `is a volume of the program (${PROGRAM_VOLUMES.join(", ")}); pick another name`,
      });
    }
  });
  s.extraVolumeMounts.forEach((m, i) => {
    if (!volumes.has(m.name)) {
      problems.push({
        path: `${section}.extraVolumeMounts[${i}].name`,
        value: m.name,
        message: `must name one of ${section}.extraVolumes (${[...volumes].join(", ") || "none declared"})`,
      });
    }
  });
  return problems;
}

export function escapeHatchProblems(c: StackConfig): Problem[] {
  return (["main", "workers", "webhooks", "runners"] as const).flatMap((section) => sectionProblems(c, section));
}
