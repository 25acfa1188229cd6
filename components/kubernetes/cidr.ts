/** IPv4 CIDR arithmetic for NetworkPolicy ipBlocks and their evaluation. Pure. */

export function ipToInt(ip: string): number {
  const parts = ip.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${ip}`);
  }
  return (
    (((parts[0] as number) << 24) |
      ((parts[1] as number) << 16) |
      ((parts[2] as number) << 8) |
      (parts[3] as number)) >>>
    0
  );
}

function parse(cidr: string): { base: number; bits: number } {
  const [ip, bits] = cidr.split("/");
  const n = Number(bits);
  if (ip === undefined || !Number.isInteger(n) || n < 0 || n > 32) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  return { base: (ipToInt(ip) & maskOf(n)) >>> 0, bits: n };
}

function maskOf(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

export function cidrContainsIp(cidr: string, ip: string): boolean {
  const { base, bits } = parse(cidr);
  return (ipToInt(ip) & maskOf(bits)) >>> 0 === base;
}

/** Whether `inner` lies wholly inside `outer` (Kubernetes requires this of an ipBlock's except). */
export function cidrContains(outer: string, inner: string): boolean {
  const o = parse(outer);
  const i = parse(inner);
  return i.bits >= o.bits && (i.base & maskOf(o.bits)) >>> 0 === o.base;
}
