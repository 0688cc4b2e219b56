// Built by Vite into dist/ (served by the app server, which forwards /api/* to the gateway).
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({ plugins: [react()], build: { outDir: "dist", emptyOutDir: true } });
