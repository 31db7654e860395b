// Build the process owner's editor: bundle the ES modules under web/assets/editor with esbuild
// into web/static/build (editor.js/.css, diff.js/.css) and copy the fonts the CSS refers to.
// bpmnlint resolves rules by name at run time (a require() per rule), which a browser bundle
// cannot do: its recommended configuration is packed here into a module of static imports.
import { build } from 'esbuild';
import { createRequire } from 'node:module';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const out = path.join(root, 'web/static/build');
const require = createRequire(import.meta.url);

function packedLintConfig() {
  const { rules } = require('bpmnlint/config/recommended');
  const names = Object.keys(rules);
  const lines = names.map((name, i) => `import rule${i} from 'bpmnlint/rules/${name}';`);
  lines.push('const cache = {};');
  names.forEach((name, i) => lines.push(`cache['bpmnlint/${name}'] = rule${i};`));
  lines.push(
    `export const config = { rules: ${JSON.stringify(rules)} };`,
    'export const resolver = {',
    '  resolveRule(pkg, name) {',
    "    const rule = cache[pkg + '/' + name];",
    "    if (!rule) { throw new Error('unknown lint rule ' + pkg + '/' + name); }",
    '    return rule;',
    '  },',
    "  resolveConfig(pkg, name) { throw new Error('unknown lint config ' + pkg + '/' + name); }",
    '};',
    'export default { config, resolver };');
  return lines.join('\n');
}

const lintConfigPlugin = {
  name: 'cauce-lint-config',
  setup(b) {
    b.onResolve({ filter: /^cauce-lint-config$/ }, () => ({ path: 'cauce-lint-config', namespace: 'lint' }));
    b.onLoad({ filter: /.*/, namespace: 'lint' }, () => ({
      contents: packedLintConfig(), resolveDir: root, loader: 'js' }));
  }
};

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: {
    editor: path.join(here, 'editor.js'),  // imports editor.css: esbuild writes editor.css
    diff: path.join(here, 'diff.js'),
  },
  bundle: true,
  minify: true,
  sourcemap: false,
  // ES modules with splitting: the DMN editor is a chunk loaded only when a table is opened.
  format: 'esm',
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  target: ['es2020'],
  outdir: out,
  legalComments: 'linked',
  loader: { '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.eot': 'file', '.svg': 'file' },
  assetNames: 'fonts/[name]-[hash]',
  plugins: [lintConfigPlugin],
  logLevel: 'warning',
});
console.log('editor bundle written to web/static/build');
