/**
 * Kubernetes resource quantities (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/),
 * parsed into plain numbers so that the config rules, the Postgres memory settings and the render
 * summary can compare and add them. Pure; no Pulumi.
 */

const DECIMAL: Record<string, number> = {
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};
const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

/** Parses a quantity ("500m", "1.5", "512Mi", "2G") into its base unit (cores or bytes); undefined if malformed. */
export function parseQuantity(q: string | number): number | undefined {
  const text = String(q).trim();
  const match = QUANTITY.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]);
  const suffix = match[2] ?? "";
  const factor = BINARY[suffix] ?? DECIMAL[suffix];
  return factor === undefined ? undefined : value * factor;
}

/** CPU cores of a quantity such as "250m" or "2". Throws on malformed input (config validation rejects those first). */
export function cpuCores(q: string | number): number {
  const v = parseQuantity(q);
  if (v === undefined) throw new Error(`not a CPU quantity: ${q}`);
  return v;
}

/** Bytes of a memory quantity such as "512Mi". Throws on malformed input (config validation rejects those first). */
export function memoryBytes(q: string | number): number {
  const v = parseQuantity(q);
  if (v === undefined) throw new Error(`not a memory quantity: ${q}`);
  return v;
}

/** Formats cores as a short human string: 0.25 -> "250m", 2 -> "2". */
export function formatCpu(cores: number): string {
  const milli = Math.round(cores * 1000);
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

/** Formats bytes in the largest binary unit that keeps one decimal: 1610612736 -> "1.5Gi". */
export function formatMemory(bytes: number): string {
  for (const unit of ["Ei", "Pi", "Ti", "Gi", "Mi", "Ki"] as const) {
    const factor = BINARY[unit] as number;
    if (bytes >= factor) {
      const v = Math.round((bytes / factor) * 10) / 10;
      return `${v}${unit}`;
    }
  }
  return String(Math.round(bytes));
}

/** Whole mebibytes of a byte count, rounded down (PostgreSQL and Redis settings are written in MB). */
export function toMebibytes(bytes: number): number {
  return Math.floor(bytes / BINARY.Mi!);
}
