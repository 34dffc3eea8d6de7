// Builds dist/ when it is missing or older than any source file, so that
// `npm start` and `npm run bench` work straight after `npm install`.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function newest (dir) {
  let t = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs)
  }
  return t
}

const stamp = 'dist/cli.js'
if (!existsSync(stamp) || statSync(stamp).mtimeMs < newest('src')) {
  process.stdout.write('building gatehouse (tsc)...\n')
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' })
}
