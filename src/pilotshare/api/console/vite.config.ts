// The console is served by the API at /console/; `npm run dev` proxies the API for development.
import { defineConfig } from "vite";

const api = process.env.PILOTSHARE_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  base: "/console/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2021",
    chunkSizeWarningLimit: 1200,
    rollupOptions: {
      output: {
        // the charts and the timeline are large and change rarely: their own cached files
        manualChunks: {
          charts: ["echarts/core", "echarts/charts", "echarts/components", "echarts/renderers"],
          timeline: ["vis-timeline/standalone"],
        },
      },
    },
  },
  server: { proxy: { "/api": api, "/metrics": api } },
});
