// Shared by the build steps that bundle packages (vendor-knex.mjs, vendor-pg.mjs,
// bundle.mjs): one CommonJS file for Node 20, and the licences of what is in it beside it.
import { build } from 'esbuild';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * Bundle `contents` (CommonJS, resolved from `resolveDir`) into `outfile`, and write the
 * licences of the packages in it to `<outfile without .cjs>.LICENSES.txt`.
 */
export async function buildVendor({ root, resolveDir, sourcefile, contents, outfile, external, plugins = [], by }) {
  const result = await build({
    metafile: true,
    absWorkingDir: root,
    stdin: { resolveDir, loader: 'js', sourcefile, contents },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile,
    logLevel: 'warning',
    legalComments: 'eof',
    external,
    plugins,
  });
  const name = relative(root, outfile).split('\\').join('/');
  writeLicenses({ root, metafile: result.metafile, bundle: name, by, file: outfile.replace(/\.cjs$/, '.LICENSES.txt') });
}

// The licences (MIT, ISC, Apache-2.0, 0BSD) ask that their notices go with every copy: one
// text file beside the bundle, per package, from esbuild's metafile.

/** Write `file`: the licence of every package esbuild put into `bundle` (`result.metafile`). */
export function writeLicenses({ root, metafile, bundle, by, file }) {
  const packages = new Map();
  const dirs = new Set(Object.keys(metafile.inputs).map((input) => /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1]));
  for (const d of dirs) {
    if (d === undefined) continue;
    const dir = join(root, d);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const id = `${pkg.name}@${pkg.version}`;
    if (packages.has(id)) continue;
    const lic = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
    packages.set(id, `${id} (${pkg.license ?? 'see package'})\n\n${lic ? readFileSync(join(dir, lic), 'utf8').trim() : `(no licence file in the package; its package.json says ${pkg.license})`}`);
  }
  writeFileSync(
    file,
    `${bundle} bundles these packages, built by ${by}:\n\n${[...packages.keys()].sort().map((k) => `${'='.repeat(78)}\n${packages.get(k)}\n`).join('\n')}`,
  );
}
