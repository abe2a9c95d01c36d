/**
 * Output folders written whole or not at all, and what pcam may delete on the way: only a patch
 * store at --out (with --overwrite) and a "<out>.partial" folder an earlier run of the same
 * command left. Never a source, a folder holding a source, or a folder pcam did not write,
 * whatever the flags say.
 * @module
 */
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
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
function checkPartialFolder(partial: string, command: string): void {
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

/**
 * Writes the folder `out` whole or not at all: `write` fills "<out>.partial" (marked as pcam's,
 * replacing one an earlier run of `command` left), which then replaces `out`; when `write` fails
 * the partial folder goes and `out` is untouched.
 */
export async function writeViaPartial<T>(
  out: string,
  command: string,
  write: (partial: string) => Promise<T>,
): Promise<T> {
  const partial = `${out}.partial`
  checkPartialFolder(partial, command)
  try {
    await rm(partial, { recursive: true, force: true })
    await mkdir(partial, { recursive: true })
    await writeFile(join(partial, PARTIAL_MARKER), `${command} writes here\n`)
    const result = await write(partial)
    await rm(join(partial, PARTIAL_MARKER))
    await rm(out, { recursive: true, force: true })
    await rename(partial, out)
    return result
  } catch (error) {
    await rm(partial, { recursive: true, force: true })
    throw error
  }
}
