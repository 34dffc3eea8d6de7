import { storeSuite } from './suite.js'

storeSuite('redis')
