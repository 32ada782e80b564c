"""Validate Kubernetes and Argo Rollouts manifests offline; report errors as file:line.

    python deploy/validate_manifests.py deploy/k8s/*.yaml

Built-in kinds are checked with kubernetes-validate (PyPI; bundles the Kubernetes JSON
schemas) in strict mode (unknown fields are errors) against ``--kubernetes-version``;
``argoproj.io`` kinds with the schemas of the npm package @kubernetes-models/argo-rollouts
(``deploy/validate/argo-validate.mjs``; ``npm ci --prefix deploy/validate`` installs it).
Each error names the file, the line of the offending field, the object and the field's
path. Exit status 0 when everything is valid, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
NODE_VALIDATOR = HERE / "validate" / "argo-validate.mjs"
KUBERNETES_VERSION = "1.33.0"


def _load(path: Path) -> list[tuple[dict, yaml.Node]]:
    """Each document of ``path`` with its node (which knows the line of every field)."""
    text = path.read_text(encoding="utf-8")
    out = []
    for node in yaml.compose_all(text, Loader=yaml.SafeLoader):
        if node is None:
            continue
        out.append((_construct(node), node))
    return out


def _construct(node: yaml.Node) -> dict:
    loader = yaml.SafeLoader("")
    return loader.construct_document(node)


def _line_of(node: yaml.Node, path: list) -> int:
    """1-based line of the deepest node of ``node`` reachable along ``path``."""
    for key in path:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == str(key)), None)
            if found is None:
                break
            node = found
        elif isinstance(node, yaml.SequenceNode) and str(key).isdigit() and int(key) < len(node.value):
            node = node.value[int(key)]
        else:
            break
    return node.start_mark.line + 1


def _name(doc: dict) -> str:
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"


def validate_files(paths: list[Path], *, kubernetes_version: str = KUBERNETES_VERSION,
                   node_executable: str = "node") -> tuple[list[str], list[str]]:
    """(errors, checked) as text lines; errors read ``file:line: Kind/name: path: message``."""
    import kubernetes_validate

    errors, checked, argo = [], [], []
    for path in paths:
        try:
            docs = _load(path)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else 1
            errors.append(f"{path}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}")
            continue
        for doc, tree in docs:
            if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
                errors.append(f"{path}:{tree.start_mark.line + 1}: a manifest must be a mapping with "
                              "apiVersion and kind")
                continue
            if doc["apiVersion"].startswith("argoproj.io/"):
                argo.append((path, doc, tree))
                continue
            try:
                kubernetes_validate.validate(doc, kubernetes_version, strict=True)
                checked.append(f"{path}: {_name(doc)} valid (Kubernetes {kubernetes_version}, strict)")
            except kubernetes_validate.ValidationError as exc:
                where = list(exc.absolute_path)
                if exc.validator == "additionalProperties":  # point at the unexpected key itself
                    extra = [k for k in (exc.instance or {}) if k in exc.message]
                    where += extra[:1]
                line = _line_of(tree, where)
                field = ".".join(str(p) for p in where) or "(top level)"
                errors.append(f"{path}:{line}: {_name(doc)}: {field}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError:
                errors.append(f"{path}:{tree.start_mark.line + 1}: {_name(doc)}: no schema for "
                              f"{doc['apiVersion']} {doc['kind']} in Kubernetes {kubernetes_version}")
    if argo:
        proc = subprocess.run([node_executable, str(NODE_VALIDATOR)], input=json.dumps([d for _, d, _ in argo]),
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{NODE_VALIDATOR} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}\n"
                               f"Install it with `npm ci --prefix {NODE_VALIDATOR.parent}`.")
        for (path, doc, tree), problems in zip(argo, json.loads(proc.stdout)):
            if not problems:
                checked.append(f"{path}: {_name(doc)} valid (@kubernetes-models/argo-rollouts schema)")
            for p in problems:
                where = [s for s in p["path"].split("/") if s]
                field = ".".join(where) or "(top level)"
                errors.append(f"{path}:{_line_of(tree, where)}: {_name(doc)}: {field}: {p['message']}")
    return errors, checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    args = parser.parse_args(argv)
    errors, checked = validate_files(args.files, kubernetes_version=args.kubernetes_version)
    for line in checked:
        print(line)
    for line in errors:
        print(line, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
