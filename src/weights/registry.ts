/**
 * ImageNet weights pcam knows how to fetch: torchvision's published files (ResNet18/34/50,
 * MobileNetV2), a cache folder (~/.cache/pcam/weights, or $PCAM_CACHE), resumable download with
 * progress, the SHA-256 prefix each file name publishes, conversion of the .pth checkpoint to
 * safetensors once (cached by content hash), and a check that the file really holds the backbone (every name and shape).
 * @module
 */
import { createHash } from 'node:crypto'
import { createReadStream, existsSync } from 'node:fs'
import { mkdir, rename } from 'node:fs/promises'
import { homedir } from 'node:os'
import { basename, join } from 'node:path'
import { ConfigError, DataError } from '../errors.js'
import { writeSafetensors } from './safetensors.js'
import { readTorchCheckpoint } from './torch-checkpoint.js'
import { SHARED_DIR } from '../paths.js'
import type { Architecture } from '../models/registry.js'
import { downloadFile, type DownloadProgress, type RemoteFile } from '../data/download.js'

export interface PretrainedEntry {
  arch: Architecture
  /** File name in the cache, as published. */
  file: string
  url: string
  /** The start of the file's SHA-256, published in its name (torchvision's convention). */
  sha256Prefix: string
  source: string
}

// torchvision's own ImageNet weights, from the addresses torchvision's model builders use; the
// 8 hex digits in each name begin the file's SHA-256.
const TORCHVISION = 'https://download.pytorch.org/models'
export const PRETRAINED: PretrainedEntry[] = [
  {
    arch: 'resnet18',
    file: 'resnet18-f37072fd.pth',
    url: `${TORCHVISION}/resnet18-f37072fd.pth`,
    sha256Prefix: 'f37072fd',
    source: 'torchvision ResNet18_Weights.IMAGENET1K_V1 (69.8% top-1)',
  },
  {
    arch: 'resnet34',
    file: 'resnet34-b627a593.pth',
    url: `${TORCHVISION}/resnet34-b627a593.pth`,
    sha256Prefix: 'b627a593',
    source: 'torchvision ResNet34_Weights.IMAGENET1K_V1 (73.3% top-1)',
  },
  {
    arch: 'resnet50',
    file: 'resnet50-11ad3fa6.pth',
    url: `${TORCHVISION}/resnet50-11ad3fa6.pth`,
    sha256Prefix: '11ad3fa6',
    source: 'torchvision ResNet50_Weights.IMAGENET1K_V2 (80.9% top-1)',
  },
  {
    arch: 'mobilenet_v2',
    file: 'mobilenet_v2-7ebf99e0.pth',
    url: `${TORCHVISION}/mobilenet_v2-7ebf99e0.pth`,
    sha256Prefix: '7ebf99e0',
    source: 'torchvision MobileNet_V2_Weights.IMAGENET1K_V2 (72.2% top-1)',
  },
]

export function cacheDir(): string {
  return process.env.PCAM_CACHE ?? join(homedir(), '.cache', 'pcam', 'weights')
}

/**
 * The local path of an architecture's ImageNet weights, downloading them into the cache first if
 * needed. $PCAM_WEIGHTS_MIRROR replaces the hub's address by a copy holding the same file names.
 */
export async function fetchPretrained(
  arch: Architecture,
  options: {
    onProgress?: (progress: DownloadProgress) => void
    signal?: AbortSignal
    /** Another registry (tests serve files whose hashes they know). */
    entries?: PretrainedEntry[]
  } = {},
): Promise<string> {
  const entries = options.entries ?? PRETRAINED
  const entry = entries.find((e) => e.arch === arch)
  if (!entry) {
    const known = entries.map((e) => e.arch).join(', ')
    throw new ConfigError(
      `No ImageNet weights are registered for ${arch} (registered: ${known}, and mobilenet_v1 from TF.js). ` +
        'Pass --pretrained <file.safetensors>.',
    )
  }
  const mirror = process.env.PCAM_WEIGHTS_MIRROR
  const remote: RemoteFile = {
    name: entry.file,
    url: mirror ? `${mirror.replace(/\/$/, '')}/${entry.file}` : entry.url,
    sha256Prefix: entry.sha256Prefix,
  }
  return asSafetensors(await downloadFile(remote, cacheDir(), options), { nameIsContent: true })
}

/**
 * A PyTorch .pth checkpoint as a safetensors file in the cache (converted once), which is what
 * training loads; any other path is returned as it is.
 */
export async function asSafetensors(
  path: string,
  options: {
    /** The file's name already names its content (a registry download checked against its hash). */
    nameIsContent?: boolean
  } = {},
): Promise<string> {
  if (!/\.(pth|pt)$/.test(path)) return path
  if (!existsSync(path)) throw new DataError(`Pretrained weights not found: ${path}`)
  const stem = basename(path).replace(/\.(pth|pt)$/, '')
  // A user's file is keyed by its content: two files of the same name (or one file changed)
  // never share a conversion.
  const key = options.nameIsContent ? stem : `${stem}-${(await sha256File(path)).slice(0, 16)}`
  const target = join(cacheDir(), `${key}.safetensors`)
  if (existsSync(target)) return target
  const tensors = await readTorchCheckpoint(path)
  try {
    await mkdir(cacheDir(), { recursive: true })
    await writeSafetensors(`${target}.partial`, tensors)
    await rename(`${target}.partial`, target)
  } finally {
    for (const t of tensors.values()) t.dispose()
  }
  return target
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

// The one ImageNet network available offline sits beside a development checkout.
const SHARED_MOBILENET = join(SHARED_DIR, 'weights', 'mobilenet_v1_0.75_224')

/**
 * What --pretrained names, as a path: none → null; a path as given; "imagenet" → the TF.js
 * MobileNet v1 ($PCAM_MOBILENET, else beside the checkout) or the registry's download.
 */
export async function resolvePretrained(
  value: string | undefined,
  arch: Architecture,
  options: { onProgress?: (progress: DownloadProgress) => void } = {},
): Promise<string | null> {
  if (value === undefined || value === 'none') return null
  if (value !== 'imagenet') return asSafetensors(value)
  if (arch === 'mobilenet_v1') {
    const local = process.env.PCAM_MOBILENET ?? SHARED_MOBILENET
    if (existsSync(join(local, 'model.json'))) return local
    throw new ConfigError(
      `The TF.js MobileNet was not found at ${local}; set PCAM_MOBILENET to its folder.`,
    )
  }
  return fetchPretrained(arch, options)
}
