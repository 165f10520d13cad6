/** esbuild bundles CSS imported from the console's modules into main.css. */
declare module '*.css';
