// Rendered Kubernetes manifests (multi-document YAML on stdin), for the chart's tests.
//   node manifests.mjs <node_modules directory> validate < manifests.yaml
//     checks every object against the API schemas of the npm packages kubernetes-models and
//     @kubernetes-models/prometheus-operator; prints "ok Kind/name" or "invalid Kind/name: reason" per object
//     and exits 1 when any object is invalid or of an unknown kind.
//   node manifests.mjs <node_modules directory> json < manifests.yaml
//     prints the objects as one JSON array (the .NET tests have no YAML parser).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, command] = process.argv.slice(2);
const { parseAllDocuments } = await import(pathToFileURL(join(modules, "yaml", "dist", "index.js")).href);
const documents = parseAllDocuments(readFileSync(0, "utf8"));

if (command === "json") {
  const broken = documents.find((document) => document.errors.length > 0);
  if (broken) {
    console.error(`invalid YAML: ${broken.errors[0].message}`);
    process.exit(1);
  }
  console.log(JSON.stringify(documents.map((document) => document.toJS()).filter((object) => object != null)));
  process.exit(0);
}

function packageFor(apiVersion) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "monitoring.coreos.com") {
    return join(modules, "@kubernetes-models", "prometheus-operator", group, version, "index.js");
  }
  return join(modules, "kubernetes-models", ...(group ? [group, version] : [version]), "index.js");
}

let failures = 0;
for (const document of documents) {
  if (document.errors.length > 0) {
    console.log(`invalid YAML: ${document.errors[0].message}`);
    failures++;
    continue;
  }
  const object = document.toJS();
  if (object === null || object === undefined) {
    continue;
  }
  const name = `${object.kind}/${object.metadata?.name}`;
  try {
    const models = await import(pathToFileURL(packageFor(object.apiVersion)).href);
    const Model = models[object.kind];
    if (!Model) {
      throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
    }
    new Model(object).validate();
    console.log(`ok ${name}`);
  } catch (error) {
    console.log(`invalid ${name}: ${error.message.replace(/\s+/g, " ")}`);
    failures++;
  }
}
process.exit(failures > 0 ? 1 : 0);
