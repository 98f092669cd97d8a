// Flue 2.x builds with Vite: the flue() plugin turns src/app.ts plus every 'use agent' module
// into dist/app.mjs (the application, not listening) and dist/server.mjs (which listens on every
// interface, so the interop harness never runs it; it runs ../start.mjs instead).
import { flue } from '@flue/vite';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [flue()],
  logLevel: 'warn',
});
