# %% [markdown]
# # Exercises: model artefacts
#
# Save, reload and verify the book's pipeline, then load an artefact only after checking
# its hash. Run the set-up cell first.

# %%
import hashlib
import hmac
import io
import os
import shutil
import tempfile
import time

import joblib
import numpy as np

from mlops_companion import checks, data

scenario = data.make_scenario()
workdir = tempfile.mkdtemp(prefix="artefacts-")

# %% [markdown] exercise="save-load-verify"
# ## Save, load, verify, measure
#
# Write `save_load_verify(model, X, directory)`: save `model` with joblib into
# `directory`, load it back, and return a dict with `path` (the file), `size_bytes` (its
# size on disk), `load_seconds` (how long loading took) and `identical` (whether the
# loaded model's predictions on `X` equal the original's). Run it on the book's pipeline.
# Then: how would you make the artefact smaller for a device with little memory or
# storage?

# %%
def save_load_verify(model, X, directory):
    """Round-trip `model` through a joblib file and report size, load time and fidelity."""
    # BEGIN SOLUTION
    path = os.path.join(directory, "model.joblib")
    joblib.dump(model, path)
    start = time.perf_counter()
    loaded = joblib.load(path)
    load_seconds = time.perf_counter() - start
    identical = bool(np.array_equal(model.predict(X), loaded.predict(X)))
    return {"path": path, "size_bytes": os.path.getsize(path),
            "load_seconds": load_seconds, "identical": identical}
    # END SOLUTION


# %%
checks.check_save_load_verify(save_load_verify)

# %%
# BEGIN SOLUTION
info = save_load_verify(scenario.pipeline, scenario.X_test, workdir)
print(f"{info['size_bytes'] / 1024:.0f} KiB, identical predictions: {info['identical']}, "
      f"loaded in under a second: {info['load_seconds'] < 1}")

# Smaller artefacts: compress the file, or fit a smaller model and check what it costs.
for level in [0, 3, 9]:
    path = os.path.join(workdir, f"model-z{level}.joblib")
    joblib.dump(scenario.pipeline, path, compress=level)
    print(f"compress={level}: {os.path.getsize(path) / 1024:.0f} KiB")
small = data.make_pipeline().set_params(model__n_estimators=40, model__max_depth=3)
small.fit(scenario.X_train, scenario.y_train)
os.makedirs(os.path.join(workdir, "small"), exist_ok=True)
small_info = save_load_verify(small, scenario.X_test, os.path.join(workdir, "small"))
print(f"40 shallower trees: {small_info['size_bytes'] / 1024:.0f} KiB, "
      f"accuracy {small.score(scenario.X_test, scenario.y_test):.3f} vs "
      f"{scenario.pipeline.score(scenario.X_test, scenario.y_test):.3f}")
# END SOLUTION

# %% [markdown] tags=["solution"]
# The size of a tree ensemble grows with the number of trees and nodes, so the first
# levers are the model's own: fewer, shallower trees, validated against the gate before
# they ship. Compression shrinks the file on disk (not the model in memory) at the price
# of a slower load. Beyond that: store parameters as 32-bit floats, distil into a
# smaller model, or export to a compact runtime format such as ONNX.

# %% [markdown] exercise="hash-verified-loading"
# ## Load only what you meant to load
#
# Unpickling runs code, so a loader must check an artefact *before* opening it. Write
# `load_verified(path, *, expected_sha256)`: read the file, compare its SHA-256 with
# `expected_sha256`, raise `ValueError` (or a subclass) on a mismatch without unpickling
# anything, and return the loaded object otherwise.

# %%
class IntegrityError(ValueError):
    """The artefact's bytes are not the ones that were recorded."""


def load_verified(path, *, expected_sha256):
    """Load a joblib artefact only if its SHA-256 matches `expected_sha256`."""
    # BEGIN SOLUTION
    with open(path, "rb") as handle:
        payload = handle.read()
    digest = hashlib.sha256(payload).hexdigest()
    if not hmac.compare_digest(digest, expected_sha256.lower()):
        raise IntegrityError(
            f"`{path}` has SHA-256 {digest[:12]}..., expected {expected_sha256[:12]}...; "
            "refusing to unpickle it. Re-download the artefact or check the registry entry.")
    return joblib.load(io.BytesIO(payload))  # the bytes we hashed, not a second read
    # END SOLUTION


# %%
checks.check_load_verified(load_verified)

# %% tags=["solution"]
with open(info["path"], "rb") as handle:
    recorded = hashlib.sha256(handle.read()).hexdigest()
model = load_verified(info["path"], expected_sha256=recorded)
print("loaded:", type(model).__name__)
with open(info["path"], "ab") as handle:
    handle.write(b"tampered")
try:
    load_verified(info["path"], expected_sha256=recorded)
except IntegrityError as error:
    print("refused:", type(error).__name__)

# %%
# Tidy up: remove the temporary folder the exercises wrote into.
shutil.rmtree(workdir, ignore_errors=True)
