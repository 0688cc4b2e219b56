"""Run inside base-python's root filesystem once it is cut down (base-images.sh): every compiled
standard-library module imports and every library kept for wheels loads, or the build fails."""

import ctypes
import importlib
import pathlib
import ssl

for module in sorted(pathlib.Path("/usr/lib/python3.11/lib-dynload").glob("*.so")):
    importlib.import_module(module.name.split(".", 1)[0])
for library in ("libgcc_s.so.1", "libstdc++.so.6", "libz.so.1", "libresolv.so.2"):
    ctypes.CDLL(library)
assert ssl.create_default_context().cert_store_stats()["x509_ca"] > 0, "no CA certificates"
print("[runtime-only] base-python imports its compiled modules and loads its libraries")
