import { defineConfig } from "vitest/config";

// Node-against-a-real-server tests: sequential, generous timeouts, CHAT_URL required.
export default defineConfig({
  test: {
    root: ".",
    include: ["tests/server/**/*.test.ts"],
    environment: "node",
    testTimeout: 30_000,
    hookTimeout: 30_000,
    fileParallelism: false,
  },
});
