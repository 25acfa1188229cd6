/**
 * PostgreSQL with every parameter of the rendered SPILO_CONFIGURATION (staging and prod): it must
 * start, and SHOW each value back. Local stand-ins: none for the values; the WAL-G
 * archive_command Spilo adds is replaced by /bin/true (no S3 here), and the TLS certificate is a
 * throwaway one, as Spilo generates its own.
 */
import { afterAll, describe, expect, it } from "vitest";
import { spiloParameters, startPostgres } from "../../support/postgres";
import { manifests, removeDir, stopAll } from "../../support/servers";

const UNITS: Record<string, number> = {
  B: 1,
  kB: 1024,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
  TB: 1024 ** 4,
  us: 1e-3,
  ms: 1,
  s: 1000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** A value in base units (bytes or ms) when it has a unit; otherwise the text. */
function normalize(value: string, defaultUnit?: string): string {
  const m = /^(-?\d+(?:\.\d+)?)\s*(B|kB|MB|GB|TB|us|ms|s|min|h|d)?$/.exec(value);
  if (!m) return value;
  const unit = m[2] ?? defaultUnit;
  if (!unit) return String(Number(m[1]));
  const scale = /^(\d+)(\w+)$/.exec(unit);
  const factor = scale ? Number(scale[1]) * (UNITS[scale[2] as string] ?? 1) : (UNITS[unit] ?? 1);
  return String(Number(m[1]) * factor);
}

const dirs: string[] = [];
afterAll(async () => {
  await stopAll();
  for (const d of dirs) removeDir(d);
});

describe.each(["staging", "prod"])("the %s parameters", (stack) => {
  it("start PostgreSQL and read back as rendered", async () => {
    const params = spiloParameters(manifests(stack));
    expect(Object.keys(params).length).toBeGreaterThan(20);
    expect(params.archive_timeout).toBe("60s");
    const pg = await startPostgres({ ...params, archive_command: "/bin/true" });
    dirs.push(pg.dir);
    const mismatches: string[] = [];
    for (const [name, value] of Object.entries(params)) {
      const row = pg.psql(`SELECT setting || '|' || coalesce(unit, '') FROM pg_settings WHERE name = '${name}'`);
      const [setting, unit] = row.split("|") as [string, string];
      const expected = normalize(value, unit || undefined);
      const actual = normalize(setting, unit || undefined);
      if (expected !== actual) mismatches.push(`${name}: rendered ${value}, server ${setting}${unit}`);
    }
    expect(mismatches).toEqual([]);
    await pg.stop();
  });
});
