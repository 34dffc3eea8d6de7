import { createPrivateKey, X509Certificate } from 'node:crypto'
import { createSecureContext } from 'node:tls'
import { errnoText, optionalSection, text, type Checker } from '../fields.js'
import type { TlsConfig } from '../types.js'

/** Reads a PEM file through the checker (so reloads and the watch see it), reporting why not at `path`. */
function readPem (c: Checker, file: string | undefined, path: string): string | undefined {
  if (file === undefined) return undefined
  try {
    return c.readFile(file)
  } catch (err) {
    c.add(path, `cannot read ${JSON.stringify(file)}: ${errnoText(err)}`)
    return undefined
  }
}

/**
 * What is wrong with a certificate and key pair, or undefined: each is parsed
 * on its own first, so the problem names the file at fault.
 */
export function tlsPairProblem (cert: string, key: string, where: { certFile: string, keyFile: string }): { field: 'certFile' | 'keyFile', message: string } | undefined {
  try { new X509Certificate(cert) } catch { return { field: 'certFile', message: `${JSON.stringify(where.certFile)} holds no PEM certificate` } }
  try { createPrivateKey(key) } catch { return { field: 'keyFile', message: `${JSON.stringify(where.keyFile)} holds no PEM private key (an encrypted key is not supported)` } }
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    const mismatch = /key values mismatch|KEY_VALUES_MISMATCH/i.test((err as Error).message)
    return { field: 'keyFile', message: mismatch ? `${JSON.stringify(where.keyFile)} is not the key of the certificate in ${JSON.stringify(where.certFile)}` : `${JSON.stringify(where.keyFile)} cannot be used with ${JSON.stringify(where.certFile)}: ${(err as Error).message}` }
  }
  return undefined
}

export const tls = optionalSection({
  certFile: text({ required: true, description: 'PEM certificate (leaf first, then intermediates); read again on reload, so a rotated certificate needs no restart' }),
  keyFile: text({ required: true, description: 'PEM private key (unencrypted) of the certificate' }),
}, {
  description: 'serve the proxy listener over HTTPS (HTTP/1.1 with keep-alive)',
  build (v, c, { path }): TlsConfig | undefined {
    const cert = readPem(c, v.certFile, `${path}.certFile`)
    const key = readPem(c, v.keyFile, `${path}.keyFile`)
    if (cert === undefined || key === undefined || v.certFile === undefined || v.keyFile === undefined) return undefined
    const problem = tlsPairProblem(cert, key, { certFile: v.certFile, keyFile: v.keyFile })
    if (problem !== undefined) { c.add(`${path}.${problem.field}`, problem.message); return undefined }
    return { certFile: v.certFile, keyFile: v.keyFile, cert, key }
  },
})
