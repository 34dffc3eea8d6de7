// oidc-provider ships no type declarations; it is used only by the demo and the tests.
declare module 'oidc-provider' {
  const Provider: any
  export default Provider
  export const errors: any
  export const interactionPolicy: any
}
