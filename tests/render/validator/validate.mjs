// Validates every object of `sbx render kubernetes` output offline: core kinds against the
// Kubernetes OpenAPI schemas (kubernetes-models), the agent-sandbox Sandbox against
// sandbox.schema.json plus its pod spec against the core PodSpec schema.
//   node validate.mjs FILE.yaml...      exit 0 when every document of every file is valid
//   node validate.mjs --self-test       proves broken manifests are refused
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
import Ajv from "ajv";
import { ConfigMap, Pod, PodSpec } from "kubernetes-models/v1";
import { Job } from "kubernetes-models/batch/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1";
import { ObjectMeta } from "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta";

const here = dirname(fileURLToPath(import.meta.url));
const sandboxSchema = JSON.parse(readFileSync(join(here, "sandbox.schema.json"), "utf8"));
const validateSandbox = new Ajv({ allErrors: true, strict: true }).compile(sandboxSchema);

const core = {
  "v1/ConfigMap": ConfigMap,
  "v1/Pod": Pod,
  "batch/v1/Job": Job,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy": ValidatingAdmissionPolicy,
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding": ValidatingAdmissionPolicyBinding,
};



function validateDoc(doc) {
  if (!doc || typeof doc !== "object") throw new Error("not an object");
  const key = `${doc.apiVersion}/${doc.kind}`;
  if (key === "agents.x-k8s.io/v1beta1/Sandbox") {
    if (!validateSandbox(doc)) throw new Error(JSON.stringify(validateSandbox.errors));
    new ObjectMeta(doc.metadata).validate();
    new PodSpec(doc.spec.podTemplate.spec).validate();
    return;
  }
  const Model = core[key];
  if (!Model) throw new Error(`no schema for ${key}`);
  new Model(doc).validate();
}

function validateFile(file) {
  const docs = yaml.loadAll(readFileSync(file, "utf8"));
  if (docs.length === 0) throw new Error(`${file}: no documents`);
  docs.forEach((d, i) => {
    try {
      validateDoc(d);
    } catch (e) {
      throw new Error(`${file}: document ${i + 1} (${d && d.kind} ${d && d.metadata && d.metadata.name}): ${e.message}`);
    }
  });
  return docs.length;
}

function selfTest() {
  const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "x" }, spec: { containers: [{ name: "a", image: "i" }] } };
  const broken = [
    ["a Pod without containers", { ...pod, spec: {} }],
    ["a container port as a string", { ...pod, spec: { containers: [{ name: "a", image: "i", ports: [{ containerPort: "80" }] }] } }],
    ["a Sandbox with an unknown spec field", { apiVersion: "agents.x-k8s.io/v1beta1", kind: "Sandbox", metadata: { name: "x" }, spec: { podTemplate: { spec: pod.spec }, replicas: 2 } }],
    ["a Sandbox whose pod spec has a bad type", { apiVersion: "agents.x-k8s.io/v1beta1", kind: "Sandbox", metadata: { name: "x" }, spec: { podTemplate: { spec: { containers: "agent" } } } }],
    ["a NetworkPolicy with a bad policyTypes", { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "x" }, spec: { podSelector: {}, policyTypes: "Egress" } }],
  ];
  validateDoc(pod);
  for (const [what, doc] of broken) {
    let refused = false;
    try { validateDoc(doc); } catch { refused = true; }
    if (!refused) throw new Error(`self-test: ${what} was accepted`);
  }
  console.log(`self-test: a valid Pod passes, ${broken.length} broken manifests are refused`);
}

try {
  const args = process.argv.slice(2);
  if (args[0] === "--self-test") selfTest();
  else {
    if (args.length === 0) throw new Error("usage: node validate.mjs FILE.yaml...");
    let n = 0;
    for (const f of args) n += validateFile(f);
    console.log(`${n} objects in ${args.length} files are valid`);
  }
} catch (e) {
  console.error(e.message);
  process.exit(1);
}
