import { defineConfig } from "vite";

// The Flask app serves dist/ at "/": relative asset URLs keep it working under any prefix.
export default defineConfig({
  root: "src/ui",
  base: "./",
  publicDir: "public",
  build: {
    outDir: "../../dist",
    emptyOutDir: true,
    target: "es2020",
  },
  server: {
    proxy: {
      "/api": process.env.CHAT_URL ?? "http://127.0.0.1:5000",
      "/socket.io": { target: process.env.CHAT_URL ?? "http://127.0.0.1:5000", ws: true },
    },
  },
  test: {
    root: ".",
    include: ["tests/unit/**/*.test.ts"],
    environment: "node",
  },
});
