import { configFile } from './file.js'
import type { JsonSchema } from './fields.js'

/**
 * The JSON Schema (draft 2020-12) of the YAML file, for editors
 * (`# yaml-language-server: $schema=...`). Generated from the same field
 * definitions that validate the file, so the two cannot drift. Cross-field
 * rules (a route's provider exists, secrets are strong, ...) are only checked
 * by `gatehouse check`.
 */
export function configSchema (): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Gatehouse configuration',
    ...configFile.schema,
  }
}
