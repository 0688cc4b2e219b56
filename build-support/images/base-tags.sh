# Tags of the base images, derived from their definitions (sourced by ./pants and base-images.sh):
# a tag changes exactly when a package list or the way images are built changes.
uo_base_tag() {
  local name="$1" buildroot="$2"
  cat "${buildroot}/src/docker/base/${name}"/* "${buildroot}/build-support/images/base-images.sh" \
    "${buildroot}/build-support/images/runtime-only.sh" \
    | sha256sum | cut -c1-16
}
