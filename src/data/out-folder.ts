/**
 * What `pcam data prepare` may delete: only a patch store at --out (with --overwrite) and a
 * "<out>.partial" folder an earlier run left. Never a source, a folder holding a source, or a
 * folder pcam did not write, whatever the flags say.
 * @module
 */
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join, relative, isAbsolute } from 'node:path'
import { DataError } from '../errors.js'
import { isPatchStore } from './store.js'

/** Written first into every partial folder: a partial folder without it is not ours to delete. */
export const PARTIAL_MARKER = '.pcam-partial'

/** Whether `inner` is `outer` or lies inside it, symbolic links resolved. */
function isWithin(inner: string, outer: string): boolean {
  const path = relative(realpathSync(outer), realpathSync(inner))
  return path === '' || (!path.startsWith('..') && !isAbsolute(path))
}

/** Refuses an --out that exists unless it is a patch store (or an empty folder) holding no source. */
export function checkOutFolder(out: string, sources: string[], overwrite: boolean): void {
  if (!existsSync(out)) return
  if (!overwrite) {
    throw new DataError(
      `${out} already exists. Pass --overwrite to replace it, or choose another --out.`,
    )
  }
  const source = sources.find((s) => existsSync(s) && isWithin(s, out))
  if (source !== undefined) {
    throw new DataError(
      `Refusing to overwrite ${out}: it holds the source ${source}. Choose another --out.`,
    )
  }
  const empty = statSync(out).isDirectory() && readdirSync(out).length === 0
  if (!empty && !isPatchStore(out)) {
    throw new DataError(
      `Refusing to overwrite ${out}: it is not a patch store (no pcam meta.json), and --overwrite ` +
        'only replaces stores. Choose another --out, or move it away yourself.',
    )
  }
}

/**
 * Whether a left-over "<out>.partial" is one pcam wrote (or an empty folder), so may go;
 * `command` (e.g. "pcam data prepare") is the one that writes there.
 */
export function checkPartialFolder(partial: string, command = 'pcam data prepare'): void {
  if (!existsSync(partial)) return
  const ours =
    statSync(partial).isDirectory() &&
    (readdirSync(partial).length === 0 || existsSync(join(partial, PARTIAL_MARKER)))
  if (!ours) {
    throw new DataError(
      `${partial} exists but was not left by "${command}"; move it away or choose another --out.`,
    )
  }
}

/** Marks a freshly made partial folder as pcam's own. */
export async function markPartialFolder(
  partial: string,
  command = 'pcam data prepare',
): Promise<void> {
  await writeFile(join(partial, PARTIAL_MARKER), `${command} writes here\n`)
}
