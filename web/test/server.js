'use strict';
// The web tests start the server exactly as the conformance suite does.
module.exports = require('../../conformance/lib/server.js');
