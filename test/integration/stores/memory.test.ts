import { storeSuite } from './suite.js'

storeSuite('memory')
