import { storeSuite } from './suite.js'

storeSuite('cookie')
