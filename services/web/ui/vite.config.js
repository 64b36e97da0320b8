// Vite builds the UI into dist/app, which the web service embeds
// (services/web/ui/assets.go). Only dist/app is emptied, so the committed
// dist/README.md keeps the embed pattern valid before the first build.
import { defineConfig } from 'vite'

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist/app',
    emptyOutDir: true,
    // The built files' names carry their content's hash; no source maps
    // or build times go into them, so a commit always builds the same bytes.
    sourcemap: false,
    reportCompressedSize: false,
  },
})
