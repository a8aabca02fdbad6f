// The dashboard is built into the Python package, which serves it at / (cityhub/web/spa.py).
// Run from the repository root: `npm run build` (= vite build web).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    outDir: "../cityhub/web/static",
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 1500,
    reportCompressedSize: false,
  },
  server: {
    // `npm run dev` proxies the API to a hub on :8000 (make demo).
    proxy: { "/api": "http://127.0.0.1:8000", "/open311": "http://127.0.0.1:8000" },
  },
});
