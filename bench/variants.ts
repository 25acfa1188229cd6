/**
 * The pure parts of bench:cluster: the variants it compares (from the command line) and the
 * latency percentile. Kept apart from bench/cluster.ts so they are tested without servers.
 */

/**
 * n8n's defaults for the settings this program tunes (n8n 2.40.7), used by `--without`. A name not
 * listed here is removed from the env instead, which also gives n8n's default.
 */
export const N8N_DEFAULTS: Record<string, string | undefined> = {
  N8N_EXPRESSION_ENGINE_COMPILE_CACHE: "false",
  N8N_EXPRESSION_ENGINE_POOL_SIZE: "1",
  DB_POSTGRESDB_STATEMENT_TIMEOUT: "300000",
  EXECUTIONS_DATA_SAVE_ON_SUCCESS: "all",
  DB_POSTGRESDB_POOL_SIZE: "2",
  DB_POSTGRESDB_SSL_ENABLED: "false",
};

export interface Variant {
  name: string;
  rendered: boolean;
  /** Env changes in every n8n process of a rendered variant; undefined removes the variable. */
  env: Record<string, string | undefined>;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/**
 * Extra variants from the command line, each a rendered staging stack with some env changed:
 * `--without A,B+C` puts A (and then B and C together) back to n8n's default; `--with A=1,B=2+C=3`
 * tries values that are not rendered yet.
 */
export function extraVariants(argv: string[]): Variant[] {
  const listAfter = (flag: string) => {
    const i = argv.indexOf(flag);
    return i < 0 ? [] : (argv[i + 1] ?? "").split(",").filter(Boolean);
  };
  const without = listAfter("--without").map((group) => {
    const names = group.split("+");
    return {
      name: `a without ${names.join(" + ")}`,
      rendered: true,
      env: Object.fromEntries(names.map((n) => [n, N8N_DEFAULTS[n]])),
    };
  });
  const withs = listAfter("--with").map((group) => {
    const pairs = group.split("+").map((kv) => {
      const at = kv.indexOf("=");
      if (at < 1) throw new Error(`--with expects NAME=VALUE, got "${kv}"`);
      return [kv.slice(0, at), kv.slice(at + 1)] as const;
    });
    return {
      name: `a with ${pairs.map(([k, v]) => `${k}=${v}`).join(" + ")}`,
      rendered: true,
      env: Object.fromEntries(pairs),
    };
  });
  return [...without, ...withs];
}
