#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { serve } from './cli-run.js'
import { loadConfigFile } from './config/load.js'
import type { Config } from './config/types.js'
import { configWarnings } from './config/validate.js'
import { ConfigError } from './errors.js'

const USAGE = `Usage:
  gatehouse --config path/to/gatehouse.yaml          run the gateway
  gatehouse check --config path/to/gatehouse.yaml    validate the config, print problems, exit 0/1

The config path may also come from GATEHOUSE_CONFIG.`

function fail (message: string): never {
  process.stderr.write(message.endsWith('\n') ? message : message + '\n')
  process.exit(1)
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
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } })
  } catch (err) {
    fail(`${(err as Error).message}\n\n${USAGE}`)
  }
  if (parsed.values.help === true) { process.stdout.write(USAGE + '\n'); return }
  const [command, ...rest] = parsed.positionals
  if (rest.length > 0 || (command !== undefined && command !== 'check' && command !== 'run')) fail(`unknown command: ${parsed.positionals.join(' ')}\n\n${USAGE}`)
  const file = parsed.values.config ?? process.env.GATEHOUSE_CONFIG
  if (file === undefined || file === '') fail(`no configuration: pass --config FILE or set GATEHOUSE_CONFIG\n\n${USAGE}`)
  const config = readConfig(file)
  if (command === 'check') {
    process.stdout.write(`${file}: OK (${config.providers.length} provider${config.providers.length === 1 ? '' : 's'}, ${config.routes.length} route${config.routes.length === 1 ? '' : 's'}, ${config.session.store} sessions)\n`)
    for (const warning of configWarnings(config)) process.stderr.write(`warning: ${warning}\n`)
    return
  }
  await serve(config, file)
}

main(process.argv.slice(2)).catch((err: unknown) => {
  fail(`gatehouse: ${(err as Error)?.stack ?? String(err)}`)
})
