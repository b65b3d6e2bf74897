/// <reference types="vitest/config" />
// Vite builds the app into dist/, which `warren-ingest` serves at `/` (index.html for any
// client-side route). In development the dev server forwards the API, ingest and socket.io
// to a Warren running on :8080, so the app always talks to its own origin. The browser still
// names this server's origin (http://localhost:5173) in `Origin`, which Warren must trust for
// the session cookie's writes and sockets: scripts/run sets WARREN_ALLOWED_ORIGINS to include it.
import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

const warren = process.env.WARREN_URL ?? 'http://localhost:8080'

export default defineConfig({
  base: '/',
  plugins: [react()],
  server: {
    proxy: {
      '/api': { target: warren, changeOrigin: true },
      '/ingest': { target: warren, changeOrigin: true },
      '/socket.io': { target: warren, changeOrigin: true, ws: true },
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test/setup.ts'],
    css: false,
    restoreMocks: true,
    testTimeout: 15_000,
  },
})
