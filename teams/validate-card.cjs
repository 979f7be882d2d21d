// Validate Adaptive Cards with Microsoft's own library (the npm package `adaptivecards`):
//   node teams/validate-card.cjs teams/ticket-card.json [more.json ...]
// Prints one JSON line per card {file, version, problems} and exits 1 if any card has problems.
// The package's lib/ build is not loadable by Node; its UMD bundle in dist/ is.
"use strict";
const fs = require("fs");
const AC = require("adaptivecards/dist/adaptivecards.js");

function problemsOf(json) {
  const card = new AC.AdaptiveCard();
  const context = new AC.SerializationContext();
  card.parse(json, context);
  const problems = [];
  for (let i = 0; i < context.eventCount; i++) {
    const event = context.getEventAt(i);
    problems.push(`parse: ${event.message}`);
  }
  for (const event of card.validateProperties().validationEvents) {
    problems.push(`validate: ${event.message}`);
  }
  return { version: card.version ? card.version.toString() : null, problems };
}

let failed = false;
for (const file of process.argv.slice(2)) {
  const { version, problems } = problemsOf(JSON.parse(fs.readFileSync(file, "utf8")));
  console.log(JSON.stringify({ file, version, problems }));
  failed = failed || problems.length > 0;
}
process.exit(failed ? 1 : 0);
