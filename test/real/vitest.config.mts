import { defineConfig } from "vitest/config";

/** Slow suites against real servers (npm run test:real): one file at a time, long timeouts. */
export default defineConfig({
  test: {
    include: ["test/real/**/*.test.ts", "test/faults/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 900_000,
    hookTimeout: 600_000,
  },
});
