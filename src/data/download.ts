/**
 * Downloads the PCam release and the Kaggle competition files: resumable (HTTP Range on a .part
 * file), checksummed (MD5 from the record's published list; SHA-256 from the file list or the
 * Hugging Face hub's X-Linked-Etag header), with progress, and from a mirror when asked. Nothing is left half-written under the final name.
 * @module
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream, existsSync, readFileSync, statSync } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ConfigError, DataError } from '../errors.js'

/** The PCam release on Zenodo: its API lists the files with their sizes and MD5 sums. */
export const PCAM_RECORD_URL = 'https://zenodo.org/api/records/2546921'
export const KAGGLE_COMPETITION = 'histopathologic-cancer-detection'
export const KAGGLE_API = 'https://www.kaggle.com/api/v1'

export interface RemoteFile {
  name: string
  url: string
  size?: number
  md5?: string
  sha256?: string
  /** The start of the SHA-256, as torchvision's file names carry it (resnet18-f37072fd.pth). */
  sha256Prefix?: string
}

export interface DownloadProgress {
  file: string
  done: number
  total: number | undefined
}

export interface DownloadOptions {
  headers?: Record<string, string>
  onProgress?: (progress: DownloadProgress) => void
  signal?: AbortSignal
}

export async function digestOf(path: string, algorithm: 'md5' | 'sha256'): Promise<string> {
  const hash = createHash(algorithm)
  await pipeline(createReadStream(path), hash)
  return hash.digest('hex')
}

/**
 * The SHA-256 a host publishes with the response: the Hugging Face hub names Git LFS files by it
 * in X-Linked-Etag (ETag on the final, redirected response).
 */
function publishedSha256(headers: Headers): string | undefined {
  for (const name of ['x-linked-etag', 'etag']) {
    const value = /^(?:W\/)?"?([0-9a-f]{64})"?$/.exec(headers.get(name) ?? '')
    if (value) return value[1]
  }
  return undefined
}

/** Whether a file on disk matches every checksum known for it. */
async function verified(path: string, file: RemoteFile): Promise<boolean> {
  if (file.md5 && (await digestOf(path, 'md5')) !== file.md5) return false
  if (file.sha256 && (await digestOf(path, 'sha256')) !== file.sha256) return false
  if (file.sha256Prefix && !(await digestOf(path, 'sha256')).startsWith(file.sha256Prefix))
    return false
  return true
}

/**
 * Downloads one file into dir, resuming a previous .part file when the server allows ranges, and
 * checks its MD5 when known. Returns the final path; a complete, verified file is not fetched again.
 */
export async function downloadFile(
  file: RemoteFile,
  dir: string,
  options: DownloadOptions = {},
): Promise<string> {
  await mkdir(dir, { recursive: true })
  const target = join(dir, file.name)
  if (existsSync(target) && (await verified(target, file))) return target
  const part = `${target}.part`
  const have = existsSync(part) ? statSync(part).size : 0
  const headers: Record<string, string> = { ...options.headers }
  if (have > 0) headers.Range = `bytes=${have}-`
  let response: Response
  try {
    response = await fetch(file.url, { headers, signal: options.signal, redirect: 'follow' })
  } catch (error) {
    throw new DataError(
      `Cannot reach ${file.url}: ${(error as Error).message}. Check the network or use --mirror.`,
      {
        cause: error,
      },
    )
  }
  if (response.status === 401 || response.status === 403) {
    throw new ConfigError(`${file.url} refused the credentials (HTTP ${response.status}).`)
  }
  if (response.status === 416 && have > 0 && file.size === have) {
    // The .part file is already complete.
  } else if (!response.ok || !response.body) {
    throw new DataError(
      `Download of ${file.url} failed: HTTP ${response.status} ${response.statusText}`,
    )
  }
  const resumed = response.status === 206
  const length = Number(response.headers.get('content-length')) || undefined
  const total = file.size ?? (length === undefined ? undefined : length + (resumed ? have : 0))
  if (response.status !== 416 && response.body) {
    let done = resumed ? have : 0
    const counted = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream).on(
      'data',
      (chunk: Buffer) => {
        done += chunk.length
        options.onProgress?.({ file: file.name, done, total })
      },
    )
    await pipeline(counted, createWriteStream(part, { flags: resumed ? 'a' : 'w' }), {
      signal: options.signal,
    })
  }
  const size = statSync(part).size
  if (total !== undefined && size !== total) {
    throw new DataError(
      `${file.name}: received ${size} of ${total} bytes; run the command again to resume.`,
    )
  }
  const expected: ['md5' | 'sha256', string | undefined][] = [
    ['md5', file.md5],
    ['sha256', file.sha256 ?? publishedSha256(response.headers)],
  ]
  if (file.sha256Prefix) {
    const actual = await digestOf(part, 'sha256')
    if (!actual.startsWith(file.sha256Prefix)) {
      await rm(part)
      throw new DataError(
        `${file.name}: SHA256 ${actual} does not start with the published ${file.sha256Prefix}; deleted it, run again.`,
      )
    }
  }
  for (const [algorithm, sum] of expected) {
    if (!sum) continue
    const actual = await digestOf(part, algorithm)
    if (actual !== sum) {
      await rm(part)
      throw new DataError(
        `${file.name}: ${algorithm.toUpperCase()} ${actual} does not match the published ${sum}; deleted it, run again.`,
      )
    }
  }
  await rename(part, target)
  return target
}

