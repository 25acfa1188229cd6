import { defineConfig } from "vitest/config";

/** The fault scenarios alone (npm run test:faults); test:real runs them with the other real suites. */
export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 900_000,
    hookTimeout: 600_000,
  },
});
