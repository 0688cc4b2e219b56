// One Vitest run for the shared package and every app (jsdom for components).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "jsdom",
    globals: true,
    include: ["shared/src/**/*.test.{ts,tsx}", "*_app/src/**/*.test.{ts,tsx}", "dev/*.test.ts"],
    reporters: process.env.UO_JUNIT_FILE ? ["default", "junit"] : ["default"],
    outputFile: process.env.UO_JUNIT_FILE ? { junit: process.env.UO_JUNIT_FILE } : undefined,
  },
});