interface ZenodoRecord {
  files: { key: string; size: number; checksum: string; links: { self: string } }[]
}

/**
 * The PCam files to fetch: from the record's file list (names, sizes, MD5 sums); with a mirror,
 * the same names under the mirror's address (its record.json gives the sums, if it has one).
 */
export async function pcamFiles(
  options: { mirror?: string; splits?: string[] } = {},
): Promise<RemoteFile[]> {
  const recordUrl = options.mirror
    ? `${options.mirror.replace(/\/$/, '')}/record.json`
    : PCAM_RECORD_URL
  let record: ZenodoRecord
  try {
    const response = await fetch(recordUrl)
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    record = (await response.json()) as ZenodoRecord
  } catch (error) {
    throw new DataError(
      `Cannot read the PCam file list at ${recordUrl}: ${(error as Error).message}`,
      { cause: error },
    )
  }
  const wanted = (name: string) =>
    !options.splits || options.splits.some((s) => name.includes(`_split_${s}_`))
  return record.files
    .filter((f) => f.key.startsWith('camelyonpatch_level_2_split_') && wanted(f.key))
    .map((f) => ({
      name: f.key,
      url: options.mirror ? `${options.mirror.replace(/\/$/, '')}/${f.key}` : f.links.self,
      size: f.size,
      md5: f.checksum.startsWith('md5:') ? f.checksum.slice(4) : undefined,
    }))
}

/** Kaggle API credentials: $KAGGLE_USERNAME/$KAGGLE_KEY or ~/.kaggle/kaggle.json. */
export function kaggleCredentials(home = homedir()): { username: string; key: string } {
  if (process.env.KAGGLE_USERNAME && process.env.KAGGLE_KEY) {
    return { username: process.env.KAGGLE_USERNAME, key: process.env.KAGGLE_KEY }
  }
  const path = join(home, '.kaggle', 'kaggle.json')
  if (!existsSync(path)) {
    throw new ConfigError(
      `Kaggle credentials not found: ${path} is missing. Create an API token on kaggle.com ` +
        `(Account → API → Create New Token), save it there, accept the "${KAGGLE_COMPETITION}" ` +
        'competition rules, or set KAGGLE_USERNAME and KAGGLE_KEY.',
    )
  }
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as { username?: string; key?: string }
  if (!parsed.username || !parsed.key) throw new ConfigError(`${path} needs "username" and "key".`)
  return { username: parsed.username, key: parsed.key }
}

/** The competition's single archive, through the Kaggle API (or a mirror holding the same name). */
export function kaggleFiles(options: { mirror?: string } = {}): RemoteFile[] {
  const name = `${KAGGLE_COMPETITION}.zip`
  const url = options.mirror
    ? `${options.mirror.replace(/\/$/, '')}/${name}`
    : `${KAGGLE_API}/competitions/data/download-all/${KAGGLE_COMPETITION}`
  return [{ name, url }]
}

export function basicAuth(username: string, key: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${username}:${key}`).toString('base64')}` }
}
