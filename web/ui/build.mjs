// Builds Vigil's web UI into dist/, which is committed and embedded in the
// Go binary (package github.com/vigil-monitoring/vigil/web/ui), so that
// building Vigil needs no Node.js.
//
//   npm ci && npm run build       one build
//   npm run watch                 rebuild on every change (development)
//
// dist/ holds index.html (a Go html/template: the server fills in the
// session's CSRF token), assets/ with content-hashed file names (served
// with a one-year immutable cache), and SOURCE_HASH: the SHA-256 of the
// sources the build was made from. web/ui's Go test recomputes it the same
// way and fails when the committed build is stale.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = fileURLToPath(new URL('.', import.meta.url));
const dist = join(root, 'dist');
const assets = join(dist, 'assets');

// sourceHash must match sourceHash in web/ui/ui_test.go: the sorted list of
// "sha256(content)  path\n" lines (paths relative to web/ui, with "/"),
// hashed again.
function sourceHash() {
  const files = ['package.json', 'package-lock.json', 'build.mjs'];
  const walk = (dir) => {
    for (const ent of readdirSync(join(root, dir), { withFileTypes: true })) {
      const p = dir + '/' + ent.name;
      if (ent.isDirectory()) walk(p);
      else if (ent.isFile()) files.push(p);
    }
  };
  walk('src');
  files.sort();
  const list = files
    .map((f) => createHash('sha256').update(readFileSync(join(root, f))).digest('hex') + '  ' + f + '\n')
    .join('');
  return createHash('sha256').update(list).digest('hex');
}

function indexHTML(js, css) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<meta name="csrf-token" content="{{.CSRFToken}}">
<title>Vigil</title>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/${css}">
<script type="module" src="/assets/${js}"></script>
</head>
<body>
<div id="app"></div>
<noscript>Vigil's web interface needs JavaScript. The HTTP API works without it.</noscript>
</body>
</html>
`;
}

const options = {
  absWorkingDir: root,
  entryPoints: ['src/main.jsx'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  // JSX is allowed in .js files too (chart.js exports a component).
  loader: { '.js': 'jsx' },
  outdir: assets,
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
};

// writeDist writes index.html, the favicon and SOURCE_HASH around the
// bundle esbuild has just written.
function writeDist(metafile) {
  let js = '', css = '';
  for (const out of Object.keys(metafile.outputs)) {
    const name = relative(assets, join(root, out)).split(sep).join('/');
    if (name.endsWith('.js')) js = name;
    else if (name.endsWith('.css')) css = name;
  }
  if (!js || !css) throw new Error(`esbuild produced no JavaScript or no CSS: ${Object.keys(metafile.outputs)}`);
  copyFileSync(join(root, 'src', 'favicon.svg'), join(assets, 'favicon.svg'));
  writeFileSync(join(dist, 'index.html'), indexHTML(js, css));
  writeFileSync(join(dist, 'SOURCE_HASH'), sourceHash() + '\n');
  return { js, css };
}

const clean = () => {
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(assets, { recursive: true });
};

if (process.argv.includes('--watch')) {
  const ctx = await esbuild.context({
    ...options,
    plugins: [{
      name: 'vigil-dist',
      setup(build) {
        build.onStart(clean);
        build.onEnd((result) => {
          if (result.errors.length === 0) {
            const { js } = writeDist(result.metafile);
            console.log(`built ${js}`);
          }
        });
      },
    }],
  });
  await ctx.watch();
  console.log('watching src/ for changes');
} else {
  clean();
  const result = await esbuild.build(options);
  const { js, css } = writeDist(result.metafile);
  console.log(`dist/assets/${js}, dist/assets/${css}, dist/index.html, dist/SOURCE_HASH`);
}
