/**
 * Stack config: parse (zod) -> resolve (presets, derived numbers) -> cross-field rules.
 * `parseStackConfig` is pure and throws ConfigError with every problem at once.
 */

import { movedKeyProblems } from "./edge";
import { ConfigError, problemsFromZod } from "./errors";
import { resolveConfig, type StackConfig } from "./resolve";
import { checkRules } from "./rules";
import { stackConfigSchema } from "./schema";

export { ConfigError, formatProblem } from "./errors";
export type { StackConfig } from "./resolve";
export { MIN_ENCRYPTION_KEY_LENGTH, SECRET_KEYS, type SecretKey, stackConfigSchema } from "./schema";

export function parseStackConfig(stack: string, raw: unknown): StackConfig {
  const moved = movedKeyProblems(raw);
  if (moved.length > 0) throw new ConfigError(stack, moved);
  const parsed = stackConfigSchema.safeParse(raw ?? {}, { reportInput: true });
  if (!parsed.success) throw new ConfigError(stack, problemsFromZod(parsed.error, raw));
  const config = resolveConfig(stack, parsed.data);
  const problems = checkRules(config);
  if (problems.length > 0) throw new ConfigError(stack, problems);
  return config;
}
