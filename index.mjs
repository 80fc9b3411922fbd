// ESM entry point: the library is compiled to CommonJS; Node exposes its named exports to `import`.
export * from './dist/index.js';
export { default } from './dist/index.js';
