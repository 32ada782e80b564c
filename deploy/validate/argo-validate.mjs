// Validate Argo Rollouts objects against the schemas bundled in @kubernetes-models/argo-rollouts.
// Input (stdin): a JSON array of manifests. Output (stdout): a JSON array with, per manifest,
// a list of errors {path, message} (empty when valid). Run by deploy/validate_manifests.py.
import { readFileSync } from "node:fs";
import { AnalysisTemplate } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate";
import { Rollout } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout";

const models = { AnalysisTemplate, Rollout };
const documents = JSON.parse(readFileSync(0, "utf8"));
const results = documents.map((doc) => {
  const Model = models[doc.kind];
  if (doc.apiVersion !== "argoproj.io/v1alpha1" || !Model) {
    return [{ path: "/kind", message: `no schema for ${doc.apiVersion} ${doc.kind}` }];
  }
  try {
    new Model(doc).validate();
    return [];
  } catch (err) {
    const errors = err.errors ?? [{ instancePath: "", message: String(err.message) }];
    return errors.map((e) => ({ path: e.instancePath ?? "", message: e.message ?? String(e) }));
  }
});
process.stdout.write(JSON.stringify(results));
