/**
 * ImageNet weights pcam knows how to fetch: their published addresses, a cache folder
 * (~/.cache/pcam/weights, or $PCAM_CACHE), resumable download with progress, and a check that
 * the file really holds the backbone (every name and shape must load strictly). The hub publishes
 * each file's SHA-256 with the download (X-Linked-Etag), and it is checked.
 * @module
 */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '../errors.js'
import { SHARED_DIR } from '../paths.js'
import type { Architecture } from '../models/registry.js'
import { downloadFile, type DownloadProgress, type RemoteFile } from '../data/download.js'

export interface PretrainedEntry {
  arch: Architecture
  /** File name in the cache. */
  file: string
  url: string
  /** Published MD5 when the host lists one (the hub sends SHA-256 with each download instead). */
  md5?: string
  source: string
}

// timm's ResNet checkpoints on the Hugging Face hub use torchvision's parameter names.
const HUB = 'https://huggingface.co'
export const PRETRAINED: PretrainedEntry[] = [
  {
    arch: 'resnet18',
    file: 'resnet18.a1_in1k.safetensors',
    url: `${HUB}/timm/resnet18.a1_in1k/resolve/main/model.safetensors`,
    source: 'timm resnet18.a1_in1k (ImageNet-1k)',
  },
  {
    arch: 'resnet34',
    file: 'resnet34.a1_in1k.safetensors',
    url: `${HUB}/timm/resnet34.a1_in1k/resolve/main/model.safetensors`,
    source: 'timm resnet34.a1_in1k (ImageNet-1k)',
  },
  {
    arch: 'resnet50',
    file: 'resnet50.a1_in1k.safetensors',
    url: `${HUB}/timm/resnet50.a1_in1k/resolve/main/model.safetensors`,
    source: 'timm resnet50.a1_in1k (ImageNet-1k)',
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
  options: { onProgress?: (progress: DownloadProgress) => void; signal?: AbortSignal } = {},
): Promise<string> {
  const entry = PRETRAINED.find((e) => e.arch === arch)
  if (!entry) {
    const known = PRETRAINED.map((e) => e.arch).join(', ')
    throw new ConfigError(
      `No ImageNet weights are registered for ${arch} (registered: ${known}, and mobilenet_v1 from TF.js). ` +
        'Pass --pretrained <file.safetensors>.',
    )
  }
  const mirror = process.env.PCAM_WEIGHTS_MIRROR
  const remote: RemoteFile = {
    name: entry.file,
    url: mirror ? `${mirror.replace(/\/$/, '')}/${entry.file}` : entry.url,
    md5: entry.md5,
  }
  return downloadFile(remote, cacheDir(), options)
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
  if (value !== 'imagenet') return value
  if (arch === 'mobilenet_v1') {
    const local = process.env.PCAM_MOBILENET ?? SHARED_MOBILENET
    if (existsSync(join(local, 'model.json'))) return local
    throw new ConfigError(
      `The TF.js MobileNet was not found at ${local}; set PCAM_MOBILENET to its folder.`,
    )
  }
  return fetchPretrained(arch, options)
}
