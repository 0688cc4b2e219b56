# Versions of the build toolchain, in one place (sourced by ./pants and the bootstrap).
UO_PANTS_VERSION="2.17.1"
# The pex CLI Pants 2.17.1 expects; built from PyPI because its default source is a release page.
UO_PEX_VERSION="2.1.137"
# What Pex needs to run pip itself inside a resolve ([python] pip_version = 23.1.2 in Pants 2.17).
UO_PEX_PIP_WHEELS=("pip==23.1.2" "setuptools==67.7.2" "wheel==0.40.0")
# The interpreter the code (and the base images) run on.
UO_CODE_PYTHON_VERSION="3.11"
