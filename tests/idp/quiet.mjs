// Imported before oidc-provider: stdout carries only the READY line, so the library's
// NOTICE lines (console.info) go to stderr, and its "Unsupported runtime" warning for
// Node 20 (it wants the Node 22 LTS, yet runs on >= 20.18) is dropped.

const warn = console.warn.bind(console);
console.info = (...args) => console.error(...args);
console.warn = (...args) => {
  if (typeof args[0] === 'string' && args[0].includes('Unsupported runtime')) return;
  warn(...args);
};
