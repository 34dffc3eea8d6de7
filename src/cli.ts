#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { serve } from './cli-run.js'
import { loadConfigFile } from './config/load.js'
import { configSchema } from './config/schema.js'
import type { Config } from './config/types.js'
import { configWarnings } from './config/warnings.js'
import { ConfigError } from './errors.js'

const USAGE = `Usage:
  gatehouse [run] --config FILE      run the gateway (run is the default command)
  gatehouse check --config FILE      validate the config: print every problem, exit 0 if valid, 1 if not
  gatehouse schema                   print the JSON Schema of the config file (for editors)
  gatehouse --version                print the version
  gatehouse --help                   print this help

Options:
  -c, --config FILE   the YAML configuration file
  -v, --version       print the version and exit
  -h, --help          print this help and exit

Environment:
  GATEHOUSE_CONFIG    the configuration file, when --config is not given`

const COMMANDS = ['run', 'check', 'schema']

function fail (message: string): never {
  process.stderr.write(message.endsWith('\n') ? message : message + '\n')
  process.exit(1)
}

/** package.json sits one level above both src/ and dist/. */
function version (): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
}

function readConfig (file: string): Config {
  try {
    return loadConfigFile(file)
  } catch (err) {
    if (err instanceof ConfigError) {
      fail(`${file}: ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}:\n${err.problems.map((p) => `  ${p}`).join('\n')}`)
    }
    throw err
  }
}

async function main (argv: string[]): Promise<void> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
    })
  } catch (err) {
    fail(`gatehouse: ${(err as Error).message}\n\n${USAGE}`)
  }
  if (parsed.values.help === true) { process.stdout.write(USAGE + '\n'); return }
  if (parsed.values.version === true) { process.stdout.write(version() + '\n'); return }
  const [command = 'run', ...rest] = parsed.positionals
  if (!COMMANDS.includes(command)) fail(`gatehouse: unknown command: ${command} (expected ${COMMANDS.join(', ')})\n\n${USAGE}`)
  if (rest.length > 0) fail(`gatehouse: unexpected argument: ${rest.join(' ')}\n\n${USAGE}`)
  if (command === 'schema') { process.stdout.write(JSON.stringify(configSchema(), null, 2) + '\n'); return }
  const file = parsed.values.config ?? process.env.GATEHOUSE_CONFIG
  if (file === undefined || file === '') fail(`gatehouse: no configuration: pass --config FILE or set GATEHOUSE_CONFIG\n\n${USAGE}`)
  const config = readConfig(file)
  if (command === 'check') {
    process.stdout.write(`${file}: OK (${config.providers.length} provider${config.providers.length === 1 ? '' : 's'}, ${config.routes.length} route${config.routes.length === 1 ? '' : 's'}, ${config.session.store} sessions)\n`)
    for (const warning of configWarnings(config)) process.stderr.write(`warning: ${warning}\n`)
    return
  }
  await serve(config, file)
}

/** A listener that cannot bind (port taken, privileged port): one line, not a stack trace. */
function listenFailure (err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException & { address?: string, port?: number }
  if (e?.syscall !== 'listen' && e?.syscall !== 'bind') return undefined
  const where = e.address !== undefined ? `${e.address.includes(':') ? `[${e.address}]` : e.address}:${String(e.port)}` : 'the configured address'
  const why = e.code === 'EADDRINUSE'
    ? 'the address is already in use (EADDRINUSE): another process listens there, or listen and admin.listen name the same port'
    : e.code === 'EACCES' ? 'permission denied (EACCES): ports below 1024 need privileges' : `${String(e.code)}`
  return `gatehouse: cannot listen on ${where}: ${why}`
}

main(process.argv.slice(2)).catch((err: unknown) => {
  fail(listenFailure(err) ?? `gatehouse: ${(err as Error)?.stack ?? String(err)}`)
})
