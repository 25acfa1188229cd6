import { defineConfig } from "vitest/config";

/**
 * The engine suites (npm run test:engine): the real Pulumi CLI and Kubernetes provider against a
 * real control plane on loopback. One file at a time, long timeouts.
 */
export default defineConfig({
  test: {
    include: ["test/engine/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 1_800_000,
    hookTimeout: 900_000,
  },
});
