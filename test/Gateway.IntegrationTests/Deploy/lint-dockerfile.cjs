// Lints the Dockerfile read from standard input with dockerfile-utils (the validator behind the VS Code Docker
// extension) and prints one line per diagnostic: "line:column code message". Every check that the validator can
// treat as a warning or ignore is raised to an error here, so a clean run means no diagnostics at all.
// Used by DockerfileTests.cs; node finds dockerfile-utils through NODE_PATH.
'use strict';
const { validate, ValidationSeverity } = require('dockerfile-utils');

const strict = {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR,
};

let content = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', chunk => { content += chunk; });
process.stdin.on('end', () => {
  const diagnostics = validate(content, strict);
  for (const d of diagnostics) {
    console.log(`${d.range.start.line + 1}:${d.range.start.character + 1} ${d.code} ${d.message}`);
  }
  process.exitCode = diagnostics.length === 0 ? 0 : 1;
});
