import { describe, expect, it } from "vitest";
import { formatCpu, formatMemory, memoryBytes, parseQuantity, toMebibytes } from "../config/quantity";

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

  it("formats cores and bytes back", () => {
    expect(formatCpu(0.25)).toBe("250m");
    expect(formatCpu(3)).toBe("3");
    expect(formatMemory(1.5 * 2 ** 30)).toBe("1.5Gi");
    expect(formatMemory(memoryBytes("819Mi"))).toBe("819Mi");
    expect(toMebibytes(memoryBytes("1Gi"))).toBe(1024);
  });
});
