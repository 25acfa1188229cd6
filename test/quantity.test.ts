import { describe, expect, it } from "vitest";
import { formatCpu, formatMemory, memoryBytes, parseQuantity, toMebibytes } from "../config/quantity";
import { quantity as packQuantity } from "../policies/policies";

describe("quantities", () => {
  it.each([
    ["500m", 0.5],
    ["2", 2],
    [1.5, 1.5],
    ["512Mi", 512 * 2 ** 20],
    ["1Gi", 2 ** 30],
    ["2G", 2e9],
    ["100k", 1e5],
  ])("parses %s", (q, expected) => {
    expect(parseQuantity(q)).toBeCloseTo(expected);
  });

  it.each(["", "lots", "1.5.5", "-1", "10 Gi", "1gi"])("rejects %j", (q) => {
    expect(parseQuantity(q)).toBeUndefined();
  });

  it("the policy pack's copy of the parser agrees with the program's on every suffix and on malformed input", () => {
    const suffixes = ["", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    const wrong = ["K", "g", "mi", "KiB", "u", "n", "e3", "Zi"];
    const inputs = [
      ...["0", "1", "1.5", "250", "0.001"].flatMap((n) => [...suffixes, ...wrong].map((s) => `${n}${s}`)),
      ...["", " ", "lots", "1.5.5", "-1", "+1", "10 Gi", " 2Gi ", "1e3", ".5", "5.", "0x10"],
      7,
      0.25,
    ];
    for (const q of inputs) expect(packQuantity(q), JSON.stringify(q)).toBe(parseQuantity(q));
  });

  it("formats cores and bytes back", () => {
    expect(formatCpu(0.25)).toBe("250m");
    expect(formatCpu(3)).toBe("3");
    expect(formatMemory(1.5 * 2 ** 30)).toBe("1.5Gi");
    expect(formatMemory(memoryBytes("819Mi"))).toBe("819Mi");
    expect(toMebibytes(memoryBytes("1Gi"))).toBe(1024);
  });
});
