/**
 * pcam download pcam|kaggle: fetch the data sets, resumably and checksummed.
 * @module
 */
import {
  basicAuth,
  downloadFile,
  kaggleCredentials,
  kaggleFiles,
  pcamFiles,
  type RemoteFile,
} from '../../data/download.js'
import { ValidationError } from '../../errors.js'
import type { Command } from '../command.js'
import { createProgress, withInterrupt } from '../progress.js'

export const downloadCommand: Command = {
  name: 'download',
  args: 'pcam|kaggle',
  summary: 'Download PCam (official HDF5 release) or the Kaggle competition files.',
  description:
    'pcam download pcam --out data/pcam      the 9 files of the PCam record (7.5 GB), MD5-checked\n' +
    'pcam download kaggle --out data/kaggle  the competition archive (needs ~/.kaggle/kaggle.json)\n' +
    'An interrupted download resumes from its .part file when run again.',
  options: {
    out: {
      type: 'string',
      required: true,
      value: 'folder',
      description: 'Folder to download into',
    },
    mirror: {
      type: 'string',
      description: 'Base URL of a copy holding the same file names (PCam: and record.json)',
    },
    splits: {
      type: 'string',
      description: 'PCam only: comma-separated splits to fetch (train,valid,test)',
    },
  },
  async run(values, positionals) {
    const what = positionals[0]
    if (what !== 'pcam' && what !== 'kaggle')
      throw new ValidationError('Say what to download: pcam download pcam|kaggle --out <dir>')
    const mirror = values.mirror as string | undefined
    let files: RemoteFile[]
    let headers: Record<string, string> = {}
    if (what === 'pcam') {
      const splits = typeof values.splits === 'string' ? values.splits.split(',') : undefined
      files = await pcamFiles({ mirror, splits })
    } else {
      files = kaggleFiles({ mirror })
      if (!mirror) {
        const { username, key } = kaggleCredentials()
        headers = basicAuth(username, key)
      }
    }
    await withInterrupt(async (signal) => {
      for (const file of files) {
        const progress = createProgress(file.name, file.size ?? 0)
        const path = await downloadFile(file, values.out as string, {
          headers,
          signal,
          onProgress: ({ done, total }) => progress.update(done, total),
        })
        progress.finish(file.md5 ? '(MD5 verified)' : '')
        console.log(path)
      }
    })
    console.log(`Next: pcam data prepare ${values.out} --out <store>`)
  },
}
