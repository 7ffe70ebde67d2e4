import { defineConfig } from 'vitest/config';

// The app is served by `rill serve` at /, so assets are referenced from the
// root; `base: './'` keeps it working from any path (e.g. file previews).
export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1000,
  },
  test: {
    environment: 'jsdom',
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    // An upper bound, not a speed check: at load 35 on 2 cores the
    // decimator's randomised test took over 5 s (Vitest's default) to run.
    testTimeout: 60000,
  },
});
